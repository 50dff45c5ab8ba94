import Foundation
import PBTConfig
import PBTCore
import PBTWorkloads
import Testing

/// The a2c workload: it learns CartPole, a checkpoint continues its trajectory bit for bit,
/// an exploited copy goes its own way, held-out episodes score it, and bad checkpoints and
/// settings are refused.
@Suite("a2c workload")
struct A2CWorkloadTests {
    static func experiment(
        _ workload: String = "{kind: a2c, environment: CartPole-v1}",
        space: String = "lr: {log_uniform: [1.0e-4, 1.0e-2]}"
    ) throws -> Experiment {
        try Experiment.parse(
            yaml: """
                name: a2c-test
                seed: 3
                workload: \(workload)
                population: 2
                stop: {max_steps: 10}
                hyperparameters:
                  \(space)
                """)
    }

    static func make(_ workload: String = "{kind: a2c, environment: CartPole-v1}") throws -> any Workload {
        try Workloads.make(for: try experiment(workload))
    }

    static let hyperparameters = Hyperparameters(["lr": .real(0.001)])

    static func request(member: Int = 0, step: Int, steps: Int, seed: UInt64 = 11) -> TrainingRequest {
        TrainingRequest(member: member, step: step, steps: steps, hyperparameters: hyperparameters, seed: seed)
    }

    @Test func cartPoleIsLearnedWellAboveChance() throws {
        let a2c = try Self.make()
        let start = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        let before = try a2c.evaluate(state: start, hyperparameters: Self.hyperparameters)
        let outcome = try a2c.train(Self.request(step: 0, steps: 200), from: start) { _ in true }
        let after = try a2c.evaluate(state: outcome.state, hyperparameters: Self.hyperparameters)
        #expect(outcome.stepsDone == 200)
        #expect(outcome.metrics["frames"] == Double(200 * 8 * 16))
        #expect((outcome.metrics["episodes"] ?? 0) > 100)
        // A random policy balances about 20 steps; 200 updates (25,600 frames) go far beyond.
        #expect((before["validation_return"] ?? 0) < 60, "\(before)")
        #expect((after["validation_return"] ?? 0) > 150, "\(after)")
        #expect(after["score"] == after["validation_return"])
        #expect((after["test_return"] ?? 0) > 0 && (after["test_return"] ?? 0) <= 500)
    }

    @Test func aCheckpointContinuesTheSameTrajectoryBitForBit() throws {
        let a2c = try Self.make()
        let start = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        let whole = try a2c.train(Self.request(step: 0, steps: 12), from: start) { _ in true }
        let first = try a2c.train(Self.request(step: 0, steps: 5), from: start) { _ in true }
        let second = try a2c.train(Self.request(step: 5, steps: 7), from: first.state) { _ in true }
        #expect(second.state == whole.state)
        #expect(second.metrics["episode_return"] == whole.metrics["episode_return"])
        // Stopped at a step boundary, it goes on from there the same way.
        let stopped = try a2c.train(Self.request(step: 0, steps: 12), from: start) { $0 < 5 }
        #expect(stopped.stepsDone == 5 && stopped.state == first.state)
    }

    @Test func anExploitedCopyDrawsFromItsOwnSeed() throws {
        let a2c = try Self.make()
        let donor = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        let trained = try a2c.train(Self.request(step: 0, steps: 3), from: donor) { _ in true }
        let donorGoesOn = try a2c.train(Self.request(member: 0, step: 3, steps: 3), from: trained.state) { _ in true }
        let copyGoesOn = try a2c.train(Self.request(member: 1, step: 3, steps: 3, seed: 12), from: trained.state) { _ in
            true
        }
        let copyAgain = try a2c.train(Self.request(member: 1, step: 3, steps: 3, seed: 12), from: trained.state) { _ in
            true
        }
        #expect(copyGoesOn.state != donorGoesOn.state)
        #expect(copyGoesOn.state == copyAgain.state)
    }

    /// A replay trains one member with the seeds of each member that trained the weights in
    /// the original (`seed_of`): its steps after a hand-over must be the original's, bit for
    /// bit. (The generator was named by member id, so a replay, one member throughout, went on
    /// with the donor's draws where the original had switched to the copier's.)
    @Test func aReplayWithTheCopiersSeedRetrainsTheCopyBitForBit() throws {
        let a2c = try Self.make()
        // The original: member 5 trains 0…3, member 2 copies it and trains 3…6.
        let donorStart = try a2c.initialState(member: 5, seed: 55, hyperparameters: Self.hyperparameters)
        let donor = try a2c.train(Self.request(member: 5, step: 0, steps: 3, seed: 55), from: donorStart) { _ in true }
        let copy = try a2c.train(Self.request(member: 2, step: 3, steps: 3, seed: 22), from: donor.state) { _ in true }
        // The replay: member 0 throughout, with member 5's seed then member 2's.
        let replayStart = try a2c.initialState(member: 0, seed: 55, hyperparameters: Self.hyperparameters)
        let first = try a2c.train(Self.request(member: 0, step: 0, steps: 3, seed: 55), from: replayStart) { _ in
            true
        }
        #expect(first.state == donor.state)
        let second = try a2c.train(Self.request(member: 0, step: 3, steps: 3, seed: 22), from: first.state) { _ in
            true
        }
        #expect(second.state == copy.state)
        #expect(second.metrics == copy.metrics)
    }

