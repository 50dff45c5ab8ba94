import PBTSystem
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
            let request = TrainingRequest(member: task.member, step: task.step, steps: task.steps, hyperparameters: task.hyperparameters, seed: task.seed)
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

/// Scores from the metric the trainer reported (`objective.metric`, default `score`).
struct EvaluatorHandler: TaskHandler {
    let metric: String
    let objective: Objective

    func handle(_ command: WorkerCommand, progress: (Int) -> Bool) -> WorkerReport {
        guard case .evaluate(let task) = command else { return .failed(member: 0, version: 0, reason: "an evaluator only evaluates") }
        guard let score = task.metrics[metric] else {
            let reported = task.metrics.keys.sorted().joined(separator: ", ")
            return .failed(member: task.member, version: task.version, reason: "the trainer reported no '\(metric)' metric (it reported: \(reported.isEmpty ? "nothing" : reported))")
        }
        guard score.isFinite else {
            // A diverged model: the worst score there is, so that exploit replaces it.
            let worst = objective == .maximize ? -Double.greatestFiniteMagnitude : Double.greatestFiniteMagnitude
            return .scored(EvaluateResult(member: task.member, version: task.version, score: worst, metrics: ["diverged": 1]))
        }
        return .scored(EvaluateResult(member: task.member, version: task.version, score: score))
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
