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

    /// Runs `text` to the end. Two trainers, one evaluator, one mutator, answered in turn.
    static func run(_ text: String) throws -> SimulatedRun {
        let experiment = try Experiment.parse(yaml: text)
        var machine = SelectorMachine(settings: experiment.selectorSettings(), name: experiment.name, initial: experiment.initialHyperparameters())
        var lines: [String] = []
        var pending: [(WorkerID, WorkerCommand)] = []
        var quality: [String: Double] = [:]
        var checkpoints = 0
        var now = 1_800_000_000.0
        var summary: ExperimentSummary?
        func apply(_ actions: [SelectorMachine.Action]) {
            for action in actions {
                switch action {
                case .publish(let event): lines.append(EventJSON.encode(event, time: now))
                case .send(let worker, let command): pending.append((worker, command))
                case .finish(let outcome): summary = outcome
                case .welcome: break
                }
            }
        }
        apply(machine.start(now: now))
        let workers: [(WorkerID, WorkerRole, String)] = [
            (WorkerID([1]), .trainer, "trainer-1"), (WorkerID([2]), .trainer, "trainer-2"),
            (WorkerID([3]), .evaluator, "evaluator-1"), (WorkerID([4]), .mutator, "mutator-1"),
        ]
        for (id, role, name) in workers {
            apply(machine.handle(.ready(role: role, received: 0, name: name, experimentID: experiment.id), from: id, now: now))
        }
        var answered = 0
        while !pending.isEmpty, summary == nil, answered < 100_000 {
            let (worker, command) = pending.removeFirst()
            answered += 1
            now += 0.01
            let report: WorkerReport
            switch command {
            case .train(let task):
                let start = task.checkpoint.flatMap { quality[$0] } ?? 0
                // The seed matters (as it does for real workloads): member 0's seed trains faster.
                let boost = task.seed == SplitMix64.derive(experiment.seed, 0) ? 1.5 : 1.0
                let value = start + (task.hyperparameters.number("lr") ?? 0) * boost * Double(task.steps) / Double(task.hyperparameters.number("depth") ?? 1)
                checkpoints += 1
                let hex = String(checkpoints, radix: 16)
                let reference = String(repeating: "0", count: 64 - hex.count) + hex
                quality[reference] = value
                report = .trained(TrainResult(member: task.member, version: task.version, step: task.step + task.steps, checkpoint: reference, metrics: ["score": value], seconds: 0.01))
            case .evaluate(let task):
                report = .scored(EvaluateResult(member: task.member, version: task.version, score: quality[task.checkpoint] ?? -1))
            case .explore(let task):
                var random = SplitMix64(seed: task.seed)
                let outcome = experiment.explore.explore(task.hyperparameters, in: experiment.space, using: &random)
                report = .explored(ExploreResult(member: task.member, version: task.version, hyperparameters: outcome.hyperparameters, changes: outcome.changes))
            case .welcome, .finished:
                continue
            }
            apply(machine.handle(report, from: worker, now: now))
        }
        guard let summary else { throw SimulationError() }
        return SimulatedRun(
            events: lines.joined(separator: "\n") + "\n", summary: SummaryJSON.encode(summary, experiment: experiment.name),
            experiment: experiment, text: text, finalScore: summary.best?.score)
    }
}

struct SimulationError: Error {}
