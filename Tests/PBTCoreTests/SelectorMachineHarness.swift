import PBTCore

/// What the selector machine tests share: settings, worker ids, messages, and ways to read actions.
enum Fixture {
    static let experimentID = "test-0123456789abcdef"
    static let space = SearchSpace([Hyperparameter(name: "lr", domain: .uniform(low: 0, high: 1))])

    static let trainer = WorkerID([0x01])
    static let trainer2 = WorkerID([0x02])
    static let evaluator = WorkerID([0x11])
    static let evaluator2 = WorkerID([0x12])
    static let mutator = WorkerID([0x21])

    static func settings(
        seed: UInt64 = 1, interval: Int = 4, maxSteps: Int = 12, targetScore: Double? = nil, timeBudget: Double? = nil,
        totalSteps: Int? = nil, exploit: ExploitStrategy = .truncation(fraction: 0.5), explores: Bool = false,
        objective: Objective = .maximize, burnIn: Int = 0, lineageCap: LineageCap? = nil, leaseTimeout: Double = 30,
        silenceTimeout: Double = 1_000,
        maxTaskSeconds: Double? = nil, maxFailures: Int = 3, benchSeconds: Double = 30, minTrainers: Int = 1,
        startTimeout: Double = 10,
        progressInterval: Double = 1_000, space: SearchSpace? = space, maxLead: Int? = nil
    ) -> SelectorSettings {
        SelectorSettings(
            experimentID: experimentID, seed: seed, interval: interval,
            stop: StopCondition(
                maxSteps: maxSteps, targetScore: targetScore, timeBudget: timeBudget, totalSteps: totalSteps),
            exploit: exploit, explores: explores, objective: objective, burnIn: burnIn, lineageCap: lineageCap,
            leaseTimeout: leaseTimeout,
            silenceTimeout: silenceTimeout, maxTaskSeconds: maxTaskSeconds, maxFailures: maxFailures,
            benchSeconds: benchSeconds,
            minTrainers: minTrainers, startTimeout: startTimeout, progressInterval: progressInterval, space: space,
            maxLead: maxLead)
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

    /// A trainer's `ready` (a credit), optionally saying which member it handed on.
    static func ready(
        _ role: WorkerRole, received: Int = 0, name: String, experimentID: String = experimentID, routes: Int = 0,
        handed: HandedOn? = nil
    ) -> WorkerReport {
        let inlet = role == .trainer ? nil : PeerEndpoint(endpoint: "inproc://\(name)")
        return .ready(
            Ready(
                role: role, received: received, name: name, experimentID: experimentID, inlet: inlet, routes: routes,
                handed: handed))
    }

    /// A trainer's credit after pushing `task`'s result on.
    static func handedOn(_ task: TrainTask, received: Int, name: String, routes: Int = 0) -> WorkerReport {
        ready(
            .trainer, received: received, name: name, routes: routes,
            handed: HandedOn(member: task.member, version: task.version, step: task.step + task.steps))
    }

    static func trainedResult(
        _ member: Int, version: Int, from: Int, step: Int, checkpoint: String, score: Double = 0,
        interrupted: Bool = false
    )
        -> TrainResult
    {
        TrainResult(
            member: member, version: version, fromStep: from, step: step, checkpoint: checkpoint,
            metrics: ["score": score], seconds: 1,
            interrupted: interrupted, trainer: "reported-name")
    }

    /// An evaluator's score for a training `from`…`step`.
    static func scored(
        _ member: Int, version: Int, from: Int, step: Int, checkpoint: String, score: Double
    ) -> WorkerReport {
        .scored(
            EvaluateResult(
                trained: trainedResult(
                    member, version: version, from: from, step: step, checkpoint: checkpoint, score: score),
                score: score))
    }

    /// An evaluator's score for `task`, trained to its end.
    static func scored(_ task: TrainTask, checkpoint: String, score: Double) -> WorkerReport {
        scored(
            task.member, version: task.version, from: task.step, step: task.step + task.steps, checkpoint: checkpoint,
            score: score)
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

    var exploreTasks: [ExploreTask] {
        compactMap { if case .explore(let task) = $0 { task } else { nil } }
    }

    var routes: [(worker: WorkerID, routes: EvaluatorRoutes)] {
        sends.compactMap { if case .evaluators(let routes) = $0.command { ($0.worker, routes) } else { nil } }
    }

    var persisted: [SelectorMachine.Changes] {
        compactMap { if case .persist(let changes) = $0 { changes } else { nil } }
    }

    var summaries: [ExperimentSummary] {
        compactMap { if case .finish(let summary) = $0 { summary } else { nil } }
    }

    var dropped: [(member: Int, version: Int, worker: String, reason: String, detail: String)] {
        events.compactMap {
            if case .resultDropped(let member, let version, let worker, let reason, let detail, _, _) = $0 {
                (member, version, worker, reason, detail)
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

    var failures: [(member: Int, version: Int, worker: String, reason: String, givenUp: Bool)] {
        events.compactMap {
            if case .memberFailed(let member, let version, let worker, let reason, let givenUp) = $0 {
                (member, version, worker, reason, givenUp)
            } else {
                nil
            }
        }
    }

    var leaseExpiries: [(member: Int, version: Int, role: WorkerRole)] {
        events.compactMap {
            if case .leaseExpired(let member, let version, let role, _) = $0 { (member, version, role) } else { nil }
        }
    }

    var leaseReleases: [(member: Int, version: Int, reason: String)] {
        events.compactMap {
            if case .leaseReleased(let member, let version, _, _, let reason) = $0 {
                (member, version, reason)
            } else {
                nil
            }
        }
    }

    var workersLeft: [(worker: String, reason: String)] {
        events.compactMap { if case .workerLeft(_, let worker, let reason) = $0 { (worker, reason) } else { nil } }
    }

    var benched: [(worker: String, failures: Int, seconds: Double)] {
        events.compactMap {
            if case .workerBenched(_, let worker, let failures, let seconds) = $0 {
                (worker, failures, seconds)
            } else {
                nil
            }
        }
    }
}

/// Drives a selector machine with workers that answer at once, in the order tasks were sent:
/// a trainer hands every member on (its credit says so), the evaluator scores it, the mutator
/// explores.
///
/// A checkpoint holds a quality that training raises by `lr` a step; the score is the quality,
/// so members with a larger `lr` pull ahead and exploit has something to copy. Mutators run
/// the real `explore` with the seed the task carries.
struct Simulation {
    var machine: SelectorMachine
    var now = 0.0
    var log: [SelectorMachine.Action] = []
    var pending: [SelectorMachine.Action] = []
    var quality: [String: Double] = [:]
    var checkpoints = 0
    var received: [WorkerID: Int] = [:]
    var names: [WorkerID: String] = [:]
    let explore: ExploreStrategy
    let evaluator: WorkerID
    let mutator: WorkerID

    init(
        settings: SelectorSettings, initial: [Hyperparameters], explore: ExploreStrategy = .defaultPerturb,
        trainers: [WorkerID],
        evaluator: WorkerID = Fixture.evaluator, mutator: WorkerID = Fixture.mutator
    ) {
        machine = SelectorMachine(settings: settings, name: "sim", initial: initial)
        self.explore = explore
        self.evaluator = evaluator
        self.mutator = mutator
        apply(machine.start(now: now))
        apply(machine.handle(Fixture.ready(.evaluator, name: "evaluator"), from: evaluator, now: now))
        if settings.explores {
            apply(machine.handle(Fixture.ready(.mutator, name: "mutator"), from: mutator, now: now))
        }
        for (index, id) in trainers.enumerated() {
            names[id] = "trainer-\(index)"
            apply(
                machine.handle(
                    Fixture.ready(.trainer, name: "trainer-\(index)", routes: machine.evaluatorRoutes.generation),
                    from: id, now: now))
        }
    }

    mutating func apply(_ actions: [SelectorMachine.Action]) {
        log += actions
        for action in actions {
            switch action {
            case .send(_, .train), .explore: pending.append(action)
            default: break
            }
        }
    }

    /// Answers tasks until none is left or the experiment finished.
    mutating func run(limit: Int = 10_000) {
        var answered = 0
        while !pending.isEmpty, !machine.isFinished, answered < limit {
            let action = pending.removeFirst()
            answered += 1
            now += 1
            switch action {
            case .send(let trainer, .train(let task)):
                let start = task.checkpoint.flatMap { quality[$0] } ?? 0
                let value = start + (task.hyperparameters.number("lr") ?? 0) * Double(task.steps)
                checkpoints += 1
                let reference = Fixture.checkpoint(checkpoints)
                quality[reference] = value
                received[trainer, default: 0] += 1
                apply(
                    machine.handle(
                        Fixture.handedOn(
                            task, received: received[trainer]!, name: names[trainer] ?? "t",
                            routes: machine.evaluatorRoutes.generation),
                        from: trainer, now: now))
                apply(
                    machine.handle(Fixture.scored(task, checkpoint: reference, score: value), from: evaluator, now: now)
                )
            case .explore(let task):
                var random = SplitMix64(seed: task.seed)
                let outcome = explore.explore(task.hyperparameters, in: Fixture.space, using: &random)
                apply(
                    machine.handle(
                        .explored(
                            ExploreResult(
                                member: task.member, version: task.version, hyperparameters: outcome.hyperparameters,
                                changes: outcome.changes)),
                        from: mutator, now: now))
            default:
                break
            }
        }
    }
}
