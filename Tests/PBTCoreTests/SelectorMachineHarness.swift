import PBTCore

/// What the selector machine tests share: settings, worker ids, and ways to read actions.
enum Fixture {
    static let experimentID = "test-0123456789abcdef"
    static let space = SearchSpace([Hyperparameter(name: "lr", domain: .uniform(low: 0, high: 1))])

    static let trainer = WorkerID([0x01])
    static let trainer2 = WorkerID([0x02])
    static let evaluator = WorkerID([0x11])
    static let mutator = WorkerID([0x21])

    static func settings(
        seed: UInt64 = 1, interval: Int = 4, maxSteps: Int = 12, targetScore: Double? = nil, timeBudget: Double? = nil,
        exploit: ExploitStrategy = .truncation(fraction: 0.5), explores: Bool = false, objective: Objective = .maximize,
        burnIn: Int = 0, leaseTimeout: Double = 30, workerTimeout: Double = 1_000, maxFailures: Int = 3,
        minTrainers: Int = 1, startTimeout: Double = 10, progressInterval: Double = 1_000, space: SearchSpace? = space
    ) -> SelectorSettings {
        SelectorSettings(
            experimentID: experimentID, seed: seed, interval: interval,
            stop: StopCondition(maxSteps: maxSteps, targetScore: targetScore, timeBudget: timeBudget),
            exploit: exploit, explores: explores, objective: objective, burnIn: burnIn, leaseTimeout: leaseTimeout,
            workerTimeout: workerTimeout, maxFailures: maxFailures, minTrainers: minTrainers,
            startTimeout: startTimeout,
            progressInterval: progressInterval, space: space)
    }

    static func hyperparameters(_ lr: Double) -> Hyperparameters {
        Hyperparameters(["lr": .real(lr)])
    }

    /// Starting hyperparameters for `count` members: lr 0.1, 0.3, 0.5, …
    static func initial(_ count: Int) -> [Hyperparameters] {
        (0..<count).map { hyperparameters(0.1 + 0.2 * Double($0 % 5)) }
    }

    /// A well-formed checkpoint reference (64 lowercase hex digits) numbered `n`.
    static func checkpoint(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 64 - hex.count) + hex
    }

    static func ready(_ role: WorkerRole, received: Int = 0, name: String, experimentID: String = experimentID)
        -> WorkerReport
    {
        .ready(role: role, received: received, name: name, experimentID: experimentID)
    }

    static func trained(_ member: Int, version: Int, step: Int, checkpoint: String, score: Double = 0) -> WorkerReport {
        .trained(
            TrainResult(
                member: member, version: version, step: step, checkpoint: checkpoint, metrics: ["score": score],
                seconds: 1))
    }

    static func scored(_ member: Int, version: Int, score: Double) -> WorkerReport {
        .scored(EvaluateResult(member: member, version: version, score: score))
    }
}

extension Array where Element == SelectorMachine.Action {
    var events: [PBTEvent] {
        compactMap { if case .publish(let event) = $0 { event } else { nil } }
    }

    var sends: [(worker: WorkerID, command: WorkerCommand)] {
        compactMap { if case .send(let worker, let command) = $0 { (worker, command) } else { nil } }
    }

    var trainTasks: [(worker: WorkerID, task: TrainTask)] {
        sends.compactMap { if case .train(let task) = $0.command { ($0.worker, task) } else { nil } }
    }

    var evaluateTasks: [(worker: WorkerID, task: EvaluateTask)] {
        sends.compactMap { if case .evaluate(let task) = $0.command { ($0.worker, task) } else { nil } }
    }

    var exploreTasks: [(worker: WorkerID, task: ExploreTask)] {
        sends.compactMap { if case .explore(let task) = $0.command { ($0.worker, task) } else { nil } }
    }

    var summaries: [ExperimentSummary] {
        compactMap { if case .finish(let summary) = $0 { summary } else { nil } }
    }

    var dropped: [(member: Int, version: Int, worker: String, reason: String)] {
        events.compactMap {
            if case .resultDropped(let member, let version, let worker, let reason) = $0 {
                (member, version, worker, reason)
            } else {
                nil
            }
        }
    }

