import Foundation
import PBTConfig
import PBTCore
import PBTWorkloads
import Testing

/// The mlp workload: it learns, its split is deterministic, and its checkpoints refuse
/// anything that is not exactly its own.
@Suite("mlp workload")
struct MLPWorkloadTests {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("topologies/data/digits.csv").path
    static let dataset = try? DigitsDataset(path: data, seed: 2)
    static let hyperparameters = Hyperparameters([
        "lr": .real(0.1), "momentum": .real(0.9), "weight_decay": .real(1e-5), "batch_size": .integer(32),
    ])

    func workload(hidden: [Int] = [32]) throws -> MLPWorkload {
        MLPWorkload(dataset: try #require(Self.dataset), hidden: hidden)
    }

    @Test func theSplitIsDeterministicAndDisjointlySized() throws {
        let a = try DigitsDataset(path: Self.data, seed: 2)
        let b = try DigitsDataset(path: Self.data, seed: 2)
        let c = try DigitsDataset(path: Self.data, seed: 3)
        #expect(a.train.count + a.validation.count + a.test.count == 1797)
        #expect(a.validation.count == 359 && a.test.count == 359)
        #expect(a.validation.labels == b.validation.labels && a.validation.inputs == b.validation.inputs)
        #expect(a.validation.labels != c.validation.labels)
        #expect(a.train.inputs.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func trainingRaisesValidationAccuracyFarAboveChance() throws {
        let mlp = try workload()
        let start = try mlp.initialState(member: 0, seed: 5, hyperparameters: Self.hyperparameters)
        let before = try mlp.evaluate(state: start, hyperparameters: Self.hyperparameters)
        let outcome = try mlp.train(
            TrainingRequest(member: 0, step: 0, steps: 300, hyperparameters: Self.hyperparameters, seed: 5), from: start
        ) { _ in true }
        #expect(outcome.stepsDone == 300)
        #expect((before["score"] ?? 1) < 0.4)
        #expect((outcome.metrics["score"] ?? 0) > 0.9, "\(outcome.metrics)")
        #expect(outcome.metrics["test_accuracy"] != nil && outcome.metrics["train_loss"] != nil)
        // Measuring the saved state gives the same figures as training reported.
        #expect(
            try mlp.evaluate(state: outcome.state, hyperparameters: Self.hyperparameters)["score"]
                == outcome.metrics["score"])
    }

    @Test func trainingIsDeterministicForASeedAndStopsWhenAsked() throws {
        let mlp = try workload()
        let start = try mlp.initialState(member: 0, seed: 5, hyperparameters: Self.hyperparameters)
        let request = TrainingRequest(member: 0, step: 0, steps: 20, hyperparameters: Self.hyperparameters, seed: 5)
        let a = try mlp.train(request, from: start) { _ in true }
        let b = try mlp.train(request, from: start) { _ in true }
        let same = a.state == b.state
        #expect(same)
        let stopped = try mlp.train(request, from: start) { done in done < 7 }
        #expect(stopped.stepsDone == 7)
    }

    @Test func aCheckpointSurvivesARoundTripAndTrainingGoesOnFromIt() throws {
        let mlp = try workload()
        let start = try mlp.initialState(member: 0, seed: 5, hyperparameters: Self.hyperparameters)
        let first = try mlp.train(
            TrainingRequest(member: 0, step: 0, steps: 10, hyperparameters: Self.hyperparameters, seed: 5), from: start
        ) { _ in true }
        let whole = try mlp.train(
            TrainingRequest(member: 0, step: 0, steps: 20, hyperparameters: Self.hyperparameters, seed: 5), from: start
        ) { _ in true }
        let second = try mlp.train(
            TrainingRequest(member: 0, step: 10, steps: 10, hyperparameters: Self.hyperparameters, seed: 5),
            from: first.state
        ) { _ in true }
        // Ten steps, a checkpoint, ten more: exactly twenty steps in one go (momentum included).
        let same = second.state == whole.state
        #expect(same)
    }

    static func refusal(_ state: [UInt8], by mlp: MLPWorkload) -> String? {
        do {
            _ = try mlp.evaluate(state: state, hyperparameters: hyperparameters)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func damagedTruncatedAndForeignCheckpointsAreRefused() throws {
        let mlp = try workload()
        let good = try mlp.initialState(member: 0, seed: 5, hyperparameters: Self.hyperparameters)
        var flipped = good
        flipped[flipped.count / 2] ^= 0x40
        #expect(Self.refusal(flipped, by: mlp)?.contains("checksum") == true)
        #expect(Self.refusal(Array(good.prefix(good.count - 9)), by: mlp) != nil)
        #expect(Self.refusal(Array(good.prefix(3)), by: mlp)?.contains("too short") == true)
        let toy = try ToyWorkload().initialState(member: 0, seed: 1, hyperparameters: Hyperparameters())
        #expect(Self.refusal(toy, by: mlp)?.contains("not a MLP1 checkpoint") == true)
        // A checkpoint of another network shape is refused, naming both shapes.
        let other = try workload(hidden: [16]).initialState(member: 0, seed: 5, hyperparameters: Self.hyperparameters)
        let message = try #require(Self.refusal(other, by: mlp))
        #expect(message.contains("[64, 16, 10]") && message.contains("[64, 32, 10]"), "\(message)")
        var versioned = good
        versioned[4] = 9
        #expect(Self.refusal(versioned, by: mlp)?.contains("format version 9") == true)
    }

    @Test func anExperimentChecksTheHyperparametersItDeclares() throws {
        func make(_ hyperparameters: String, workload: String = "{kind: mlp, data: \(Self.data)}") throws -> String? {
            let experiment = try Experiment.parse(
                yaml: """
                    name: mlp
                    workload: \(workload)
                    population: 2
                    stop: {max_steps: 10}
                    hyperparameters: \(hyperparameters)
                    """)
            do {
                _ = try Workloads.make(for: experiment)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(try make("{lr: {log_uniform: [0.001, 0.1]}}") == nil)
        #expect(try make("{momentum: {uniform: [0, 0.9]}}")?.contains("needs 'lr'") == true)
        #expect(
            try make("{lr: {log_uniform: [0.001, 0.1]}, dropout: {uniform: [0, 0.5]}}")?.contains(
                "hyperparameters.dropout") == true)
        #expect(
            try make("{lr: {log_uniform: [0.001, 0.1]}}", workload: "{kind: mlp, data: /nonexistent/digits.csv}")?
                .contains("workload.data") == true)
    }

    @Test func itsBLASThreadsAreOneWithinABudgetUnlessTheExperimentNamesANumber() {
        let four = ThreadBudget(threads: 4, source: "test")
        #expect(MLPWorkload.blasThreads(budget: four, asked: .auto) == 1)
        #expect(MLPWorkload.blasThreads(budget: ThreadBudget(threads: 1, source: "test"), asked: .auto) == 1)
        #expect(MLPWorkload.blasThreads(budget: four, asked: .count(4)) == 4)
        #expect(MLPWorkload.blasThreads(budget: nil, asked: .inherit) == nil)
    }
}
