import Testing

@testable import PBTCore

/// The selector's state machine driven directly: credits, the pipeline's legs, leases, results,
/// exploit, stopping.
@Suite("SelectorMachine")
struct SelectorMachineTests {
    typealias F = Fixture

    /// A machine with one evaluator (and a mutator when it explores) registered.
    static func machine(
        _ settings: SelectorSettings = F.settings(), members: Int = 2, initial: [Hyperparameters]? = nil
    ) -> SelectorMachine {
        var machine = SelectorMachine(settings: settings, name: "exp", initial: initial ?? F.initial(members))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        if settings.explores { _ = machine.handle(F.ready(.mutator, name: "m"), from: F.mutator, now: 0) }
        return machine
    }

    // MARK: Starting and dispatch

    @Test func startQueuesEveryMemberAndSendsNothing() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(3))
        let actions = machine.start(now: 0)
        #expect(actions.events == [.experimentStarted(name: "exp", population: 3, hyperparameters: ["lr"])])
        #expect(actions.sends.isEmpty)
        #expect(actions.persisted.isEmpty, "what changed is the end of the batch's output")
        #expect(machine.endBatch().persisted.first?.members.keys.sorted() == [0, 1, 2], "every row is stored")
        #expect(machine.members.map(\.phase) == Array(repeating: .queued(.trainer), count: 3))
        #expect(machine.members.map(\.version) == [0, 0, 0])
        #expect(machine.members.map(\.hyperparameters) == F.initial(3))
        #expect(!machine.isFinished)
    }

    @Test func noTrainingBeforeATrainerOfThisExperimentAndAnEvaluatorAreThere() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)

        let stranger = machine.handle(F.ready(.trainer, name: "t", experimentID: "other-0000"), from: F.trainer, now: 1)
        #expect(stranger == [.welcome(F.trainer)])
        #expect(machine.workerCount(.trainer) == 0)

        // A trainer alone gets nothing: its result would have nowhere to go.
        let alone = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 2)
        #expect(alone.events.contains(.workerJoined(role: .trainer, worker: "t")))
        #expect(alone.trainTasks.isEmpty)
        #expect(machine.members.map(\.phase) == [.queued(.trainer), .queued(.trainer)])

        // The evaluator joins: the trainer hears where to push, and gets its task.
        let joined = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 3)
        #expect(joined.events.contains(.workerJoined(role: .evaluator, worker: "e")))
        #expect(joined.routes.map(\.worker) == [F.trainer])
        #expect(joined.routes.first?.routes.endpoints == [PeerEndpoint(endpoint: "inproc://e")])
        let expected = TrainTask(
            member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: F.initial(2)[0],
            seed: machine.members[0].seed)
        #expect(joined.trainTasks.map(\.worker) == [F.trainer])
        #expect(joined.trainTasks.first?.task == expected)
        #expect(joined.events.contains(.memberAssigned(member: 0, version: 1, role: .trainer, worker: "t", step: 0)))
        #expect(machine.members[0].phase == .training(F.trainer))
        #expect(
            machine.members[0].lease
                == MemberLease(since: 3, started: 3, deadline: 33, trainer: "t", trainerID: F.trainer))
        #expect(machine.members[1].phase == .queued(.trainer))
    }

    /// Start order changes nothing: an experiment that explores waits for a mutator too, and a
    /// late mutator sees the same first decisions as an early one.
    @Test func anExperimentThatExploresWaitsForAMutatorBeforeTraining() {
        var machine = SelectorMachine(settings: F.settings(explores: true), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        let trainer = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 1)
        #expect(trainer.trainTasks.isEmpty)
        #expect(machine.tick(now: 20).trainTasks.isEmpty, "the start timeout does not open training without a mutator")
        let mutator = machine.handle(F.ready(.mutator, name: "m"), from: F.mutator, now: 21)
        #expect(mutator.contains(.connectMutator(PeerEndpoint(endpoint: "inproc://m"))))
        #expect(mutator.trainTasks.map(\.task.member) == [0])
    }

    @Test func membersHaveDistinctSeedsDerivedFromTheExperimentSeed() {
        let a = SelectorMachine(settings: F.settings(seed: 5), name: "a", initial: F.initial(4))
        let b = SelectorMachine(settings: F.settings(seed: 5), name: "b", initial: F.initial(4))
        let c = SelectorMachine(settings: F.settings(seed: 6), name: "c", initial: F.initial(4))
        #expect(Set(a.members.map(\.seed)).count == 4)
        #expect(a.members.map(\.seed) == b.members.map(\.seed))
        #expect(a.members.map(\.seed) != c.members.map(\.seed))
        #expect(a.members[2].seed == SplitMix64.derive(5, 2))
    }

    struct StartCase: Sendable, CustomTestStringConvertible {
        /// When a second trainer says ready, if it does.
        let secondTrainerAt: Double?
        /// When time passes, if it does.
        let tickAt: Double?
        let dispatched: Int
        var testDescription: String {
            "second trainer at \(secondTrainerAt.map { "\($0)" } ?? "never"), tick at \(tickAt.map { "\($0)" } ?? "never") → \(dispatched)"
        }
    }

    static let startCases: [StartCase] = [
        .init(secondTrainerAt: nil, tickAt: nil, dispatched: 0),
        .init(secondTrainerAt: nil, tickAt: 5, dispatched: 0),
        .init(secondTrainerAt: nil, tickAt: 9.9, dispatched: 0),
        .init(secondTrainerAt: nil, tickAt: 10, dispatched: 1),
        .init(secondTrainerAt: 6, tickAt: nil, dispatched: 2),
        .init(secondTrainerAt: 6, tickAt: 7, dispatched: 2),
    ]

    @Test("minTrainers holds training back until enough trainers or the start timeout", arguments: startCases)
    func minTrainersHoldsTrainingBack(row: StartCase) {
        var machine = Self.machine(F.settings(minTrainers: 2, startTimeout: 10), members: 3)
        var actions = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        #expect(actions.trainTasks.isEmpty, "one trainer of two")
        if let at = row.secondTrainerAt {
            actions += machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: at)
        }
        if let at = row.tickAt { actions += machine.tick(now: at) }
        #expect(actions.trainTasks.count == row.dispatched)
        #expect(Set(actions.trainTasks.map(\.worker)).count == row.dispatched, "one task a trainer")
    }

    @Test func aTrainerHoldsOneTaskAtATime() {
        var machine = Self.machine()
        let first = machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 1)
        #expect(first.trainTasks.map(\.task.member) == [0])
        #expect(machine.busyTrainers == 1)

        // The same ready again, sent before the task arrived: no second task.
        let stale = machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 2)
        #expect(stale.trainTasks.isEmpty)
        #expect(machine.workers[F.trainer]?.task?.member == 0)
        #expect(machine.members[1].phase == .queued(.trainer))

        // A ready that counts the task but hands nothing on means the task was lost: it goes
        // back to the queue, and the trainer gets exactly one task again.
        let fresh = machine.handle(F.ready(.trainer, received: 1, name: "t"), from: F.trainer, now: 3)
        #expect(fresh.leaseReleases.map(\.member) == [0])
        #expect(fresh.trainTasks.count == 1)
        #expect(fresh.trainTasks.first?.task.member == 1)
        #expect(machine.members[0].phase == .queued(.trainer))
        #expect(machine.busyTrainers == 1)
    }

    @Test func aTrainerWhoseTaskNeverArrivedGetsWorkAgainOnceItsLeaseIsOver() {
        var machine = Self.machine(F.settings(leaseTimeout: 5), members: 1)
        _ = machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 0)
        // The task is lost on the way: the trainer goes on saying it received none.
        #expect(machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 1).trainTasks.isEmpty)
        _ = machine.tick(now: 6)
        let again = machine.handle(
            F.ready(.trainer, received: 0, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 7)
        #expect(again.trainTasks.map(\.task.version) == [2])
    }

    @Test func twoIdleTrainersTakeTwoQueuedMembers() {
        var machine = Self.machine(members: 3)
        var actions = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        actions += machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 1)
        #expect(actions.trainTasks.map(\.task.member) == [0, 1])
        #expect(actions.trainTasks.map(\.worker) == [F.trainer, F.trainer2])
        #expect(machine.busyTrainers == 2)
    }

    @Test func trainersAlwaysHoldTheEvaluatorsRoutes() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        let first = machine.handle(F.ready(.evaluator, name: "e1"), from: F.evaluator, now: 1)
        let generation = machine.evaluatorRoutes.generation
        #expect(first.routes.first?.routes.generation == generation)
        let second = machine.handle(F.ready(.evaluator, name: "e2"), from: F.evaluator2, now: 2)
        #expect(second.routes.first?.routes.endpoints.map(\.endpoint) == ["inproc://e1", "inproc://e2"])
        // A trainer whose credit names an older list hears the current one again.
        let behind = machine.handle(
            F.ready(.trainer, received: 1, name: "t", routes: generation), from: F.trainer, now: 3)
        #expect(behind.routes.first?.routes == machine.evaluatorRoutes)
        let current = machine.handle(
            F.ready(.trainer, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 4)
        #expect(current.routes.isEmpty)
        // An evaluator that leaves is taken off every trainer's list.
        let gone = machine.handle(.goodbye, from: F.evaluator, now: 5)
        #expect(gone.routes.first?.routes.endpoints.map(\.endpoint) == ["inproc://e2"])
    }

    @Test func aFreeTrainerTakesTheMemberFurthestBehind() {
        var machine = Self.machine(F.settings(interval: 2, maxSteps: 20), members: 3)
        var tasks = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0).trainTasks.map(\.task)
        var received = 1
        // Member 0 trains three times while members 1 and 2 wait: each time the trainer is free,
        // it is handed whoever is furthest behind.
        var order: [Int] = []
        for _ in 0..<6 {
            guard let task = tasks.first else { break }
            order.append(task.member)
            _ = machine.handle(
                F.scored(task, checkpoint: F.checkpoint(received), score: 0.5), from: F.evaluator, now: Double(received)
            )
            tasks = machine.handle(
                F.handedOn(task, received: received, name: "t", routes: machine.evaluatorRoutes.generation),
                from: F.trainer, now: Double(received)
            ).trainTasks.map(\.task)
            received += 1
        }
        #expect(order == [0, 1, 2, 0, 1, 2], "members at step 0 go before any member at step 2")
    }

    // MARK: The cycle

    /// One member through train → handed on → scored → decided → train again.
    /// Ends with member 0 leased to the trainer at version 2, from step 4.
    static func cycled(
        _ settings: SelectorSettings = F.settings()
    ) -> (machine: SelectorMachine, log: [[SelectorMachine.Action]]) {
        var machine = SelectorMachine(settings: settings, name: "exp", initial: F.initial(1))
        var log: [[SelectorMachine.Action]] = []
        log.append(machine.start(now: 0))
        log.append(machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 1))
        log.append(machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 2))
        let task = log[2].trainTasks[0].task
        log.append(
            machine.handle(
                F.handedOn(task, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
                now: 3))
        log.append(machine.handle(F.scored(task, checkpoint: F.checkpoint(1), score: 0.3), from: F.evaluator, now: 4))
        return (machine, log)
    }

    @Test func aMemberGoesThroughThePipeline() {
        let (machine, log) = Self.cycled()
        let hyperparameters = F.initial(1)[0]
        let seed = machine.members[0].seed
        #expect(
            log[2].trainTasks.first?.task
                == TrainTask(
                    member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: hyperparameters,
                    seed: seed))

        // The credit that says "handed member 0 on" moves the lease to scoring, and the member
        // waits for no other trainer (the population has one).
        #expect(log[3].trainTasks.isEmpty)
        #expect(log[3].events.isEmpty)

        // The score brings the training with it: both are applied at once.
        #expect(
            log[4].trained == [
                PBTEvent.MemberTrained(
                    member: 0, version: 1, trainer: "t", fromStep: 0, step: 4, seconds: 1, checkpoint: F.checkpoint(1),
                    hyperparameters: hyperparameters, metrics: ["score": 0.3], interrupted: false)
            ])
        #expect(log[4].events.contains(.memberScored(member: 0, version: 1, step: 4, score: 0.3, evaluator: "e")))
        #expect(log[4].decisions.map(\.decision) == [.notEnoughData])
        #expect(log[4].trainTasks.first?.worker == F.trainer)
        #expect(
            log[4].trainTasks.first?.task
                == TrainTask(
                    member: 0, version: 2, step: 4, steps: 4, checkpoint: F.checkpoint(1),
                    hyperparameters: hyperparameters, seed: seed))

        let member = machine.members[0]
        #expect(member.version == 2, "one version a cycle, not one a leg")
        #expect(member.step == 4)
        #expect(member.checkpoint == F.checkpoint(1))
        #expect(member.score == 0.3)
        #expect(member.phase == .training(F.trainer))
        #expect(machine.steps == 4)
    }

    @Test func aScoreThatArrivesBeforeTheTrainersCreditIsApplied() {
        var machine = Self.machine(members: 1)
        let task = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 1).trainTasks[0].task
        let scored = machine.handle(F.scored(task, checkpoint: F.checkpoint(1), score: 0.5), from: F.evaluator, now: 2)
        #expect(scored.trained.count == 1)
        #expect(machine.members[0].step == 4)
        // The trainer's credit comes later, saying it handed version 1 on: it just frees it.
        let credit = machine.handle(
            F.handedOn(task, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 3)
        #expect(credit.leaseReleases.isEmpty)
        #expect(credit.trainTasks.map(\.task.version) == [2])
    }

    struct BadResult: Sendable, CustomTestStringConvertible {
        let label: String
        let report: WorkerReport
        let from: WorkerID
        let member: Int
        let version: Int
        let worker: String
        let reason: String
        var testDescription: String { label }
    }

    /// Member 0 is leased to trainer "t" at version 2, training from step 4 (see `cycled`).
    static let badResults: [BadResult] = [
        .init(
            label: "stale version",
            report: F.scored(0, version: 1, from: 4, step: 8, checkpoint: F.checkpoint(9), score: 1),
            from: F.evaluator, member: 0, version: 1, worker: "e", reason: "stale_version"),
        .init(
            label: "another trainer's early stop",
            report: .trained(
                F.trainedResult(0, version: 2, from: 4, step: 6, checkpoint: F.checkpoint(9), interrupted: true)),
            from: F.trainer2, member: 0, version: 2, worker: "worker-02", reason: "not_leased"),
        .init(
            label: "unknown member",
            report: F.scored(7, version: 2, from: 4, step: 8, checkpoint: F.checkpoint(9), score: 1),
            from: F.evaluator, member: 7, version: 2, worker: "e", reason: "unknown_member"),
        .init(
            label: "negative member",
            report: F.scored(-1, version: 1, from: 0, step: 4, checkpoint: F.checkpoint(9), score: 1),
            from: F.evaluator, member: -1, version: 1, worker: "e", reason: "unknown_member"),
        .init(
            label: "explored, but the member never exploited",
            report: .explored(
                ExploreResult(member: 0, version: 2, hyperparameters: F.hyperparameters(0.2), changes: [:])),
            from: F.mutator, member: 0, version: 2, worker: "worker-21", reason: "not_leased"),
        .init(
            label: "stale failure", report: .failed(member: 0, version: 1, reason: "boom"), from: F.trainer,
            member: 0, version: 1, worker: "t", reason: "stale_version"),
        .init(
            label: "a finished training sent to the selector instead of an evaluator",
            report: .trained(F.trainedResult(0, version: 2, from: 4, step: 8, checkpoint: F.checkpoint(9))),
            from: F.trainer, member: 0, version: 2, worker: "t", reason: "wrong_leg"),
    ]

    @Test("results for another lease are dropped and change nothing", arguments: badResults)
    func resultsForAnotherLeaseAreDropped(row: BadResult) {
        var (machine, _) = Self.cycled()
        let before = machine.members[0]
        let actions = machine.handle(row.report, from: row.from, now: 6)
        #expect(actions.dropped.count == 1)
        let drop = actions.dropped.first
        #expect(drop?.member == row.member)
        #expect(drop?.version == row.version)
        #expect(drop?.worker == row.worker)
        #expect(drop?.reason == row.reason)
        #expect(actions.trainTasks.isEmpty)
        #expect(actions.trained.isEmpty)
        let after = machine.members[0]
        #expect(after.version == before.version)
        #expect(after.step == before.step)
        #expect(after.phase == before.phase)
        #expect(after.checkpoint == before.checkpoint)
        #expect(after.score == before.score)
        #expect(after.failures == before.failures)
        #expect(machine.steps == 4)
    }

    /// 200,000 copies of a stale result make ten events, then one a second, and count them all.
    @Test func droppedResultsAreCountedAndToldAtMostOnceASecondAfterTheFirstTen() {
        var (machine, _) = Self.cycled()
        var told: [(count: Int, total: Int)] = []
        var now = 6.0
        for _ in 0..<200_000 {
            now += 0.00001  // two seconds in all
            for event in machine.handle(
                F.scored(0, version: 1, from: 4, step: 8, checkpoint: F.checkpoint(9), score: 1), from: F.evaluator,
                now: now
            ).events {
                if case .resultDropped(_, _, _, _, _, let count, let total) = event { told.append((count, total)) }
            }
        }
        #expect(told.count >= 11 && told.count <= 13, "\(told.count) events for 200,000 drops")
        #expect(told.prefix(10).map(\.count) == Array(1...10))
        #expect(told.last.map { $0.total > 90_000 && $0.total == $0.count } == true, "the counts go on between events")
    }

    @Test func aScoreForStepsOutsideTheTaskIsDroppedAndTheMemberRetrains() {
        var (machine, _) = Self.cycled()
        let actions =
            machine.handle(
                F.handedOn(
                    TrainTask(
                        member: 0, version: 2, step: 4, steps: 4, checkpoint: nil, hyperparameters: F.initial(1)[0],
                        seed: 0), received: 2, name: "t"), from: F.trainer, now: 5)
            + machine.handle(
                F.scored(0, version: 2, from: 4, step: 9, checkpoint: F.checkpoint(9), score: 1), from: F.evaluator,
                now: 6)
        #expect(actions.dropped.map(\.reason) == ["step_outside_task"])
        #expect(actions.trainTasks.map(\.task.version) == [3])
        #expect(actions.trainTasks.first?.task.step == 4)
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(1))
        #expect(machine.steps == 4)
    }

    @Test func aScoreOfACheckpointTheStoreDoesNotHoldIsDroppedAndTheRealOneIsTaken() {
        var (machine, _) = Self.cycled()
        // Member 0 trains steps 4…8 at version 2: a score naming a checkpoint nobody wrote
        // (sent while it trains, as a forged one could be) changes nothing.
        let holds: (String) -> Bool = { $0 != F.checkpoint(9) }
        let forged = machine.handle(
            F.scored(0, version: 2, from: 4, step: 8, checkpoint: F.checkpoint(9), score: 99), from: F.evaluator,
            now: 5, holds: holds)
        #expect(forged.dropped.map(\.reason) == ["missing_checkpoint"])
        #expect(forged.trained.isEmpty && forged.trainTasks.isEmpty)
        #expect(machine.steps == 4)
        let real = machine.handle(
            F.scored(0, version: 2, from: 4, step: 8, checkpoint: F.checkpoint(2), score: 1), from: F.evaluator,
            now: 6, holds: holds)
        #expect(real.dropped.isEmpty)
        #expect(real.trained.map(\.checkpoint) == [F.checkpoint(2)])
        #expect(machine.steps == 8)
    }

    @Test func anInterruptedResultNamingACheckpointTheStoreDoesNotHoldIsAFailure() {
        var (machine, _) = Self.cycled()
        let result = F.trainedResult(0, version: 2, from: 4, step: 6, checkpoint: F.checkpoint(9), interrupted: true)
        let actions = machine.handle(.trained(result), from: F.trainer, now: 6, holds: { $0 != F.checkpoint(9) })
        #expect(actions.trained.isEmpty, "no progress from a checkpoint nobody can load")
        #expect(
            actions.failures.map { "\($0.member) \($0.reason)" } == [
                "0 checkpoint \(F.checkpoint(9).prefix(12))… is not in the store"
            ])
        #expect(machine.steps == 4)
    }

    @Test func anInterruptedTrainingResumesFromWhereItStopped() {
        var (machine, _) = Self.cycled()
        let result = F.trainedResult(0, version: 2, from: 4, step: 6, checkpoint: F.checkpoint(2), interrupted: true)
        let actions = machine.handle(.trained(result), from: F.trainer, now: 6)
        #expect(actions.trained.first?.interrupted == true)
        #expect(actions.trained.first?.fromStep == 4)
        #expect(actions.trained.first?.trainer == "t")
        #expect(actions.decisions.isEmpty, "not ready until step 8")
        // The trainer is leaving: it gets nothing until another trainer asks.
        #expect(actions.trainTasks.isEmpty)
        let next = machine.handle(
            F.ready(.trainer, name: "t2", routes: machine.evaluatorRoutes.generation), from: F.trainer2, now: 7)
        let task = next.trainTasks.first?.task
        #expect(task?.step == 6)
        #expect(task?.steps == 2)
        #expect(task?.checkpoint == F.checkpoint(2))
        #expect(machine.steps == 6)
    }

    @Test func releasedMembersAreReissuedWithoutAFailure() {
        var (machine, _) = Self.cycled()
        let actions =
            machine.handle(.released(member: 0, version: 2), from: F.trainer, now: 6)
            + machine.handle(
                F.ready(.trainer, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
                now: 7)
        #expect(actions.dropped.isEmpty)
        #expect(actions.trainTasks.map(\.task.version) == [3])
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(1))
        #expect(machine.members[0].failures == 0)
    }

    // MARK: Leases

    struct LeaseCase: Sendable, CustomTestStringConvertible {
        /// When the trainer reports progress, and for which version.
        let progressAt: Double?
        let progressVersion: Int
        let tickAt: Double
        let expires: Bool
        var testDescription: String {
            "progress \(progressAt.map { "at \($0) v\(progressVersion)" } ?? "none"), tick at \(tickAt) → \(expires ? "expires" : "holds")"
        }
    }

    static let leaseCases: [LeaseCase] = [
        .init(progressAt: nil, progressVersion: 1, tickAt: 29, expires: false),
        .init(progressAt: nil, progressVersion: 1, tickAt: 30, expires: false),
        .init(progressAt: nil, progressVersion: 1, tickAt: 31, expires: true),
        .init(progressAt: 25, progressVersion: 1, tickAt: 40, expires: false),
        .init(progressAt: 25, progressVersion: 1, tickAt: 54, expires: false),
        .init(progressAt: 25, progressVersion: 1, tickAt: 56, expires: true),
        .init(progressAt: 25, progressVersion: 0, tickAt: 40, expires: true),
    ]

    @Test("a lease expires after its timeout, and progress extends it", arguments: leaseCases)
    func leaseExpiry(row: LeaseCase) {
        var machine = Self.machine(F.settings(leaseTimeout: 30), members: 1)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        if let at = row.progressAt {
            #expect(
                machine.handle(.progress(member: 0, version: row.progressVersion, step: 2), from: F.trainer, now: at)
                    .sends.isEmpty)
        }
        let actions = machine.tick(now: row.tickAt)
        if row.expires {
            #expect(actions.events.contains(.leaseExpired(member: 0, version: 1, role: .trainer, worker: "t")))
            #expect(actions.failures.map(\.member) == [0], "an expired lease is a failure of the member")
            #expect(machine.members[0].failures == 1)
            #expect(machine.members[0].phase == .queued(.trainer))
            let next = machine.handle(
                F.ready(.trainer, name: "t2", routes: machine.evaluatorRoutes.generation), from: F.trainer2,
                now: row.tickAt + 1)
            #expect(next.trainTasks.first?.worker == F.trainer2)
            #expect(next.trainTasks.first?.task.version == 2)
            let late = machine.handle(
                F.scored(0, version: 1, from: 0, step: 4, checkpoint: F.checkpoint(1), score: 1), from: F.evaluator,
                now: row.tickAt + 2)
            #expect(late.dropped.map(\.reason) == ["stale_version"])
            #expect(machine.members[0].step == 0)
        } else {
            #expect(actions.leaseExpiries.isEmpty)
            #expect(machine.members[0].phase == .training(F.trainer))
        }
    }

    /// The lease spans the whole cycle: a member whose result died in an evaluator's queue goes
    /// out again from its last scored checkpoint, with a new version.
    @Test func aMemberLostAfterItWasHandedOnIsReissuedFromItsLastScoredCheckpoint() {
        var (machine, _) = Self.cycled()
        let task = TrainTask(
            member: 0, version: 2, step: 4, steps: 4, checkpoint: F.checkpoint(1), hyperparameters: F.initial(1)[0],
            seed: 0)
        _ = machine.handle(
            F.handedOn(task, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 10)
        #expect(machine.members[0].phase == .scoring)
        #expect(machine.members[0].lease?.deadline == 40, "the scoring leg has a lease of its own")
        #expect(machine.tick(now: 39).leaseExpiries.isEmpty)
        let expired = machine.tick(now: 41)
        #expect(expired.leaseExpiries.map(\.role) == [.evaluator])
        #expect(expired.failures.isEmpty, "a result lost after training is not the member's failure")
        #expect(machine.members[0].failures == 0)
        let retrain = expired.trainTasks.first?.task
        #expect(retrain?.version == 3)
        #expect(retrain?.step == 4)
        #expect(retrain?.checkpoint == F.checkpoint(1), "the last scored checkpoint, not the one that was lost")
    }

    /// A peer that says it is busy for ever holds a member no longer than a task may take.
    @Test func progressNeverExtendsALeasePastTheLongestATaskMayTake() {
        var machine = Self.machine(F.settings(leaseTimeout: 10, maxTaskSeconds: 60), members: 1)
        _ = machine.handle(F.ready(.trainer, name: "rogue"), from: F.trainer, now: 0)
        var now = 0.0
        var expiredAt: Double?
        while now < 200, expiredAt == nil {
            now += 1
            _ = machine.handle(.progress(member: 0, version: 1, step: 0), from: F.trainer, now: now)
            if !machine.tick(now: now).leaseExpiries.isEmpty { expiredAt = now }
        }
        #expect(expiredAt == 61)
        #expect(machine.members[0].phase == .queued(.trainer) || machine.members[0].phase == .training(F.trainer))
    }

    @Test func withoutASettingTheLongestATaskMayTakeFollowsTheRun() {
        var machine = Self.machine(F.settings(leaseTimeout: 2), members: 1)
        #expect(machine.maxTaskSeconds == 20, "ten lease timeouts before any task is done")
        let task = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0).trainTasks[0].task
        for second in stride(from: 1.0, through: 15, by: 1) {
            _ = machine.handle(.progress(member: 0, version: 1, step: 0), from: F.trainer, now: second)
        }
        _ = machine.handle(
            F.handedOn(task, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 15)
        #expect(machine.maxTaskSeconds == 150, "ten times the longest leg seen (15 s)")
    }

    /// A task that always outlives its lease fails its member, which is given up in the end, and
    /// the experiment ends instead of re-issuing it for ever.
    @Test func leasesThatKeepExpiringGiveTheMemberUp() {
        var machine = Self.machine(F.settings(leaseTimeout: 5, maxFailures: 2), members: 1)
        var now = 0.0
        var received = 0
        var summary: ExperimentSummary?
        for _ in 0..<10 where summary == nil {
            _ = machine.handle(
                F.ready(.trainer, received: received, name: "slow", routes: machine.evaluatorRoutes.generation),
                from: F.trainer, now: now)
            received += 1
            now += 6
            summary = machine.tick(now: now).summaries.first
        }
        #expect(summary?.reason == .allFailed)
        #expect(machine.members[0].phase == .failed)
        #expect(summary?.firstFailure?.contains("lease expired") == true)
    }

    @Test func goodbyeFromABusyTrainerReissuesItsMemberAtOnce() {
        var machine = Self.machine(members: 1)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        let actions = machine.handle(.goodbye, from: F.trainer, now: 1)
        #expect(
            actions.events.contains(
                .leaseReleased(member: 0, version: 1, role: .trainer, worker: "t1", reason: "goodbye")))
        #expect(actions.events.contains(.workerLeft(role: .trainer, worker: "t1", reason: "goodbye")))
        #expect(actions.trainTasks.map(\.worker) == [F.trainer2])
        #expect(actions.trainTasks.map(\.task.version) == [2])
        #expect(machine.workerCount(.trainer) == 1)
    }

    @Test func goodbyeFromAnIdleWorkerOnlyRemovesIt() {
        var machine = Self.machine(members: 1)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        _ = machine.handle(.released(member: 0, version: 1), from: F.trainer, now: 0)
        let actions = machine.handle(.goodbye, from: F.trainer, now: 1)
        #expect(actions.events == [.workerLeft(role: .trainer, worker: "t", reason: "goodbye")])
        #expect(machine.workerCount(.trainer) == 0)
    }

    /// A worker that falls silent is gone: what it held goes out again at once, without
    /// waiting for its lease.
    @Test(arguments: [(4.0, nil as Double?, false), (6.0, nil, true), (6.0, 3.0, false), (9.0, 3.0, true)])
    func silentWorkersAreRemovedAndWhatTheyHeldGoesOutAgain(tickAt: Double, progressAt: Double?, removed: Bool) {
        var machine = Self.machine(F.settings(leaseTimeout: 100, silenceTimeout: 5), members: 1)
        _ = machine.handle(F.ready(.trainer, name: "busy"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: tickAt - 0.5)
        if let at = progressAt {
            _ = machine.handle(.progress(member: 0, version: 1, step: 1), from: F.trainer, now: at)
        }
        let actions = machine.tick(now: tickAt)
        #expect(actions.workersLeft.map(\.worker) == (removed ? ["busy"] : []))
        if removed {
            #expect(actions.workersLeft.first?.reason == "silent for 5 s")
            #expect(actions.leaseReleases.map(\.member) == [0])
            #expect(actions.leaseExpiries.isEmpty, "no lease had to expire")
            #expect(machine.members[0].phase == .queued(.trainer))
        }
    }

    @Test func anEvaluatorThatFallsSilentSendsTheMembersWaitingForAScoreOutAgain() {
        var (machine, _) = Self.cycled(F.settings(leaseTimeout: 1_000, silenceTimeout: 5))
        let task = TrainTask(
            member: 0, version: 2, step: 4, steps: 4, checkpoint: F.checkpoint(1), hyperparameters: F.initial(1)[0],
            seed: 0)
        _ = machine.handle(
            F.handedOn(task, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 5)
        _ = machine.handle(
            F.ready(.trainer, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 9.5)
        let actions = machine.tick(now: 10)
        #expect(actions.workersLeft.map(\.worker) == ["e"])
        #expect(actions.leaseReleases.map(\.member) == [0])
        #expect(machine.members[0].phase == .queued(.trainer))
        #expect(machine.evaluatorRoutes.endpoints.isEmpty)
        #expect(actions.trainTasks.isEmpty, "no training while no evaluator can take its result")
    }

    // MARK: Failures

    @Test func aMemberThatKeepsFailingIsGivenUpAndTheExperimentStillFinishes() {
        var machine = Self.machine(F.settings(maxSteps: 4, maxFailures: 1), members: 2)
        let first = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        #expect(first.trainTasks.map(\.task.member) == [0])

        let failedOnce =
            machine.handle(.failed(member: 0, version: 1, reason: "boom"), from: F.trainer, now: 1)
            + machine.handle(
                F.ready(.trainer, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
                now: 1)
        #expect(failedOnce.failures.map(\.givenUp) == [false])
        #expect(failedOnce.failures.first?.worker == "t")
        #expect(machine.members[0].failures == 1)
        let one = failedOnce.trainTasks[0].task
        #expect(one.member == 1, "the next member in the queue")

        _ = machine.handle(F.scored(one, checkpoint: F.checkpoint(1), score: 0.5), from: F.evaluator, now: 2)
        let again = machine.handle(
            F.handedOn(one, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer, now: 2
        )
        #expect(again.trainTasks.first?.task.member == 0)
        #expect(again.trainTasks.first?.task.version == 2)

        let failedTwice = machine.handle(.failed(member: 0, version: 2, reason: "boom"), from: F.trainer, now: 3)
        #expect(failedTwice.failures.map(\.givenUp) == [true])
        #expect(machine.members[0].phase == .failed)
        let summary = failedTwice.summaries.first
        #expect(summary?.reason == .maxSteps)
        #expect(summary?.best?.member == 1)
        #expect(summary?.members.map(\.failed) == [true, false])
        #expect(machine.isFinished)
    }

    /// A run in which every member failed did not "finish": it ended for that reason, and says
    /// what the first failure was.
    @Test func whenEveryMemberFailsTheExperimentEndsSayingSo() {
        var machine = Self.machine(F.settings(maxFailures: 0), members: 2)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        _ = machine.handle(
            .failed(member: 0, version: 1, reason: "python3: can't open file 'train.py'"), from: F.trainer, now: 1)
        let last = machine.handle(.failed(member: 1, version: 1, reason: "also broken"), from: F.trainer2, now: 2)
        let summary = last.summaries.first
        #expect(summary?.reason == .allFailed)
        #expect(summary?.best == nil)
        #expect(summary?.firstFailure == "member 0 on t1: python3: can't open file 'train.py'")
        #expect(
            last.events.contains {
                if case .experimentFinished(.allFailed, nil, nil, 0, _) = $0 { true } else { false }
            })
    }

    @Test func failuresCountOnlyInARow() {
        var machine = Self.machine(F.settings(maxFailures: 1), members: 1)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        _ = machine.handle(.failed(member: 0, version: 1, reason: "a"), from: F.trainer, now: 1)
        let task = machine.handle(
            F.ready(.trainer, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 1
        ).trainTasks[0].task
        _ = machine.handle(F.scored(task, checkpoint: F.checkpoint(1), score: 0.1), from: F.evaluator, now: 2)
        #expect(machine.members[0].failures == 0, "a score ends the run of failures")
        let next = machine.handle(
            F.handedOn(task, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 2
        ).trainTasks[0].task
        let again = machine.handle(.failed(member: 0, version: next.version, reason: "b"), from: F.trainer, now: 3)
        #expect(again.failures.map(\.givenUp) == [false])
    }

    /// An evaluator that cannot use a trained checkpoint (missing, corrupt) fails the member,
    /// which trains again from its last scored checkpoint: a bad result never spreads.
    @Test func aFailedEvaluationRetrainsFromTheLastScoredCheckpoint() {
        var (machine, _) = Self.cycled()
        let task = TrainTask(
            member: 0, version: 2, step: 4, steps: 4, checkpoint: F.checkpoint(1), hyperparameters: F.initial(1)[0],
            seed: 0)
        _ = machine.handle(
            F.handedOn(task, received: 2, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 6)
        let actions = machine.handle(
            .failed(member: 0, version: 2, reason: "the trained checkpoint is unusable"), from: F.evaluator, now: 7)
        #expect(actions.failures.map(\.worker) == ["e"])
        #expect(actions.trainTasks.first?.task.version == 3)
        #expect(actions.trainTasks.first?.task.step == 4)
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(1))
        #expect(machine.members[0].failures == 1)
    }

    /// A trainer that fails every task at once would take most of the work: after
    /// `maxFailures` failures in a row it gets none for a while, and the others train.
    @Test func aTrainerThatOnlyFailsIsBenched() {
        var machine = Self.machine(F.settings(maxFailures: 2, benchSeconds: 30), members: 4)
        _ = machine.handle(F.ready(.trainer, name: "good"), from: F.trainer2, now: 0)
        var received = 0
        var benchedAt: Double?
        for attempt in 0..<3 {
            let now = Double(attempt)
            let tasks = machine.handle(
                F.ready(.trainer, received: received, name: "hole", routes: machine.evaluatorRoutes.generation),
                from: F.trainer, now: now
            ).trainTasks
            guard let task = tasks.first(where: { $0.worker == F.trainer })?.task else { continue }
            received += 1
            let failed = machine.handle(
                .failed(member: task.member, version: task.version, reason: "no GPU"), from: F.trainer, now: now + 0.5)
            if !failed.benched.isEmpty { benchedAt = now + 0.5 }
            #expect(failed.benched.allSatisfy { $0.worker == "hole" && $0.failures == 3 && $0.seconds == 30 })
        }
        #expect(benchedAt == 2.5)
        let asks = machine.handle(
            F.ready(.trainer, received: received, name: "hole", routes: machine.evaluatorRoutes.generation),
            from: F.trainer, now: 3)
        #expect(asks.trainTasks.filter { $0.worker == F.trainer }.isEmpty, "benched: no task")
        let later = machine.handle(
            F.ready(.trainer, received: received, name: "hole", routes: machine.evaluatorRoutes.generation),
            from: F.trainer, now: 34)
        #expect(later.trainTasks.map(\.worker) == [F.trainer], "the bench is over")
    }

    @Test func anEvaluatorThatOnlyFailsIsTakenOffTheTrainersRoutes() {
        var machine = Self.machine(F.settings(maxFailures: 1), members: 2)
        _ = machine.handle(F.ready(.evaluator, name: "e2"), from: F.evaluator2, now: 0)
        let first = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0).trainTasks[0].task
        #expect(machine.evaluatorRoutes.endpoints.count == 2)
        _ = machine.handle(
            F.handedOn(first, received: 1, name: "t", routes: machine.evaluatorRoutes.generation), from: F.trainer,
            now: 1)
        let once = machine.handle(
            .failed(member: first.member, version: first.version, reason: "metric missing"), from: F.evaluator, now: 1)
        #expect(once.benched.isEmpty)
        let second = machine.members.first { if case .training = $0.phase { true } else { false } }
        let twice = machine.handle(
            .failed(member: second?.id ?? -1, version: second?.version ?? -1, reason: "metric missing"),
            from: F.evaluator, now: 2)
        #expect(twice.benched.map(\.worker) == ["e"])
        #expect(twice.benched.first?.failures == 2)
        #expect(twice.routes.last?.routes.endpoints.map(\.endpoint) == ["inproc://e2"])
        #expect(machine.evaluatorRoutes.endpoints.map(\.endpoint) == ["inproc://e2"])
    }

    /// An evaluator that cannot score what a trainer produced (its checkpoint is not in the
    /// store) says the fault is upstream: it counts against the trainer, which is benched.
    @Test func aFailureUpstreamOfTheEvaluatorCountsAgainstTheTrainer() {
        var machine = Self.machine(F.settings(maxFailures: 1), members: 3)
        _ = machine.handle(F.ready(.trainer, name: "good"), from: F.trainer2, now: 0)
        var benched: [String] = []
        var received = 0
        var next = machine.handle(
            F.ready(.trainer, name: "unshared", routes: machine.evaluatorRoutes.generation), from: F.trainer, now: 1
        ).trainTasks
        for attempt in 0..<3 {
            let now = Double(attempt + 1)
            guard let task = next.first(where: { $0.worker == F.trainer })?.task else { break }
            received += 1
            // It hands the member on (and asks for more); the evaluator finds no checkpoint.
            next =
                machine.handle(
                    F.handedOn(task, received: received, name: "unshared", routes: machine.evaluatorRoutes.generation),
                    from: F.trainer, now: now
                ).trainTasks
            let failed = machine.handle(
                .failed(member: task.member, version: task.version, reason: "not in the store", upstream: true),
                from: F.evaluator, now: now)
            benched += failed.benched.map(\.worker)
        }
        #expect(benched == ["unshared"])
        #expect(machine.workers[F.evaluator]?.failuresInARow == 0, "the evaluator is not blamed")
    }

    // MARK: Stopping

    @Test func everyMemberReachingMaxStepsFinishesTheExperiment() throws {
        var simulation = Simulation(
            settings: F.settings(interval: 4, maxSteps: 12, exploit: .truncation(fraction: 0.25), explores: true),
            initial: F.initial(4), trainers: [F.trainer, F.trainer2])
        simulation.run()
        let machine = simulation.machine
        let log = simulation.log
        let summary = try #require(log.summaries.first)
        #expect(log.summaries.count == 1)
        #expect(log.last.map { if case .finish = $0 { true } else { false } } == true)
        #expect(machine.isFinished)

        #expect(summary.reason == .maxSteps)
        #expect(machine.members.allSatisfy { $0.phase == .finished })
        #expect(machine.members.map(\.step) == [12, 12, 12, 12])
        let finished = log.events.compactMap { if case .memberFinished(let member, _, _) = $0 { member } else { nil } }
        #expect(finished.sorted() == [0, 1, 2, 3])

        // The best is the highest latest score.
        let scores = machine.members.map { $0.score ?? -.infinity }
        let best = try #require(summary.best)
        #expect(best.score == scores.max())
        #expect(best.member == scores.firstIndex(of: scores.max()!))
        #expect(best.step == 12)
        #expect(
            log.events.contains(
                .experimentFinished(
                    reason: .maxSteps, best: best.member, score: best.score, steps: summary.steps,
                    seconds: summary.seconds)))

        // Steps and exploits add up.
        #expect(summary.steps == log.trained.reduce(0) { $0 + $1.step - $1.fromStep })
        #expect(summary.steps == machine.steps)
        #expect(summary.exploits == log.exploited.count)
        #expect(summary.exploits == machine.exploits)
        #expect(summary.exploits > 0, "this run should exploit")
        #expect(summary.members.map(\.exploits).reduce(0, +) == summary.exploits)
        #expect(log.exploited.allSatisfy { $0.mutator == "m" || $0.mutator == "mutator" })

        Self.expectConsistent(best, trained: log.trained)
    }

    /// The schedule and the lineage of `best` cover 0…best.step without gaps, and every
    /// schedule entry is a chain of training events by that member with those hyperparameters.
    static func expectConsistent(_ best: ExperimentSummary.Best, trained: [PBTEvent.MemberTrained]) {
        #expect(best.schedule.first?.fromStep == 0)
        #expect(best.schedule.last?.toStep == best.step)
        #expect(best.schedule.last?.hyperparameters == best.hyperparameters)
        for (a, b) in zip(best.schedule, best.schedule.dropFirst()) {
            #expect(a.toStep == b.fromStep, "schedule gap between \(a) and \(b)")
        }
        #expect(best.lineage.first?.fromStep == 0)
        #expect(best.lineage.last?.toStep == best.step)
        for (a, b) in zip(best.lineage, best.lineage.dropFirst()) {
            #expect(a.toStep == b.fromStep, "lineage gap between \(a) and \(b)")
            #expect(a.member != b.member, "lineage entries of one member should merge")
        }
        for entry in best.schedule {
            #expect(entry.fromStep < entry.toStep)
            var step = entry.fromStep
            while step < entry.toStep {
                guard
                    let next = trained.first(where: {
                        $0.member == entry.member && $0.fromStep == step && $0.step <= entry.toStep
                            && $0.hyperparameters == entry.hyperparameters
                    })
                else {
                    Issue.record(
                        "no training of member \(entry.member) from step \(step) with \(entry.hyperparameters)")
                    break
                }
                step = next.step
            }
        }
    }

    struct TargetCase: Sendable, CustomTestStringConvertible {
        let objective: Objective
        let target: Double
        let score: Double
        let finishes: Bool
        var testDescription: String {
            "\(objective) target \(target), score \(score) → \(finishes ? "stops" : "goes on")"
        }
    }

    static let targetCases: [TargetCase] = [
        .init(objective: .maximize, target: 0.5, score: 0.6, finishes: true),
        .init(objective: .maximize, target: 0.5, score: 0.5, finishes: true),
        .init(objective: .maximize, target: 0.5, score: 0.4, finishes: false),
        .init(objective: .minimize, target: 0.2, score: 0.1, finishes: true),
        .init(objective: .minimize, target: 0.2, score: 0.3, finishes: false),
        .init(objective: .maximize, target: 0.5, score: .nan, finishes: false),
    ]

    @Test("a target score stops the experiment", arguments: targetCases)
    func targetScoreStopsTheExperiment(row: TargetCase) {
        var machine = SelectorMachine(
            settings: F.settings(targetScore: row.target, objective: row.objective), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 10)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 10)
        let task = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 10).trainTasks[0].task
        let actions = machine.handle(
            F.scored(task, checkpoint: F.checkpoint(1), score: row.score), from: F.evaluator, now: 12)
        #expect(machine.isFinished == row.finishes)
        if row.finishes {
            #expect(
                actions.events.contains(
                    .experimentFinished(reason: .target, best: 0, score: row.score, steps: 4, seconds: 2)))
            #expect(actions.summaries.first?.reason == .target)
            #expect(actions.summaries.first?.best?.member == 0)
            #expect(actions.decisions.isEmpty)
            // Afterwards every worker that asks is told the experiment is over.
            #expect(
                machine.handle(F.ready(.trainer, received: 1, name: "t"), from: F.trainer, now: 13) == [
                    .send(F.trainer, .finished)
                ])
            #expect(machine.handle(.progress(member: 1, version: 1, step: 1), from: F.trainer, now: 13).isEmpty)
            #expect(machine.tick(now: 100).isEmpty)
            // A goodbye then takes the worker off the list the stage waits on, and says nothing.
            #expect(machine.workers[F.trainer] != nil)
            #expect(machine.handle(.goodbye, from: F.trainer, now: 101).isEmpty)
            #expect(machine.workers[F.trainer] == nil)
            #expect(machine.workers[F.evaluator] != nil)
        } else {
            #expect(actions.summaries.isEmpty)
            #expect(actions.decisions.count == 1)
        }
    }

    @Test(arguments: [(99.9, false), (100.0, true), (250.0, true)])
    func aTimeBudgetStopsTheExperimentOnTick(now: Double, finishes: Bool) {
        var machine = SelectorMachine(settings: F.settings(timeBudget: 100), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        let actions = machine.tick(now: now)
        #expect(machine.isFinished == finishes)
        if finishes {
            #expect(
                actions.events.contains(
                    .experimentFinished(reason: .timeBudget, best: nil, score: nil, steps: 0, seconds: now)))
            #expect(actions.summaries.first?.reason == .timeBudget)
            #expect(actions.summaries.first?.best == nil)
            #expect(actions.summaries.first?.members.count == 2)
        } else {
            #expect(actions.summaries.isEmpty)
        }
    }

    @Test func aBudgetOfStepsStopsTrainingAndScoresWhatWasTrained() {
        var simulation = Simulation(
            settings: F.settings(interval: 4, maxSteps: 100, totalSteps: 20), initial: F.initial(3),
            trainers: [F.trainer, F.trainer2])
        simulation.run()
        let summary = simulation.log.summaries.first
        #expect(summary?.reason == .totalSteps)
        #expect((summary?.steps ?? 0) >= 20)
        #expect((summary?.steps ?? 0) <= 20 + 2 * 4, "at most the tasks out when the budget ran out")
    }

    @Test func progressIsPublishedOnTickAtItsInterval() {
        var machine = Self.machine(F.settings(progressInterval: 5), members: 2)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        #expect(machine.tick(now: 4).events.isEmpty)
        let progress = machine.tick(now: 5).events.compactMap { if case .progress(let p) = $0 { p } else { nil } }
        #expect(progress.count == 1)
        #expect(progress.first?.population == 2)
        #expect(progress.first?.trainers == 1)
        #expect(progress.first?.busyTrainers == 1)
        #expect(progress.first?.seconds == 5)
        #expect(progress.first?.membersFinished == 0)
    }

    // MARK: Exploit

    /// A machine with the members `initial` and two trainers, t1 and t2, each holding one:
    /// member 0's first task and member 1's.
    static func twoMembersOnTwoTrainers(
        _ settings: SelectorSettings, initial: [Hyperparameters]
    ) -> (machine: SelectorMachine, zero: TrainTask, one: TrainTask) {
        var machine = Self.machine(settings, initial: initial)
        let zero = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0).trainTasks[0].task
        let one = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0).trainTasks[0].task
        return (machine, zero, one)
    }

    /// Two members scored at step 4: member 0 at 0.9 first, member 1 at 0.1 after it.
    static func exploitScenario(explores: Bool) -> (machine: SelectorMachine, actions: [SelectorMachine.Action]) {
        var (machine, zero, one) = Self.twoMembersOnTwoTrainers(
            F.settings(exploit: .truncation(fraction: 0.5), explores: explores),
            initial: [F.hyperparameters(0.9), F.hyperparameters(0.1)])
        let first = machine.handle(F.scored(zero, checkpoint: F.checkpoint(0xA), score: 0.9), from: F.evaluator, now: 3)
        let second = machine.handle(F.scored(one, checkpoint: F.checkpoint(0xB), score: 0.1), from: F.evaluator, now: 4)
        return (machine, first + second)
    }

    @Test func theWorseMemberCopiesTheBetterAndIsPushedToAMutator() throws {
        var (machine, actions) = Self.exploitScenario(explores: true)
        let decisions = actions.decisions
        #expect(decisions.map(\.member) == [0, 1])
        #expect(decisions.first?.decision == .notEnoughData)
        #expect(decisions.last?.decision == .exploit(donor: 0))
        #expect(decisions.last?.comparedAt == 4)
        #expect(decisions.last?.cohort == 2)
        #expect(decisions.last?.rank == 1)

        let member = machine.members[1]
        #expect(member.checkpoint == F.checkpoint(0xA), "the donor's checkpoint, by reference")
        #expect(member.hyperparameters == F.hyperparameters(0.9))
        #expect(member.step == 4)
        #expect(member.score == 0.9)
        #expect(member.exploits == 1)
        #expect(member.phase == .exploring)
        #expect(machine.exploits == 1)
        #expect(actions.exploited.isEmpty, "published once explore is done")

        let explore = try #require(actions.exploreTasks.first)
        #expect(
            explore
                == ExploreTask(
                    member: 1, version: 2, donor: 0, step: 4, checkpoint: F.checkpoint(0xA),
                    hyperparameters: F.hyperparameters(0.9),
                    seed: SplitMix64.derive(1, 1, 2, SplitMix64.Purpose.explore.rawValue)))

        let changes = ["lr": ExploreChange(from: .real(0.9), to: .real(0.72), how: .scaled(0.8))]
        let explored = machine.handle(
            .explored(
                ExploreResult(
                    member: 1, version: 2, hyperparameters: F.hyperparameters(0.72), changes: changes,
                    mutator: "claimed")),
            from: F.mutator, now: 5)
        #expect(
            explored.exploited == [
                PBTEvent.MemberExploited(
                    member: 1, donor: 0, step: 4, checkpoint: F.checkpoint(0xA), old: F.hyperparameters(0.1),
                    copied: F.hyperparameters(0.9), new: F.hyperparameters(0.72), changes: changes, mutator: "m")
            ])
        #expect(machine.members[1].hyperparameters == F.hyperparameters(0.72))
        #expect(machine.members[1].phase == .queued(.trainer))
        let tasks =
            machine.handle(F.ready(.trainer, name: "t3"), from: WorkerID([9]), now: 6).trainTasks
            + machine.handle(F.ready(.trainer, name: "t4"), from: WorkerID([10]), now: 6).trainTasks
        let train = try #require(tasks.first { $0.task.member == 1 })
        #expect(train.task.member == 1)
        #expect(train.task.version == 3)
        #expect(train.task.step == 4)
        #expect(train.task.steps == 4)
        #expect(train.task.checkpoint == F.checkpoint(0xA))
        #expect(train.task.hyperparameters == F.hyperparameters(0.72))
    }

    @Test func withoutExploreTheCopiedHyperparametersTrainOnAtOnce() {
        let (machine, actions) = Self.exploitScenario(explores: false)
        #expect(actions.exploreTasks.isEmpty)
        #expect(
            actions.exploited == [
                PBTEvent.MemberExploited(
                    member: 1, donor: 0, step: 4, checkpoint: F.checkpoint(0xA), old: F.hyperparameters(0.1),
                    copied: F.hyperparameters(0.9), new: F.hyperparameters(0.9), changes: [:])
            ])
        #expect(machine.members[1].phase == .queued(.trainer))
        #expect(machine.members[1].checkpoint == F.checkpoint(0xA))
    }

    @Test func exploredValuesOutsideTheSpaceAreRefusedAndExploredAgain() {
        var (machine, _) = Self.exploitScenario(explores: true)
        let actions = machine.handle(
            .explored(ExploreResult(member: 1, version: 2, hyperparameters: F.hyperparameters(1.5), changes: [:])),
            from: F.mutator, now: 5)
        #expect(actions.dropped.map(\.reason) == ["outside_space"])
        #expect(actions.dropped.first?.detail == "hyperparameter 'lr' = 1.5 is outside its uniform domain")
        #expect(actions.exploited.isEmpty)
        #expect(actions.exploreTasks.map(\.version) == [3])
        #expect(machine.members[1].hyperparameters == F.hyperparameters(0.9))
    }

    @Test func aMutatorThatOnlyAnswersOutsideTheSpaceIsBenched() throws {
        var (machine, first) = Self.exploitScenario(explores: true)
        // A second mutator, so that benching the first leaves the work somewhere to go.
        _ = machine.handle(F.ready(.mutator, name: "m2"), from: WorkerID([0x22]), now: 4)
        var version = try #require(first.exploreTasks.first?.version)
        var benched: [(worker: String, failures: Int, seconds: Double)] = []
        for attempt in 0..<4 where benched.isEmpty {
            let actions = machine.handle(
                .explored(
                    ExploreResult(member: 1, version: version, hyperparameters: F.hyperparameters(1.5), changes: [:])),
                from: F.mutator, now: 5 + Double(attempt))
            #expect(actions.dropped.map(\.reason) == ["outside_space"])
            benched = actions.benched
            version = try #require(actions.exploreTasks.first?.version, "explored again")
        }
        // maxFailures is 3: benched at the fourth in a row.
        #expect(benched.map(\.worker) == ["m"] && benched.first?.failures == 4, "\(benched)")
        #expect(machine.members[1].phase == .exploring)
    }

    /// A member that must explore waits for a mutator; when one comes, it is explored.
    @Test func aMemberThatMustExploreWaitsForAMutator() {
        var (machine, _) = Self.exploitScenario(explores: true)
        let gone = machine.handle(.goodbye, from: F.mutator, now: 5)
        #expect(gone.contains(.disconnectMutator(PeerEndpoint(endpoint: "inproc://m"))))
        #expect(gone.leaseReleases.map(\.member) == [1])
        #expect(machine.members[1].phase == .queued(.mutator))
        #expect(machine.tick(now: 6).exploreTasks.isEmpty)
        let back = machine.handle(F.ready(.mutator, name: "m2"), from: WorkerID([0x22]), now: 7)
        #expect(back.contains(.connectMutator(PeerEndpoint(endpoint: "inproc://m2"))))
        #expect(back.exploreTasks.map(\.member) == [1])
        #expect(back.exploreTasks.first?.version == 3)
    }

    /// Two members train to step 4 from their own initial weights; member 0 scores 0.9 there
    /// (checkpoint 0xA), member 1 scores 0.1 (0xB). Returns the actions of both scorings.
    static func twoMembersScoredAtStepFour(
        _ settings: SelectorSettings
    ) -> (machine: SelectorMachine, actions: [SelectorMachine.Action]) {
        var (machine, zero, one) = Self.twoMembersOnTwoTrainers(
            settings, initial: [F.hyperparameters(0.9), F.hyperparameters(0.1)])
        let actions =
            machine.handle(F.scored(zero, checkpoint: F.checkpoint(0xA), score: 0.9), from: F.evaluator, now: 3)
            + machine.handle(F.scored(one, checkpoint: F.checkpoint(0xB), score: 0.1), from: F.evaluator, now: 4)
        return (machine, actions)
    }

    @Test func noExploitBeforeBurnIn() {
        let (machine, actions) = Self.twoMembersScoredAtStepFour(
            F.settings(exploit: .truncation(fraction: 0.5), burnIn: 8))
        #expect(actions.decisions.map(\.decision) == [.keep, .keep])
        #expect(actions.exploited.isEmpty)
        #expect(machine.members[1].checkpoint == F.checkpoint(0xB))
    }

    /// Two members from their own initial weights; member 1 scores worse at step 4 and would copy
    /// member 0. Under a cap of half the population a lineage holds one member, so the copy is not
    /// made before the cap's `until` step, and is made from it on.
    @Test(arguments: [(until: Int?.none, copies: false), (until: 8, copies: false), (until: 4, copies: true)])
    func aCopyThatWouldTakeALineagePastItsCapIsNotMade(until: Int?, copies: Bool) {
        let (machine, actions) = Self.twoMembersScoredAtStepFour(
            F.settings(exploit: .truncation(fraction: 0.5), lineageCap: LineageCap(share: 0.5, until: until)))
        let last = actions.decisions.last
        #expect(last?.member == 1)
        #expect(last?.decision == (copies ? .exploit(donor: 0) : .capped(donor: 0)))
        #expect(actions.exploited.map(\.member) == (copies ? [1] : []))
        #expect(machine.members[1].checkpoint == F.checkpoint(copies ? 0xA : 0xB))
        #expect(machine.members[1].history?.root == (copies ? 0 : 1))
    }

    /// Member 1 scores well at step 4; member 0 scores badly at 4, then is first to reach step 8.
    /// Returns the actions of member 0's scoring at step 8.
    static func leaderScenario(
        tickBeforeStepEight: Bool
    ) -> (machine: SelectorMachine, actions: [SelectorMachine.Action]) {
        var (machine, zero, one) = Self.twoMembersOnTwoTrainers(
            F.settings(exploit: .truncation(fraction: 0.5), progressInterval: 1),
            initial: [F.hyperparameters(0.1), F.hyperparameters(0.9)])
        _ = machine.handle(F.scored(zero, checkpoint: F.checkpoint(0xA0), score: 0.1), from: F.evaluator, now: 0)
        _ = machine.handle(F.scored(one, checkpoint: F.checkpoint(0xB0), score: 0.9), from: F.evaluator, now: 0)
        // Both members now train from step 4 to 8.
        let generation = machine.evaluatorRoutes.generation
        let zeroAgain = machine.handle(
            F.handedOn(zero, received: 1, name: "t1", routes: generation), from: F.trainer, now: 0
        ).trainTasks[0].task
        _ = machine.handle(F.handedOn(one, received: 1, name: "t2", routes: generation), from: F.trainer2, now: 0)
        if tickBeforeStepEight { _ = machine.tick(now: 2) }
        let actions = machine.handle(
            F.scored(zeroAgain, checkpoint: F.checkpoint(0xA1), score: 0.5), from: F.evaluator, now: 3)
        return (machine, actions)
    }

    /// Asynchronous PBT's leader bias: the first member at a step has nobody to be compared with
    /// there, so it is compared where it last had company, and exploits if it was worse there.
    @Test(arguments: [false, true])
    func aMemberFirstAtAStepIsComparedWhereItLastHadCompany(tickBeforeStepEight: Bool) {
        let (machine, actions) = Self.leaderScenario(tickBeforeStepEight: tickBeforeStepEight)
        let decision = actions.decisions.first
        #expect(actions.decisions.count == 1)
        #expect(decision?.member == 0)
        #expect(decision?.step == 8)
        #expect(decision?.comparedAt == 4)
        #expect(decision?.decision == .exploit(donor: 1))
        #expect(decision?.cohort == 2)
        #expect(decision?.rank == 1)
        // It copies the donor as it was at step 4.
        #expect(machine.members[0].step == 4)
        #expect(machine.members[0].checkpoint == F.checkpoint(0xB0))
        #expect(machine.members[0].hyperparameters == F.hyperparameters(0.9))
        #expect(actions.exploited.first?.step == 4)
    }

    /// Two members on two trainers; member 0 reaches step 4 first and scores 0.5, member 1
    /// then scores 0.9 there. Without a lead bound member 0 is decided alone (nobody to be
    /// compared with) and trains on; under `max_lead: 0` it waits, undecided, and is decided
    /// with member 1 in the full cohort at step 4, where it copies member 1.
    @Test(arguments: [Int?.none, 0])
    func underMaxLeadZeroTheMemberFirstAtAStepWaitsUndecidedForTheOther(maxLead: Int?) {
        var (machine, zero, one) = Self.twoMembersOnTwoTrainers(
            F.settings(exploit: .truncation(fraction: 0.5), maxLead: maxLead),
            initial: [F.hyperparameters(0.1), F.hyperparameters(0.9)])
        let first = machine.handle(F.scored(zero, checkpoint: F.checkpoint(0xA), score: 0.5), from: F.evaluator, now: 1)
        if maxLead == nil {
            #expect(first.decisions.map(\.cohort) == [1])
            #expect(machine.members[0].phase == .queued(.trainer))
        } else {
            #expect(first.decisions.isEmpty)
            #expect(machine.members[0].phase == .waiting)
        }
        let second = machine.handle(F.scored(one, checkpoint: F.checkpoint(0xB), score: 0.9), from: F.evaluator, now: 2)
        if maxLead == nil {
            #expect(second.decisions.map(\.member) == [1])
            #expect(machine.members[0].checkpoint == F.checkpoint(0xA))
        } else {
            // Released together, they are decided best first.
            #expect(second.decisions.map(\.member) == [1, 0])
            #expect(second.decisions.allSatisfy { $0.comparedAt == 4 && $0.cohort == 2 })
            #expect(second.decisions.first { $0.member == 0 }?.decision == .exploit(donor: 1))
            #expect(machine.members[0].checkpoint == F.checkpoint(0xB))
            #expect(machine.members[0].step == 4)
        }
    }

    /// `max_lead: 4`, interval 4, three members on two trainers: a member scored two ready
    /// steps ahead of the slowest waits undecided; it is decided (and trained again) the moment
    /// the slowest reaches step 4.
    @Test func underMaxLeadAMemberTooFarAheadIsDecidedWhenTheSlowestComesClose() throws {
        var (machine, zero, one) = Self.twoMembersOnTwoTrainers(
            F.settings(maxSteps: 40, exploit: .none, maxLead: 4),
            initial: [F.hyperparameters(0.1), F.hyperparameters(0.3), F.hyperparameters(0.5)])
        let generation = machine.evaluatorRoutes.generation
        #expect([zero.member, one.member] == [0, 1])
        // Trainer 1 hands member 0 on at step 4 and takes member 2 (step 0, furthest behind).
        let two = try #require(
            machine.handle(F.handedOn(zero, received: 1, name: "t1", routes: generation), from: F.trainer, now: 1)
                .trainTasks.first?.task)
        #expect(two.member == 2)
        // Member 0 scores at 4 (members 1 and 2 stand at 0: within the lead): decided, queued.
        var actions = machine.handle(
            F.scored(zero, checkpoint: F.checkpoint(0xA), score: 0.5), from: F.evaluator, now: 2)
        #expect(actions.decisions.map(\.member) == [0])
        // Trainer 2 hands member 1 on and takes member 0 (step 4, within the lead of step 0).
        let zeroAgain = try #require(
            machine.handle(F.handedOn(one, received: 1, name: "t2", routes: generation), from: F.trainer2, now: 3)
                .trainTasks.first?.task)
        #expect(zeroAgain.member == 0 && zeroAgain.step == 4)
        _ = machine.handle(F.scored(one, checkpoint: F.checkpoint(0xB), score: 0.5), from: F.evaluator, now: 4)
        // Member 0 reaches step 8 while member 2 still stands at 0: it waits, undecided.
        _ = machine.handle(
            F.handedOn(zeroAgain, received: 2, name: "t2", routes: generation), from: F.trainer2, now: 5)
        actions = machine.handle(
            F.scored(zeroAgain, checkpoint: F.checkpoint(0xA1), score: 0.6), from: F.evaluator, now: 6)
        #expect(actions.decisions.isEmpty)
        #expect(machine.members[0].phase == .waiting)
        // Member 2 reaches step 4: the slowest now stands at 4, and member 0 is decided at once.
        _ = machine.handle(F.handedOn(two, received: 2, name: "t1", routes: generation), from: F.trainer, now: 7)
        actions = machine.handle(F.scored(two, checkpoint: F.checkpoint(0xC), score: 0.5), from: F.evaluator, now: 8)
        #expect(Set(actions.decisions.map(\.member)) == [0, 2])
        #expect(machine.members[0].phase != .waiting)
        #expect(machine.members[0].step == 8)
    }

    /// A lead too large to add to a step (`max_lead: 9223372036854775807`, "no bound") is no
    /// bound, and traps nowhere: every member is decided as it is scored.
    @Test func aLeadTooLargeToAddIsNoBound() {
        let (machine, actions) = Self.twoMembersScoredAtStepFour(
            F.settings(exploit: .truncation(fraction: 0.5), maxLead: .max))
        #expect(actions.decisions.map(\.member) == [0, 1])
        #expect(machine.members.allSatisfy { $0.phase == .queued(.trainer) })
    }

    /// A member saved while it waited for the slowest (`max_lead`) is decided by the restored
    /// machine as soon as the slowest is close enough: at its first tick when it already is.
    @Test func aRestoredMachineDecidesAMemberSavedWhileWaiting() throws {
        var (machine, zero, _) = Self.twoMembersOnTwoTrainers(
            F.settings(exploit: .truncation(fraction: 0.5), maxLead: 0),
            initial: [F.hyperparameters(0.1), F.hyperparameters(0.9)])
        _ = machine.handle(F.scored(zero, checkpoint: F.checkpoint(0xA), score: 0.5), from: F.evaluator, now: 1)
        #expect(machine.members[0].phase == .waiting)
        // Saved as the slowest (member 1) is given up: nobody holds member 0 back any more.
        var members = machine.members
        members[1].phase = .failed
        let saved = SelectorMachine.SavedState(
            members: members, scores: [], steps: 4, exploits: 0, elapsed: 1, forgottenBelow: 0, bestEver: nil)
        var restored = SelectorMachine(settings: machine.settings, name: "exp", restoring: saved, now: 10)
        #expect(restored.members[0].phase == .waiting)
        let actions = restored.tick(now: 10)
        #expect(actions.decisions.map(\.member) == [0])
        #expect(restored.members[0].phase == .queued(.trainer))
    }

    // MARK: Restarting

    /// After a restart, what was out waits one silence, not a lease: a trainer that is still
    /// training says so and keeps its member; a member nobody speaks for goes out again.
    @Test func aRestoredMachineReissuesWhatNobodySpeaksForAfterOneSilence() {
        var machine = Self.machine(F.settings(leaseTimeout: 30, silenceTimeout: 3), members: 2)
        _ = machine.handle(F.ready(.trainer, name: "alive"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "dead"), from: F.trainer2, now: 0)
        let saved = SelectorMachine.SavedState(
            members: machine.members, scores: [], steps: 0, exploits: 0, elapsed: 1, forgottenBelow: 0, bestEver: nil)
        var restored = SelectorMachine(settings: machine.settings, name: "exp", restoring: saved, now: 100)
        #expect(restored.members.map(\.phase) == [.training(F.trainer), .training(F.trainer2)])
        _ = restored.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 101)
        _ = restored.handle(.progress(member: 0, version: 1, step: 2), from: F.trainer, now: 102)
        _ = restored.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 103.5)
        let after = restored.tick(now: 103.5)
        #expect(after.workersLeft.map(\.worker) == ["dead"])
        #expect(after.leaseReleases.map(\.member) == [1])
        #expect(restored.members[0].phase == .training(F.trainer), "its trainer spoke up")
        #expect(restored.members[1].phase == .queued(.trainer))
        // A result for the task leased before the restart is still welcome.
        let scored = restored.handle(
            F.scored(0, version: 1, from: 0, step: 4, checkpoint: F.checkpoint(5), score: 1), from: F.evaluator,
            now: 104)
        #expect(scored.trained.count == 1)
        // The next task jumps past any version sent but never stored.
        let next = restored.handle(
            F.handedOn(
                TrainTask(
                    member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: F.initial(1)[0], seed: 0
                ), received: 1, name: "alive"), from: F.trainer, now: 104)
        #expect(next.trainTasks.first.map { $0.task.version > SelectorMachine.versionsSkippedOnRestore } == true)
    }

    /// New lineage segments are numbered above every segment the store holds, also those no
    /// member or score points at any more (the store ignores a second row with a used id).
    @Test func aRestoredMachineNumbersNewSegmentsAboveEveryStoredOne() {
        var machine = Self.machine(F.settings(), members: 1)
        let task = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0).trainTasks[0].task
        _ = machine.handle(F.scored(task, checkpoint: F.checkpoint(1), score: 0.5), from: F.evaluator, now: 1)
        let referenced = machine.members[0].history?.id ?? 0
        for stored in [0, referenced + 40] {
            let saved = SelectorMachine.SavedState(
                members: machine.members, scores: [], steps: 4, exploits: 0, elapsed: 1, forgottenBelow: 0,
                bestEver: nil, highestSegmentID: stored)
            let restored = SelectorMachine(settings: machine.settings, name: "exp", restoring: saved, now: 2)
            #expect(restored.nextSegmentID == max(referenced, stored) + 1)
        }
    }

    // MARK: Determinism

    static func simulate(seed: UInt64) -> [SelectorMachine.Action] {
        var simulation = Simulation(
            settings: F.settings(
                seed: seed, interval: 2, maxSteps: 20, exploit: .truncation(fraction: 0.25), explores: true),
            initial: F.initial(6), trainers: [F.trainer])
        simulation.run()
        return simulation.log
    }

    @Test func theSameInputsGiveTheSameActions() {
        let a = Self.simulate(seed: 7)
        let b = Self.simulate(seed: 7)
        #expect(a == b)
        #expect(a.summaries.count == 1)
        #expect(a.exploited.count > 0)
        #expect(Self.simulate(seed: 8) != a, "the seed drives exploit and explore")
    }

    @Test func aLongerRunWithTournamentStaysConsistent() {
        var simulation = Simulation(
            settings: F.settings(seed: 3, interval: 3, maxSteps: 30, exploit: .tournament, explores: true),
            initial: F.initial(5), explore: .noise(std: 0.2, resampleProbability: 0.2),
            trainers: [F.trainer, F.trainer2])
        simulation.run()
        let log = simulation.log
        #expect(log.summaries.count == 1)
        #expect(log.dropped.isEmpty)
        for decision in log.decisions {
            if case .exploit(let donor) = decision.decision { #expect(donor != decision.member) }
        }
        if let best = log.summaries.first?.best {
            #expect(best.step == 30)
            Self.expectConsistent(best, trained: log.trained)
        } else {
            Issue.record("no best member")
        }
    }
}