    var decisions: [(member: Int, step: Int, comparedAt: Int, decision: ExploitDecision, cohort: Int, rank: Int?)] {
        events.compactMap {
            if case .memberDecided(let member, let step, let comparedAt, let decision, let cohort, let rank) = $0 {
                (member, step, comparedAt, decision, cohort, rank)
            } else {
                nil
            }
        }
    }

    var exploited: [PBTEvent.MemberExploited] {
        events.compactMap { if case .memberExploited(let event) = $0 { event } else { nil } }
    }

    var trained: [PBTEvent.MemberTrained] {
        events.compactMap { if case .memberTrained(let event) = $0 { event } else { nil } }
    }

    var leaseExpiries: [(member: Int, version: Int)] {
        events.compactMap {
            if case .leaseExpired(let member, let version, _, _) = $0 { (member, version) } else { nil }
        }
    }

    var leaseReleases: [(member: Int, version: Int, reason: String)] {
        events.compactMap {
            if case .leaseReleased(let member, let version, _, _, let reason) = $0 { (member, version, reason) } else { nil }
        }
    }

    var workersLeft: [(worker: String, reason: String)] {
        events.compactMap { if case .workerLeft(_, let worker, let reason) = $0 { (worker, reason) } else { nil } }
    }
}

/// Drives a selector machine with workers that answer at once, in the order tasks were sent.
///
/// A checkpoint holds a quality that training raises by `lr` a step; the score is the quality,
/// so members with a larger `lr` pull ahead and exploit has something to copy. Mutators run
/// the real `explore` with the seed the task carries.
struct Simulation {
    var machine: SelectorMachine
    var now = 0.0
    var log: [SelectorMachine.Action] = []
    var pending: [(worker: WorkerID, command: WorkerCommand)] = []
    var quality: [String: Double] = [:]
    var checkpoints = 0
    let explore: ExploreStrategy

    init(
        settings: SelectorSettings, initial: [Hyperparameters], explore: ExploreStrategy = .defaultPerturb,
        workers: [(WorkerID, WorkerRole)]
    ) {
        machine = SelectorMachine(settings: settings, name: "sim", initial: initial)
        self.explore = explore
        apply(machine.start(now: now))
        for (index, (id, role)) in workers.enumerated() {
            apply(machine.handle(Fixture.ready(role, name: "\(role)-\(index)"), from: id, now: now))
        }
    }

    mutating func apply(_ actions: [SelectorMachine.Action]) {
        log += actions
        pending += actions.sends
    }

    /// Answers tasks until none is left or the experiment finished.
    mutating func run(limit: Int = 10_000) {
        var answered = 0
        while !pending.isEmpty, !machine.isFinished, answered < limit {
            let (worker, command) = pending.removeFirst()
            answered += 1
            now += 1
            guard let report = answer(command) else { continue }
            apply(machine.handle(report, from: worker, now: now))
        }
    }

    mutating func answer(_ command: WorkerCommand) -> WorkerReport? {
        switch command {
        case .train(let task):
            let start = task.checkpoint.flatMap { quality[$0] } ?? 0
            let value = start + (task.hyperparameters.number("lr") ?? 0) * Double(task.steps)
            checkpoints += 1
            let reference = Fixture.checkpoint(checkpoints)
            quality[reference] = value
            return Fixture.trained(
                task.member, version: task.version, step: task.step + task.steps, checkpoint: reference, score: value)
        case .evaluate(let task):
            return Fixture.scored(task.member, version: task.version, score: quality[task.checkpoint] ?? -1)
        case .explore(let task):
            var random = SplitMix64(seed: task.seed)
            let outcome = explore.explore(task.hyperparameters, in: Fixture.space, using: &random)
            return .explored(
                ExploreResult(
                    member: task.member, version: task.version, hyperparameters: outcome.hyperparameters,
                    changes: outcome.changes))
        case .welcome, .finished:
            return nil
        }
    }
}