    /// A version-1 checkpoint (the generator named by member id) still loads and goes on: its
    /// own member continues its draws, another member draws from its own seed.
    @Test func aVersionOneCheckpointStillLoads() throws {
        let a2c = try Self.make()
        let start = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        let trained = try a2c.train(Self.request(step: 0, steps: 2), from: start) { _ in true }
        let v1 = try Self.versionOne(trained.state, member: 0)
        let own = try a2c.train(Self.request(member: 0, step: 2, steps: 2), from: v1) { _ in true }
        let ownNow = try a2c.train(Self.request(member: 0, step: 2, steps: 2), from: trained.state) { _ in true }
        #expect(own.state == ownNow.state)
        let other = try a2c.train(Self.request(member: 1, step: 2, steps: 2, seed: 12), from: v1) { _ in true }
        let otherNow = try a2c.train(Self.request(member: 1, step: 2, steps: 2, seed: 12), from: trained.state) { _ in
            true
        }
        #expect(other.state == otherNow.state)
    }

    /// `state` (version 2) written as version 1 was: member, frames, episodes and Adam's steps,
    /// then the generator, without the seed.
    static func versionOne(_ state: [UInt8], member: Int) throws -> [UInt8] {
        let codec = CheckpointCodec(magic: "PBTR", version: 2)
        var payload = try codec.open(state)
        // After shape (3), widths (2 for 64-64) and the environment count: 6 integers of 8 bytes.
        let countersAt = 6 * 8
        var memberWord: [UInt8] = []
        for shift in stride(from: 0, to: 64, by: 8) { memberWord.append(UInt8(truncatingIfNeeded: member >> shift)) }
        payload.removeSubrange((countersAt + 24)..<(countersAt + 32))  // the seed
        payload.insert(contentsOf: memberWord, at: countersAt)
        return CheckpointCodec(magic: "PBTR", version: 1).seal(payload)
    }

    @Test func heldOutEpisodesAreDeterministicAndAcrobotScoresNegative() throws {
        let a2c = try Self.make("{kind: a2c, environment: Acrobot-v1, validation_episodes: 4, test_episodes: 4}")
        let start = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        let first = try a2c.evaluate(state: start, hyperparameters: Self.hyperparameters)
        let second = try a2c.evaluate(state: start, hyperparameters: Self.hyperparameters)
        #expect(first == second)
        #expect((first["validation_return"] ?? 0) >= -500 && (first["validation_return"] ?? 0) <= 0)
        let outcome = try a2c.train(Self.request(step: 0, steps: 2), from: start) { _ in true }
        #expect(outcome.metrics["frames"] == Double(2 * 8 * 16))
    }

    @Test func checkpointsThatAreNotItsOwnAreRefused() throws {
        let a2c = try Self.make()
        let state = try a2c.initialState(member: 0, seed: 11, hyperparameters: Self.hyperparameters)
        for bad in [[], Array(state.prefix(state.count / 2)), state.map { $0 ^ 0x55 }] {
            #expect(throws: (any Error).self) { try a2c.evaluate(state: bad, hyperparameters: Self.hyperparameters) }
        }
        let acrobot = try Self.make("{kind: a2c, environment: Acrobot-v1}")
        #expect(throws: (any Error).self) { try acrobot.evaluate(state: state, hyperparameters: Self.hyperparameters) }
        let wider = try Self.make("{kind: a2c, environment: CartPole-v1, hidden: [32]}")
        #expect(throws: (any Error).self) { try wider.evaluate(state: state, hyperparameters: Self.hyperparameters) }
    }

    @Test(arguments: [
        ("{kind: a2c, environment: Pong-v5}", "workload.environment"),
        ("{kind: a2c, environments: 0}", "workload.environments"),
        ("{kind: a2c, hidden: []}", "workload.hidden"),
        ("{kind: a2c, gamma: 1.5}", "workload.gamma"),
        ("{kind: a2c, batch_size: 4}", "unknown field 'batch_size'"),
    ])
    func badSettingsNameTheField(_ workload: String, _ mention: String) {
        do {
            _ = try Self.make(workload)
            Issue.record("\(workload) was accepted")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
        }
    }

    @Test func aHyperparameterItDoesNotReadIsRefused() {
        do {
            _ = try Workloads.make(for: try Self.experiment(space: "momentum: {uniform: [0, 1]}"))
            Issue.record("momentum was accepted")
        } catch {
            #expect("\(error)".contains("needs 'lr'"), "\(error)")
        }
        do {
            _ = try Workloads.make(
                for: try Self.experiment(space: "lr: {log_uniform: [1.0e-4, 1.0e-2]}\n  momentum: {uniform: [0, 1]}"))
            Issue.record("momentum was accepted")
        } catch {
            #expect("\(error)".contains("hyperparameters.momentum"), "\(error)")
        }
    }
}