/// What the machine asks a store to keep, and how batches merge when written as one.
@Suite("SelectorMachine.Changes")
struct SelectorChangesTests {
    typealias F = Fixture

    @Test func everyInputEndsWithWhatChangedAndBatchesMergeIntoWhatOneWouldHold() throws {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        let first = try #require(machine.endBatch().persisted.first)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 1)
        let assigned = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        let second = try #require(machine.endBatch().persisted.first)
        #expect(second.members.keys.sorted() == [0])
        #expect(second.members[0]?.phase == .training(F.trainer))
        #expect(machine.endBatch().isEmpty, "nothing changed since")
        let task = assigned.trainTasks[0].task
        _ = machine.handle(F.scored(task, checkpoint: F.checkpoint(1), score: 0.5), from: F.evaluator, now: 3)
        let third = try #require(machine.endBatch().persisted.first)
        #expect(third.segments.count == 1)
        #expect(third.scores.count == 1)

        var merged = first
        merged.append(second)
        merged.append(third)
        #expect(
            Set(merged.members.keys) == Set(first.members.keys).union(second.members.keys).union(third.members.keys))
        #expect(merged.members[0]?.step == 4, "the latest row wins")
        #expect(merged.segments.map(\.id) == (first.segments + second.segments + third.segments).map(\.id))
        #expect(merged.scores.count == 1)
        #expect(!merged.isEmpty)
    }

    @Test(arguments: [(nil, nil, nil), (4, nil, 4), (nil, 8, 8), (4, 8, 8), (8, 4, 8)] as [(Int?, Int?, Int?)])
    func forgettingKeepsTheHighestStep(earlier: Int?, later: Int?, merged: Int?) {
        var a = SelectorMachine.Changes()
        a.forgetBelow = earlier
        var b = SelectorMachine.Changes()
        b.forgetBelow = later
        a.append(b)
        #expect(a.forgetBelow == merged)
    }
}
