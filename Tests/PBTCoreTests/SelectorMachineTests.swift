import Testing

@testable import PBTCore

/// The selector's state machine driven directly: dispatch, leases, results, exploit, stopping.
@Suite("SelectorMachine")
struct SelectorMachineTests {
    typealias F = Fixture

    // MARK: Starting and dispatch

    @Test func startQueuesEveryMemberAndSendsNothing() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(3))
        let actions = machine.start(now: 0)
        #expect(actions == [.publish(.experimentStarted(name: "exp", population: 3, hyperparameters: ["lr"]))])
        #expect(machine.members.map(\.phase) == Array(repeating: .queued(.trainer), count: 3))
        #expect(machine.members.map(\.version) == [0, 0, 0])
        #expect(machine.members.map(\.hyperparameters) == F.initial(3))
        #expect(!machine.isFinished)
    }

    @Test func noTrainTaskBeforeATrainerIsReadyForThisExperiment() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)

        let evaluator = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 1)
        #expect(evaluator.sends.isEmpty, "an evaluator gets no training")

        let stranger = machine.handle(F.ready(.trainer, name: "t", experimentID: "other-0000"), from: F.trainer, now: 2)
        #expect(stranger == [.welcome(F.trainer)])
        #expect(machine.workerCount(.trainer) == 0)

        let joined = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 3)
        #expect(joined.events.contains(.workerJoined(role: .trainer, worker: "t")))
        #expect(joined.events.contains(.memberAssigned(member: 0, version: 1, role: .trainer, worker: "t", step: 0)))
        let expected = TrainTask(
            member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: F.initial(2)[0],
            seed: machine.members[0].seed)
        #expect(joined.sends.count == 1)
        #expect(joined.trainTasks.first?.worker == F.trainer)
        #expect(joined.trainTasks.first?.task == expected)
        #expect(machine.members[0].phase == .leased(.trainer, worker: F.trainer, deadline: 33))
        #expect(machine.members[1].phase == .queued(.trainer))
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
        var machine = SelectorMachine(
            settings: F.settings(minTrainers: 2, startTimeout: 10), name: "exp", initial: F.initial(3))
        var actions = machine.start(now: 0)
        actions += machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        #expect(actions.trainTasks.isEmpty, "one trainer of two")
        if let at = row.secondTrainerAt {
            actions += machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: at)
        }
        if let at = row.tickAt { actions += machine.tick(now: at) }
        #expect(actions.trainTasks.count == row.dispatched)
        #expect(Set(actions.trainTasks.map(\.worker)).count == row.dispatched, "one task a trainer")
    }

    @Test func aTrainerHoldsOneTaskAtATime() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        let first = machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 1)
        #expect(first.trainTasks.map(\.task.member) == [0])
        #expect(machine.busyCount(.trainer) == 1)

        // The same ready again, sent before the task arrived: no second task.
        let stale = machine.handle(F.ready(.trainer, received: 0, name: "t"), from: F.trainer, now: 2)
        #expect(stale.isEmpty)
        #expect(machine.workers[F.trainer]?.member == 0)
        #expect(machine.members[1].phase == .queued(.trainer))

        // A ready that counts the task means the task was lost: it goes back to the queue,
        // and the trainer gets exactly one task again.
        let fresh = machine.handle(F.ready(.trainer, received: 1, name: "t"), from: F.trainer, now: 3)
        #expect(fresh.leaseReleases.map(\.member) == [0])
        #expect(fresh.trainTasks.count == 1)
        #expect(fresh.trainTasks.first?.task.member == 1)
        #expect(machine.members[0].phase == .queued(.trainer))
        #expect(machine.busyCount(.trainer) == 1)
    }

    @Test func twoIdleTrainersTakeTwoQueuedMembers() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(3))
        _ = machine.start(now: 0)
        var actions = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        actions += machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 1)
        #expect(actions.trainTasks.map(\.task.member) == [0, 1])
        #expect(actions.trainTasks.map(\.worker) == [F.trainer, F.trainer2])
        #expect(machine.busyCount(.trainer) == 2)
    }

    /// Two members trained at once, for the window tests: both queued for an evaluator.
    static func twoAwaitingEvaluation(window: Int) -> SelectorMachine {
        var settings = F.settings()
        settings.taskWindow = [.evaluator: window, .trainer: 5]
        var machine = SelectorMachine(settings: settings, name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 1)
        _ = machine.handle(F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(1)), from: F.trainer, now: 2)
        _ = machine.handle(F.trained(1, version: 1, step: 4, checkpoint: F.checkpoint(2)), from: F.trainer2, now: 2)
        return machine
    }

    @Test func anEvaluatorWithAWindowHoldsSeveralTasksAndATrainerStillOne() {
        var machine = Self.twoAwaitingEvaluation(window: 2)
        // The trainers' window stays 1 whatever the settings say (DESIGN invariant 2).
        #expect(machine.settings.window(for: .trainer) == 1)
        let actions = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 3)
        #expect(actions.evaluateTasks.map(\.task.member) == [0, 1])
        #expect(machine.workers[F.evaluator]?.tasks == [0: 2, 1: 2])
        #expect(machine.busyCount(.evaluator) == 1)

        // One result frees one place; the other task is still held.
        _ = machine.handle(F.scored(0, version: 2, score: 0.5), from: F.evaluator, now: 4)
        #expect(machine.workers[F.evaluator]?.tasks == [1: 2])
        #expect(machine.members[1].phase == .leased(.evaluator, worker: F.evaluator, deadline: 33))
    }

    @Test func withAWindowOfOneTheSecondMemberWaitsForTheFirstResult() {
        var machine = Self.twoAwaitingEvaluation(window: 1)
        let actions = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 3)
        #expect(actions.evaluateTasks.map(\.task.member) == [0])
        #expect(machine.members[1].phase == .queued(.evaluator))
        let next = machine.handle(F.scored(0, version: 2, score: 0.5), from: F.evaluator, now: 4)
        #expect(next.evaluateTasks.map(\.task.member) == [1])
    }

    @Test func everyTaskAWorkerHeldGoesBackWhenItLeavesOrTurnsUpIdle() {
        var machine = Self.twoAwaitingEvaluation(window: 4)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 3)
        // A ready sent before the tasks arrived changes nothing.
        #expect(machine.handle(F.ready(.evaluator, received: 1, name: "e"), from: F.evaluator, now: 4).isEmpty)
        // One that counts both: both were lost, and both go out again with new versions.
        let idle = machine.handle(F.ready(.evaluator, received: 2, name: "e"), from: F.evaluator, now: 5)
        #expect(idle.leaseReleases.map(\.member).sorted() == [0, 1])
        #expect(idle.evaluateTasks.map(\.task.version) == [3, 3])
        // Goodbye releases everything it holds.
        let gone = machine.handle(.goodbye, from: F.evaluator, now: 6)
        #expect(gone.leaseReleases.map(\.member).sorted() == [0, 1])
        #expect(machine.members[0].phase == .queued(.evaluator) && machine.members[1].phase == .queued(.evaluator))
    }

    @Test func tasksGoRoundRobinToWorkersWithRoom() {
        var settings = F.settings()
        settings.taskWindow = [.evaluator: 8]
        var machine = SelectorMachine(settings: settings, name: "exp", initial: F.initial(4))
        _ = machine.start(now: 0)
        for (index, id) in [F.trainer, F.trainer2, WorkerID([3]), WorkerID([4])].enumerated() {
            _ = machine.handle(F.ready(.trainer, name: "t\(index)"), from: id, now: 1)
        }
        let second = WorkerID([0x12])
        _ = machine.handle(F.ready(.evaluator, name: "e1"), from: F.evaluator, now: 1)
        _ = machine.handle(F.ready(.evaluator, name: "e2"), from: second, now: 1)
        var sent: [WorkerID] = []
        for (index, id) in [F.trainer, F.trainer2, WorkerID([3]), WorkerID([4])].enumerated() {
            sent += machine.handle(F.trained(index, version: 1, step: 4, checkpoint: F.checkpoint(index + 1)), from: id, now: 2).evaluateTasks.map(\.worker)
        }
        #expect(sent == [F.evaluator, second, F.evaluator, second])
    }

    // MARK: The cycle

    /// One member, one trainer, one evaluator, through train → evaluate → decide → train.
    /// Ends with member 0 leased to the trainer at version 3, from step 4, and a second idle trainer.
    static func cycled() -> (machine: SelectorMachine, log: [[SelectorMachine.Action]]) {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(1))
        var log: [[SelectorMachine.Action]] = []
        log.append(machine.start(now: 0))
        log.append(machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 1))
        log.append(machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 2))
        log.append(
            machine.handle(
                F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(1), score: 0.3), from: F.trainer, now: 3))
        log.append(machine.handle(F.scored(0, version: 2, score: 0.3), from: F.evaluator, now: 4))
        log.append(machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 5))
        return (machine, log)
    }

    @Test func aMemberGoesRoundTheRing() {
        let (machine, log) = Self.cycled()
        let hyperparameters = F.initial(1)[0]
        let seed = machine.members[0].seed

        #expect(
            log[1].trainTasks.first?.task
                == TrainTask(
                    member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: hyperparameters,
                    seed: seed))

        #expect(
            log[3].trained == [
                PBTEvent.MemberTrained(
                    member: 0, version: 1, trainer: "t", fromStep: 0, step: 4, seconds: 1, checkpoint: F.checkpoint(1),
                    hyperparameters: hyperparameters, metrics: ["score": 0.3], interrupted: false)
            ])
        #expect(log[3].evaluateTasks.first?.worker == F.evaluator)
        #expect(
            log[3].evaluateTasks.first?.task
                == EvaluateTask(
                    member: 0, version: 2, step: 4, checkpoint: F.checkpoint(1), hyperparameters: hyperparameters,
                    metrics: ["score": 0.3]))

        #expect(log[4].events.contains(.memberScored(member: 0, version: 2, step: 4, score: 0.3, evaluator: "e")))
        #expect(log[4].decisions.map(\.decision) == [.notEnoughData])
        #expect(log[4].trainTasks.first?.worker == F.trainer)
        #expect(
            log[4].trainTasks.first?.task
                == TrainTask(
                    member: 0, version: 3, step: 4, steps: 4, checkpoint: F.checkpoint(1),
                    hyperparameters: hyperparameters, seed: seed))

        let versions = log.flatMap(\.sends).compactMap { send -> Int? in
            switch send.command {
            case .train(let task): task.version
            case .evaluate(let task): task.version
            default: nil
            }
        }
        #expect(versions == [1, 2, 3], "every dispatch bumps the version")

        let member = machine.members[0]
        #expect(member.version == 3)
        #expect(member.step == 4)
        #expect(member.checkpoint == F.checkpoint(1))
        #expect(member.score == 0.3)
        #expect(member.phase == .leased(.trainer, worker: F.trainer, deadline: 34))
        #expect(machine.steps == 4)
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

    static let badResults: [BadResult] = [
        .init(
            label: "stale version", report: F.trained(0, version: 1, step: 8, checkpoint: F.checkpoint(9)),
            from: F.trainer,
            member: 0, version: 1, worker: "t", reason: "stale version 1, current 3"),
        .init(
            label: "wrong worker", report: F.trained(0, version: 3, step: 8, checkpoint: F.checkpoint(9)),
            from: F.trainer2,
            member: 0, version: 3, worker: "t2", reason: "not leased to this trainer"),
        .init(
            label: "unknown member", report: F.trained(7, version: 3, step: 8, checkpoint: F.checkpoint(9)),
            from: F.trainer,
            member: 7, version: 3, worker: "t", reason: "unknown member"),
        .init(
            label: "negative member", report: F.scored(-1, version: 1, score: 1), from: F.evaluator,
            member: -1, version: 1, worker: "e", reason: "unknown member"),
        .init(
            label: "score for a member in training", report: F.scored(0, version: 3, score: 1), from: F.evaluator,
            member: 0, version: 3, worker: "e", reason: "not leased to this evaluator"),
        .init(
            label: "explored by a stranger",
            report: .explored(
                ExploreResult(member: 0, version: 3, hyperparameters: F.hyperparameters(0.2), changes: [:])),
            from: F.mutator, member: 0, version: 3, worker: "worker-21", reason: "not leased to this mutator"),
        .init(
            label: "stale failure", report: .failed(member: 0, version: 2, reason: "boom"), from: F.trainer,
            member: 0, version: 2, worker: "t", reason: "stale version 2, current 3"),
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
        #expect(actions.sends.isEmpty)
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

    @Test func aTrainedStepOutsideTheTaskIsDroppedAndReissued() {
        var (machine, _) = Self.cycled()
        let actions = machine.handle(
            F.trained(0, version: 3, step: 9, checkpoint: F.checkpoint(9)), from: F.trainer, now: 6)
        #expect(actions.dropped.map(\.reason) == ["step 9 outside 5...8"])
        #expect(actions.trainTasks.map(\.task.version) == [4])
        #expect(actions.trainTasks.first?.task.step == 4)
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(1))
        #expect(machine.steps == 4)
    }

    @Test func anInterruptedTrainingResumesFromWhereItStopped() {
        var (machine, _) = Self.cycled()
        let result = TrainResult(
            member: 0, version: 3, step: 6, checkpoint: F.checkpoint(2), metrics: [:], seconds: 1, interrupted: true)
        let actions = machine.handle(.trained(result), from: F.trainer, now: 6)
        #expect(actions.trained.first?.interrupted == true)
        #expect(actions.trained.first?.fromStep == 4)
        #expect(actions.evaluateTasks.isEmpty, "not ready until step 8")
        let task = actions.trainTasks.first?.task
        #expect(task?.step == 6)
        #expect(task?.steps == 2)
        #expect(task?.checkpoint == F.checkpoint(2))
        #expect(machine.steps == 6)
    }

    @Test func releasedMembersAreReissuedWithoutAFailure() {
        var (machine, _) = Self.cycled()
        let actions = machine.handle(.released(member: 0, version: 3), from: F.trainer, now: 6)
        #expect(actions.dropped.isEmpty)
        #expect(actions.trainTasks.map(\.task.version) == [4])
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(1))
        #expect(machine.members[0].failures == 0)
    }

    // MARK: Leases and workers

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
        var machine = SelectorMachine(settings: F.settings(leaseTimeout: 30), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        if let at = row.progressAt {
            #expect(
                machine.handle(.progress(member: 0, version: row.progressVersion, step: 2), from: F.trainer, now: at)
                    .isEmpty)
        }
        let actions = machine.tick(now: row.tickAt)
        if row.expires {
            #expect(actions.events.contains(.leaseExpired(member: 0, version: 1, role: .trainer, worker: "t")))
            #expect(actions.workersLeft.map(\.reason) == ["lease expired"])
            #expect(machine.members[0].phase == .queued(.trainer))
            let next = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: row.tickAt + 1)
            #expect(next.trainTasks.first?.worker == F.trainer2)
            #expect(next.trainTasks.first?.task.version == 2)
            let late = machine.handle(
                F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(1)), from: F.trainer, now: row.tickAt + 2)
            #expect(late.dropped.map(\.reason) == ["stale version 1, current 2"])
            #expect(machine.members[0].step == 0)
        } else {
            #expect(actions.leaseExpiries.isEmpty)
            guard case .leased(.trainer, let worker, _) = machine.members[0].phase else {
                Issue.record("not leased: \(machine.members[0].phase)")
                return
            }
            #expect(worker == F.trainer)
        }
    }

    @Test func goodbyeFromABusyWorkerReissuesItsMemberAtOnce() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        let actions = machine.handle(.goodbye, from: F.trainer, now: 1)
        #expect(actions.events.contains(.leaseReleased(member: 0, version: 1, role: .trainer, worker: "t1", reason: "goodbye")))
        #expect(actions.events.contains(.workerLeft(role: .trainer, worker: "t1", reason: "goodbye")))
        #expect(actions.trainTasks.map(\.worker) == [F.trainer2])
        #expect(actions.trainTasks.map(\.task.version) == [2])
        #expect(machine.workerCount(.trainer) == 1)
    }

    @Test func goodbyeFromAnIdleWorkerOnlyRemovesIt() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        let actions = machine.handle(.goodbye, from: F.evaluator, now: 1)
        #expect(actions == [.publish(.workerLeft(role: .evaluator, worker: "e", reason: "goodbye"))])
        #expect(machine.workerCount(.evaluator) == 0)
    }

    @Test(arguments: [(5.0, nil as Double?, false), (11.0, nil, true), (11.0, 6.0, false), (17.0, 6.0, true)])
    func silentIdleWorkersAreRemoved(tickAt: Double, readyAgainAt: Double?, removed: Bool) {
        var machine = SelectorMachine(
            settings: F.settings(leaseTimeout: 100, workerTimeout: 10), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "busy"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "idle"), from: F.trainer2, now: 0)
        if let at = readyAgainAt { _ = machine.handle(F.ready(.trainer, name: "idle"), from: F.trainer2, now: at) }
        let actions = machine.tick(now: tickAt)
        #expect(actions.workersLeft.map(\.worker) == (removed ? ["idle"] : []))
        if removed { #expect(actions.workersLeft.first?.reason == "silent for 10 s") }
        #expect(machine.workers[F.trainer] != nil, "a busy worker is judged by its lease, not its silence")
        #expect(machine.workerCount(.trainer) == (removed ? 1 : 2))
    }

    // MARK: Failures

    @Test func aMemberThatKeepsFailingIsGivenUpAndTheExperimentStillFinishes() {
        var machine = SelectorMachine(
            settings: F.settings(maxSteps: 4, maxFailures: 1), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        let first = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        #expect(first.trainTasks.map(\.task.member) == [0])

        let failedOnce = machine.handle(.failed(member: 0, version: 1, reason: "boom"), from: F.trainer, now: 1)
        #expect(failedOnce.events.contains(.memberFailed(member: 0, version: 1, reason: "boom", givenUp: false)))
        #expect(machine.members[0].failures == 1)
        #expect(failedOnce.trainTasks.map(\.task.member) == [1], "the next member in the queue")

        let trained = machine.handle(
            F.trained(1, version: 1, step: 4, checkpoint: F.checkpoint(1)), from: F.trainer, now: 2)
        #expect(trained.evaluateTasks.map(\.task.member) == [1])
        #expect(trained.trainTasks.map(\.task.member) == [0])
        #expect(trained.trainTasks.first?.task.version == 2)

        let failedTwice = machine.handle(.failed(member: 0, version: 2, reason: "boom"), from: F.trainer, now: 3)
        #expect(failedTwice.events.contains(.memberFailed(member: 0, version: 2, reason: "boom", givenUp: true)))
        #expect(machine.members[0].phase == .failed)
        #expect(failedTwice.trainTasks.isEmpty)
        #expect(!machine.isFinished)

        let scored = machine.handle(F.scored(1, version: 2, score: 0.5), from: F.evaluator, now: 4)
        #expect(scored.events.contains(.memberFinished(member: 1, step: 4, score: 0.5)))
        let summary = scored.summaries.first
        #expect(summary?.reason == .maxSteps)
        #expect(summary?.best?.member == 1)
        #expect(summary?.members.map(\.failed) == [true, false])
        #expect(machine.isFinished)
    }

    @Test func failuresCountOnlyInARow() {
        var machine = SelectorMachine(settings: F.settings(maxFailures: 1), name: "exp", initial: F.initial(1))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 0)
        _ = machine.handle(.failed(member: 0, version: 1, reason: "a"), from: F.trainer, now: 1)
        let trained = machine.handle(
            .trained(
                TrainResult(
                    member: 0, version: 2, step: 2, checkpoint: F.checkpoint(1), metrics: [:], seconds: 1,
                    interrupted: true)),
            from: F.trainer, now: 2)
        #expect(machine.members[0].failures == 0)
        // An interrupted result means the trainer is leaving: it gets no task until it says ready again.
        #expect(trained.trainTasks.isEmpty)
        let back = machine.handle(F.ready(.trainer, received: 2, name: "t"), from: F.trainer, now: 2.5)
        let again = machine.handle(
            .failed(member: 0, version: back.trainTasks.first?.task.version ?? -1, reason: "b"), from: F.trainer,
            now: 3)
        #expect(again.events.contains(.memberFailed(member: 0, version: 3, reason: "b", givenUp: false)))
    }

    @Test func aFailedEvaluationGoesBackToAnEvaluator() {
        var (machine, _) = Self.cycled()
        // Finish the training and fail the evaluation.
        _ = machine.handle(F.trained(0, version: 3, step: 8, checkpoint: F.checkpoint(2)), from: F.trainer, now: 6)
        #expect(machine.members[0].phase == .leased(.evaluator, worker: F.evaluator, deadline: 36))
        let actions = machine.handle(.failed(member: 0, version: 4, reason: "nan"), from: F.evaluator, now: 7)
        #expect(actions.events.contains(.memberFailed(member: 0, version: 4, reason: "nan", givenUp: false)))
        #expect(actions.evaluateTasks.map(\.task.version) == [5])
        #expect(actions.evaluateTasks.first?.task.checkpoint == F.checkpoint(2))
    }

    // MARK: Stopping

    @Test func everyMemberReachingMaxStepsFinishesTheExperiment() throws {
        var simulation = Simulation(
            settings: F.settings(interval: 4, maxSteps: 12, exploit: .truncation(fraction: 0.25), explores: true),
            initial: F.initial(4),
            workers: [(F.trainer, .trainer), (F.trainer2, .trainer), (F.evaluator, .evaluator), (F.mutator, .mutator)])
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
        _ = machine.handle(F.ready(.trainer, name: "t"), from: F.trainer, now: 10)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 10)
        _ = machine.handle(F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(1)), from: F.trainer, now: 11)
        let actions = machine.handle(F.scored(0, version: 2, score: row.score), from: F.evaluator, now: 12)
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

    @Test func progressIsPublishedOnTickAtItsInterval() {
        var machine = SelectorMachine(settings: F.settings(progressInterval: 5), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
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

    /// Two members scored at step 4: member 0 at 0.9 first, member 1 at 0.1 after it.
    static func exploitScenario(explores: Bool) -> (machine: SelectorMachine, actions: [SelectorMachine.Action]) {
        var machine = SelectorMachine(
            settings: F.settings(exploit: .truncation(fraction: 0.5), explores: explores), name: "exp",
            initial: [F.hyperparameters(0.9), F.hyperparameters(0.1)])
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        if explores { _ = machine.handle(F.ready(.mutator, name: "m"), from: F.mutator, now: 0) }
        _ = machine.handle(
            F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(0xA), score: 0.9), from: F.trainer, now: 1)
        _ = machine.handle(
            F.trained(1, version: 1, step: 4, checkpoint: F.checkpoint(0xB), score: 0.1), from: F.trainer2, now: 2)
        let first = machine.handle(F.scored(0, version: 2, score: 0.9), from: F.evaluator, now: 3)
        let second = machine.handle(F.scored(1, version: 2, score: 0.1), from: F.evaluator, now: 4)
        return (machine, first + second)
    }

    @Test func theWorseMemberCopiesTheBetterAndGoesToTheMutator() throws {
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
        #expect(machine.exploits == 1)
        #expect(actions.exploited.isEmpty, "published once explore is done")

        let explore = try #require(actions.exploreTasks.first)
        #expect(explore.worker == F.mutator)
        #expect(
            explore.task
                == ExploreTask(
                    member: 1, version: 3, donor: 0, step: 4, hyperparameters: F.hyperparameters(0.9),
                    seed: SplitMix64.derive(1, 1, 3, SplitMix64.Purpose.explore.rawValue)))

        let changes = ["lr": ExploreChange(from: .real(0.9), to: .real(0.72), how: .scaled(0.8))]
        let explored = machine.handle(
            .explored(ExploreResult(member: 1, version: 3, hyperparameters: F.hyperparameters(0.72), changes: changes)),
            from: F.mutator, now: 5)
        #expect(
            explored.exploited == [
                PBTEvent.MemberExploited(
                    member: 1, donor: 0, step: 4, checkpoint: F.checkpoint(0xA), old: F.hyperparameters(0.1),
                    copied: F.hyperparameters(0.9), new: F.hyperparameters(0.72), changes: changes)
            ])
        let train = try #require(explored.trainTasks.first)
        #expect(train.task.member == 1)
        #expect(train.task.version == 4)
        #expect(train.task.step == 4)
        #expect(train.task.steps == 4)
        #expect(train.task.checkpoint == F.checkpoint(0xA))
        #expect(train.task.hyperparameters == F.hyperparameters(0.72))
        #expect(machine.members[1].hyperparameters == F.hyperparameters(0.72))
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
        let train = actions.trainTasks.last
        #expect(train?.task.member == 1)
        #expect(train?.task.checkpoint == F.checkpoint(0xA))
        #expect(train?.task.hyperparameters == F.hyperparameters(0.9))
        #expect(machine.members[1].phase == .leased(.trainer, worker: train?.worker ?? F.mutator, deadline: 34))
    }

    @Test func exploredValuesOutsideTheSpaceAreRefusedAndExploredAgain() {
        var (machine, _) = Self.exploitScenario(explores: true)
        let actions = machine.handle(
            .explored(ExploreResult(member: 1, version: 3, hyperparameters: F.hyperparameters(1.5), changes: [:])),
            from: F.mutator, now: 5)
        #expect(actions.dropped.map(\.reason) == ["hyperparameter 'lr' = 1.5 is outside its uniform domain"])
        #expect(actions.exploited.isEmpty)
        #expect(actions.exploreTasks.map(\.task.version) == [4])
        #expect(machine.members[1].hyperparameters == F.hyperparameters(0.9))
    }

    @Test func noExploitBeforeBurnIn() {
        var machine = SelectorMachine(
            settings: F.settings(exploit: .truncation(fraction: 0.5), burnIn: 8), name: "exp",
            initial: [F.hyperparameters(0.9), F.hyperparameters(0.1)])
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        _ = machine.handle(F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(0xA)), from: F.trainer, now: 1)
        _ = machine.handle(F.trained(1, version: 1, step: 4, checkpoint: F.checkpoint(0xB)), from: F.trainer2, now: 2)
        let actions =
            machine.handle(F.scored(0, version: 2, score: 0.9), from: F.evaluator, now: 3)
            + machine.handle(F.scored(1, version: 2, score: 0.1), from: F.evaluator, now: 4)
        #expect(actions.decisions.map(\.decision) == [.keep, .keep])
        #expect(actions.exploited.isEmpty)
        #expect(machine.members[1].checkpoint == F.checkpoint(0xB))
    }

    /// Member 1 scores well at step 4; member 0 scores badly at 4, then is first to reach step 8.
    /// Returns the actions of member 0's scoring at step 8.
    static func leaderScenario(tickBeforeStepEight: Bool) -> (
        machine: SelectorMachine, actions: [SelectorMachine.Action]
    ) {
        var machine = SelectorMachine(
            settings: F.settings(exploit: .truncation(fraction: 0.5), progressInterval: 1), name: "exp",
            initial: [F.hyperparameters(0.1), F.hyperparameters(0.9)])
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t2"), from: F.trainer2, now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        _ = machine.handle(F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(0xA0)), from: F.trainer, now: 0)
        _ = machine.handle(F.scored(0, version: 2, score: 0.1), from: F.evaluator, now: 0)
        _ = machine.handle(F.trained(1, version: 1, step: 4, checkpoint: F.checkpoint(0xB0)), from: F.trainer2, now: 0)
        _ = machine.handle(F.scored(1, version: 2, score: 0.9), from: F.evaluator, now: 0)
        // Both members now train from step 4 to 8.
        if tickBeforeStepEight { _ = machine.tick(now: 2) }
        _ = machine.handle(F.trained(0, version: 3, step: 8, checkpoint: F.checkpoint(0xA1)), from: F.trainer, now: 3)
        let actions = machine.handle(F.scored(0, version: 4, score: 0.5), from: F.evaluator, now: 3)
        return (machine, actions)
    }

    /// Asynchronous PBT's leader bias: the first member at a step has nobody to be compared with
    /// there, so it is compared where it last had company, and exploits if it was worse there.
    @Test func aMemberFirstAtAStepIsComparedWhereItLastHadCompany() {
        let (machine, actions) = Self.leaderScenario(tickBeforeStepEight: false)
        Self.expectLeaderExploited(machine, actions)
    }

    @Test
    func theLeaderIsStillComparedAfterAProgressTick() {
        let (machine, actions) = Self.leaderScenario(tickBeforeStepEight: true)
        Self.expectLeaderExploited(machine, actions)
    }

    static func expectLeaderExploited(_ machine: SelectorMachine, _ actions: [SelectorMachine.Action]) {
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
        #expect(actions.trainTasks.first?.task.step == 4)
        #expect(actions.trainTasks.first?.task.checkpoint == F.checkpoint(0xB0))
    }

    // MARK: Determinism

    static func simulate(seed: UInt64) -> [SelectorMachine.Action] {
        var simulation = Simulation(
            settings: F.settings(
                seed: seed, interval: 2, maxSteps: 20, exploit: .truncation(fraction: 0.25), explores: true),
            initial: F.initial(6),
            workers: [(F.trainer, .trainer), (F.evaluator, .evaluator), (F.mutator, .mutator)])
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
            initial: F.initial(5),
            explore: .noise(std: 0.2, resampleProbability: 0.2),
            workers: [(F.trainer, .trainer), (F.trainer2, .trainer), (F.evaluator, .evaluator), (F.mutator, .mutator)])
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

/// What a store commits when it writes several batches as one transaction.
@Suite("SelectorMachine.Changes")
struct SelectorChangesTests {
    typealias F = Fixture

    @Test func batchesTakenOneAfterAnotherMergeIntoWhatOneBatchWouldHold() {
        var machine = SelectorMachine(settings: F.settings(), name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.trainer, name: "t1"), from: F.trainer, now: 1)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 1)
        let first = machine.takeChanges().changes
        _ = machine.handle(F.trained(0, version: 1, step: 4, checkpoint: F.checkpoint(1)), from: F.trainer, now: 2)
        let second = machine.takeChanges().changes
        _ = machine.handle(F.scored(0, version: 2, score: 0.5), from: F.evaluator, now: 3)
        let third = machine.takeChanges().changes

        var merged = first
        merged.append(second)
        merged.append(third)
        #expect(merged.members == first.members.union(second.members).union(third.members))
        #expect(merged.segments.map(\.id) == (first.segments + second.segments + third.segments).map(\.id))
        #expect(merged.scores.map(\.step) == third.scores.map(\.step))
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
