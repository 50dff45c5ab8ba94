import PBTSystem
import Foundation
import PBTConfig
import PBTCore
import PBTStore
import PBTWorkloads

/// What a worker does with a task: one implementation a role.
protocol TaskHandler {
    /// Handles one task. `progress` is called with steps done so far; it returns false
    /// when the worker is asked to stop, and the handler then ends at the next step boundary.
    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport
}

/// Trains: restore the checkpoint, run the workload, store the new checkpoint.
struct TrainerHandler: TaskHandler {
    let workload: any Workload
    let store: CheckpointStore

    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport {
        guard case .train(let task) = command else { return .failed(member: 0, version: 0, reason: "a trainer only trains") }
        let started = Clock.monotonic
        do {
            let state: [UInt8]
            if let checkpoint = task.checkpoint {
                state = try store.read(checkpoint)
            } else {
                state = try workload.initialState(member: task.member, seed: task.seed, hyperparameters: task.hyperparameters)
            }
            let request = TrainingRequest(
                member: task.member, step: task.step, steps: task.steps, hyperparameters: task.hyperparameters, seed: task.seed,
                checkpointPath: try task.checkpoint.map { try store.path(of: $0) })
            let outcome = try workload.train(request, from: state, progress: progress)
            guard outcome.stepsDone > 0 else { return .released(member: task.member, version: task.version) }
            let reference = try store.write(outcome.state)
            return .trained(TrainResult(
                member: task.member, version: task.version, step: task.step + min(outcome.stepsDone, task.steps),
                checkpoint: reference, metrics: outcome.metrics, seconds: Clock.monotonic - started,
                interrupted: outcome.stepsDone < task.steps))
        } catch {
            return .failed(member: task.member, version: task.version, reason: "\(error)")
        }
    }
}

/// Scores a trained member by `objective.metric` (default `score`): from what the trainer
/// reported, or, with `evaluation: checkpoint`, by running the workload's evaluation on the
/// checkpoint.
struct EvaluatorHandler: TaskHandler {
    let metric: String
    let objective: Objective
    /// Set for `evaluation: checkpoint`.
    var checkpointEvaluation: (workload: any Workload, store: CheckpointStore)?

    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport {
        guard case .evaluate(let task) = command else { return .failed(member: 0, version: 0, reason: "an evaluator only evaluates") }
        var metrics = task.metrics
        var measured: [String: Double] = [:]
        if let (workload, store) = checkpointEvaluation {
            do {
                measured = try workload.evaluate(state: try store.read(task.checkpoint), hyperparameters: task.hyperparameters)
                metrics.merge(measured) { $1 }
            } catch {
                return .failed(member: task.member, version: task.version, reason: "evaluation failed: \(error)")
            }
        }
        guard let score = metrics[metric] else {
            let reported = metrics.keys.sorted().joined(separator: ", ")
            return .failed(member: task.member, version: task.version, reason: "the trainer reported no '\(metric)' metric (it reported: \(reported.isEmpty ? "nothing" : reported))")
        }
        guard score.isFinite else {
            // A diverged model: the worst score there is, so that exploit replaces it.
            let worst = objective == .maximize ? -Double.greatestFiniteMagnitude : Double.greatestFiniteMagnitude
            return .scored(EvaluateResult(member: task.member, version: task.version, score: worst, metrics: ["diverged": 1]))
        }
        return .scored(EvaluateResult(member: task.member, version: task.version, score: score, metrics: measured))
    }
}

/// Explores with the experiment's strategy, seeded by the selector for this decision.
struct MutatorHandler: TaskHandler {
    let strategy: ExploreStrategy
    let space: SearchSpace

    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport {
        guard case .explore(let task) = command else { return .failed(member: 0, version: 0, reason: "a mutator only explores") }
        var random = SplitMix64(seed: task.seed)
        let outcome = strategy.explore(task.hyperparameters, in: space, using: &random)
        return .explored(ExploreResult(member: task.member, version: task.version, hyperparameters: outcome.hyperparameters, changes: outcome.changes))
    }
}

/// What a PB2 mutator knows: its model, fed with one point per scored training task.
///
/// From the stream it takes `member.trained` (the hyperparameters a task trained with, the
/// steps, and the score the weights had before) and the `member.scored` that follows (the
/// score after): the improvement per step is one observation.
final class PB2Learner {
    static let topics = ["member.trained", "member.scored"]

    private(set) var model: PB2Model
    let objective: Objective
    let interval: Int
    private var trained: [Int: (fromStep: Int, step: Int, hyperparameters: Hyperparameters, before: Double?)] = [:]

    init(model: PB2Model, objective: Objective, interval: Int) {
        self.model = model
        self.objective = objective
        self.interval = interval
    }

    /// Takes one event message (topic, JSON); anything else is ignored.
    func learn(from frames: [[UInt8]]) {
        guard frames.count == 2,
            let object = try? JSONSerialization.jsonObject(with: Data(frames[1])) as? [String: Any],
            let member = object["member"] as? Int, let step = object["step"] as? Int
        else { return }
        switch object["event"] as? String {
        case "member.trained":
            guard let fromStep = object["from_step"] as? Int, let values = object["hyperparameters"] as? [String: Any] else { return }
            var hyperparameters = Hyperparameters()
            for (name, value) in values {
                if let number = value as? NSNumber { hyperparameters[name] = .real(number.doubleValue) } else if let text = value as? String { hyperparameters[name] = .text(text) }
            }
            trained[member] = (fromStep, step, hyperparameters, object["previous_score"] as? Double)
        case "member.scored":
            guard let score = object["score"] as? Double, let task = trained.removeValue(forKey: member), task.step == step,
                let before = task.before, step > task.fromStep
            else { return }
            let improvement = (objective.fitness(score) - objective.fitness(before)) / Double(step - task.fromStep)
            model.observe(.init(hyperparameters: task.hyperparameters, time: Double(step) / Double(interval), improvement: improvement), key: member)
        default:
            return
        }
    }

    func explore(_ task: ExploreTask) -> ExploreOutcome {
        var random = SplitMix64(seed: task.seed)
        return model.explore(task.hyperparameters, time: Double(task.step) / Double(interval), key: task.member, using: &random)
    }
}

/// Explores with PB2's bandit.
struct PB2Handler: TaskHandler {
    let learner: PB2Learner

    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport {
        guard case .explore(let task) = command else { return .failed(member: 0, version: 0, reason: "a mutator only explores") }
        let outcome = learner.explore(task)
        return .explored(ExploreResult(member: task.member, version: task.version, hyperparameters: outcome.hyperparameters, changes: outcome.changes))
    }
}
