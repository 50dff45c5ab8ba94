import PBTConfig
import PBTCore
import PBTWire

/// A whole experiment run through the real selector state machine with workers that answer
/// at once, written out as a run directory's texts (events.jsonl, summary.json, experiment.yml).
///
/// A checkpoint holds a quality; training adds `lr` × steps (times `boost` for member 0's seed
/// range, so lineages cross members); the score is the quality. Deterministic: the same file
/// gives the same texts.
struct SimulatedRun {
    var events: String
    var summary: String
    var experiment: Experiment
    var text: String
    /// Quality of every checkpoint, to replay a run.
    var finalScore: Double?

    static func experimentText(seed: Int = 5, population: Int = 4, maxSteps: Int = 40, interval: Int = 4) -> String {
        """
        name: sim
        seed: \(seed)
        workload: {kind: noop}
        population: \(population)
        interval: \(interval)
        stop: {max_steps: \(maxSteps)}
        exploit: {strategy: truncation, fraction: 0.25}
        explore: {strategy: perturb, factors: [0.8, 1.2], resample_probability: 0.2}
        hyperparameters:
          lr: {log_uniform: [0.001, 1.0]}
          batch: {choice: [16, 32, 64]}
          depth: {int: [1, 6]}
        """
    }

    /// Work on its way, answered in turn: a trainer's task, a trained member pushed on to the
    /// evaluator, an exploit decision pushed to the mutator.
    enum Work {
        case train(WorkerID, TrainTask)
        case evaluate(TrainResult)
        case explore(ExploreTask)
    }

    /// Runs `text` to the end. Two trainers, one evaluator, one mutator, answered in turn, as
    /// the stages would: a trainer pushes what it trained to the evaluator and asks for more
    /// work with a credit that says which member it handed on; the evaluator pushes the score
    /// (with the trainer's account) to the selector; the mutator pushes what it explored.
    static func run(_ text: String) throws -> SimulatedRun {
        let experiment = try Experiment.parse(yaml: text)
        var machine = SelectorMachine(
            settings: experiment.selectorSettings(), name: experiment.name, initial: experiment.initialHyperparameters()
        )
        var lines: [String] = []
        var pending: [Work] = []
        var quality: [String: Double] = [:]
        var checkpoints = 0
        var now = 1_800_000_000.0
        var summary: ExperimentSummary?
        func apply(_ actions: [SelectorMachine.Action]) {
            for action in actions {
                switch action {
                case .publish(let event): lines.append(EventJSON.encode(event, time: now))
                case .send(let worker, .train(let task)): pending.append(.train(worker, task))
                case .explore(let task): pending.append(.explore(task))
                case .finish(let outcome): summary = outcome
                case .send, .welcome, .connectMutator, .disconnectMutator, .persist: break
                }
            }
        }
        apply(machine.start(now: now))
        let trainers: [WorkerID: String] = [WorkerID([1]): "trainer-1", WorkerID([2]): "trainer-2"]
        let evaluator = WorkerID([3])
        let mutator = WorkerID([4])
        for id in trainers.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            apply(
                machine.handle(
                    .ready(Ready(role: .trainer, received: 0, name: trainers[id]!, experimentID: experiment.id)),
                    from: id, now: now))
        }
        apply(
            machine.handle(
                .ready(
                    Ready(
                        role: .evaluator, received: 0, name: "evaluator-1", experimentID: experiment.id,
                        inlet: PeerEndpoint(endpoint: "tcp://evaluator:5560"))),
                from: evaluator, now: now))
        apply(
            machine.handle(
                .ready(
                    Ready(
                        role: .mutator, received: 0, name: "mutator-1", experimentID: experiment.id,
                        inlet: PeerEndpoint(endpoint: "tcp://mutator:5561"))),
                from: mutator, now: now))
        var received: [WorkerID: Int] = [:]
        var answered = 0
        while !pending.isEmpty, summary == nil, answered < 100_000 {
            let work = pending.removeFirst()
            answered += 1
            now += 0.01
            switch work {
            case .train(let trainer, let task):
                received[trainer, default: 0] += 1
                let start = task.checkpoint.flatMap { quality[$0] } ?? 0
                // The seed matters (as it does for real workloads): member 0's seed trains faster.
                let boost = task.seed == SplitMix64.derive(experiment.seed, 0) ? 1.5 : 1.0
                let value =
                    start + (task.hyperparameters.number("lr") ?? 0) * boost * Double(task.steps)
                    / Double(task.hyperparameters.number("depth") ?? 1)
                checkpoints += 1
                let hex = String(checkpoints, radix: 16)
                let reference = String(repeating: "0", count: 64 - hex.count) + hex
                quality[reference] = value
                let step = task.step + task.steps
                pending.append(
                    .evaluate(
                        TrainResult(
                            member: task.member, version: task.version, fromStep: task.step, step: step,
                            checkpoint: reference,
                            hyperparameters: task.hyperparameters, metrics: ["score": value], seconds: 0.01,
                            trainer: trainers[trainer]!)))
                let credit = Ready(
                    role: .trainer, received: received[trainer]!, name: trainers[trainer]!, experimentID: experiment.id,
                    routes: machine.evaluatorRoutes.generation,
                    handed: HandedOn(member: task.member, version: task.version, step: step))
                apply(machine.handle(.ready(credit), from: trainer, now: now))
            case .evaluate(let trained):
                let score = EvaluateResult(
                    trained: trained, score: quality[trained.checkpoint] ?? -1, evaluator: "evaluator-1")
                apply(machine.handle(.scored(score), from: evaluator, now: now))
            case .explore(let task):
                var random = SplitMix64(seed: task.seed)
                let outcome = experiment.explore.explore(task.hyperparameters, in: experiment.space, using: &random)
                let explored = ExploreResult(
                    member: task.member, version: task.version, hyperparameters: outcome.hyperparameters,
                    changes: outcome.changes,
                    mutator: "mutator-1")
                apply(machine.handle(.explored(explored), from: mutator, now: now))
            }
        }
        guard let summary else { throw SimulationError() }
        return SimulatedRun(
            events: lines.joined(separator: "\n") + "\n",
            summary: SummaryJSON.encode(summary, experiment: experiment.name),
            experiment: experiment, text: text, finalScore: summary.best?.score)
    }
}

struct SimulationError: Error {}
