import Foundation
import PBTConfig
import PBTCore
import PBTStore
import PBTSystem
import PBTWire
import PBTWorkloads

/// A piece of work a worker takes: a training task (from the selector), a trained member to
/// score (pushed by a trainer), an exploit decision to explore (pushed by the selector).
enum WorkerTask: Sendable {
    case train(TrainTask)
    case evaluate(TrainResult)
    case explore(ExploreTask)

    var member: Int {
        switch self {
        case .train(let task): task.member
        case .evaluate(let result): result.member
        case .explore(let task): task.member
        }
    }

    var version: Int {
        switch self {
        case .train(let task): task.version
        case .evaluate(let result): result.version
        case .explore(let task): task.version
        }
    }

    var step: Int {
        switch self {
        case .train(let task): task.step
        case .evaluate(let result): result.step
        case .explore(let task): task.step
        }
    }
}

/// What a worker does with a task: one implementation a role.
protocol TaskHandler: Sendable {
    /// Whether a task may take long (training, evaluating a checkpoint): it then runs on the
    /// worker's work thread while the stage's loop keeps heartbeating. Quick ones (scoring a
    /// reported metric, perturbing) run on the loop's thread.
    var runsLong: Bool { get }

    /// Handles one task. `progress` is called with steps done so far; it returns false
    /// when the worker is asked to stop, and the handler then ends at the next step boundary.
    func handle(_ task: WorkerTask, progress: (Int) -> Bool) -> WorkerReport
}

/// Trains: restore the checkpoint, run the workload, store the new checkpoint.
struct TrainerHandler: TaskHandler {
    let workload: any Workload
    let store: CheckpointAccess
    let name: String

    var runsLong: Bool { true }

    func handle(_ task: WorkerTask, progress: (Int) -> Bool) -> WorkerReport {
        guard case .train(let task) = task else {
            return .failed(member: task.member, version: task.version, reason: "a trainer only trains")
        }
        let started = Clock.monotonic
        do {
            let state: [UInt8]
            if let checkpoint = task.checkpoint {
                state = try store.read(checkpoint) { _ = progress(0) }
            } else {
                state = try workload.initialState(
                    member: task.member, seed: task.seed, hyperparameters: task.hyperparameters)
            }
            let request = TrainingRequest(
                member: task.member, step: task.step, steps: task.steps, hyperparameters: task.hyperparameters,
                seed: task.seed,
                checkpointPath: try task.checkpoint.map { try store.path(of: $0) { _ = progress(0) } })
            let outcome = try workload.train(request, from: state, progress: progress)
            guard outcome.stepsDone > 0 else { return .released(member: task.member, version: task.version) }
            let reference = try store.write(outcome.state) { progress(outcome.stepsDone) }
            return .trained(
                TrainResult(
                    member: task.member, version: task.version, fromStep: task.step,
                    step: task.step + min(outcome.stepsDone, task.steps),
                    checkpoint: reference, hyperparameters: task.hyperparameters, metrics: outcome.metrics,
                    seconds: Clock.monotonic - started, interrupted: outcome.stepsDone < task.steps, trainer: name))
        } catch {
            return .failed(member: task.member, version: task.version, reason: "\(error)")
        }
    }
}

/// Scores what a trainer trained by `objective.metric` (default `score`): from what the
/// trainer reported, or, with `evaluation: checkpoint`, by running the workload's evaluation
/// on the checkpoint. Either way the checkpoint must be in the store first (with
/// `evaluation: checkpoint`, read and checked against its hash): a result naming a checkpoint
/// nobody can load is a failure, never a score.
struct EvaluatorHandler: TaskHandler {
    let metric: String
    let objective: Objective
    let store: CheckpointAccess
    let name: String
    /// Set for `evaluation: checkpoint`.
    var workload: (any Workload)?

    /// Evaluating a checkpoint takes long, and so may asking the checkpoint service (up to its
    /// reply timeout): either runs on the work thread, so that heartbeats go on meanwhile.
    var runsLong: Bool { workload != nil || !store.isShared }

    func handle(_ task: WorkerTask, progress: (Int) -> Bool) -> WorkerReport {
        guard case .evaluate(let trained) = task else {
            return .failed(member: task.member, version: task.version, reason: "an evaluator only evaluates")
        }
        var metrics = trained.metrics
        var measured: [String: Double] = [:]
        if let workload {
            // Evaluating the checkpoint reads it, and reading checks its bytes against its name.
            do {
                let state = try store.read(trained.checkpoint) { _ = progress(0) }
                measured = try workload.evaluate(state: state, hyperparameters: trained.hyperparameters)
                metrics.merge(measured) { $1 }
            } catch let error as CheckpointError {
                // The service not answering is nobody's fault upstream; a checkpoint that is
                // missing or damaged is the trainer's.
                if case .unavailable = error {
                    return .failed(
                        member: trained.member, version: trained.version,
                        reason: "cannot load the trained checkpoint: \(error)")
                }
                return .failed(
                    member: trained.member, version: trained.version,
                    reason: "the trained checkpoint is unusable: \(error)", upstream: true)
            } catch {
                return .failed(member: trained.member, version: trained.version, reason: "evaluation failed: \(error)")
            }
        } else {
            // A reported score is only as good as the checkpoint it describes: one nobody can
            // load is a failure, never a score (the store names a file by its hash once complete).
            // A service that does not answer is not the trainer's fault (upstream 0).
            do {
                guard try store.contains(trained.checkpoint, heartbeat: { _ = progress(0) }) else {
                    return .failed(
                        member: trained.member, version: trained.version,
                        reason:
                            "the trained checkpoint \(trained.checkpoint.prefix(12))… is not in \(store.description)",
                        upstream: true)
                }
            } catch {
                return .failed(
                    member: trained.member, version: trained.version,
                    reason: "cannot check the trained checkpoint \(trained.checkpoint.prefix(12))…: \(error)")
            }
        }
        guard let score = metrics[metric] else {
            let reported = metrics.keys.sorted().joined(separator: ", ")
            return .failed(
                member: trained.member, version: trained.version,
                reason:
                    "the trainer reported no '\(metric)' metric (it reported: \(reported.isEmpty ? "nothing" : reported))",
                upstream: true)
        }
        guard score.isFinite else {
            // A diverged model: the worst score there is, so that exploit replaces it.
            let worst = objective == .maximize ? -Double.greatestFiniteMagnitude : Double.greatestFiniteMagnitude
            return .scored(
                EvaluateResult(
                    trained: trained, score: worst, metrics: measured.merging(["diverged": 1]) { $1 }, evaluator: name))
        }
        return .scored(EvaluateResult(trained: trained, score: score, metrics: measured, evaluator: name))
    }
}

/// Explores with the experiment's strategy, seeded by the selector for this decision.
struct MutatorHandler: TaskHandler {
    let strategy: ExploreStrategy
    let space: SearchSpace
    let name: String

    var runsLong: Bool { false }

    func handle(_ task: WorkerTask, progress: (Int) -> Bool) -> WorkerReport {
        guard case .explore(let task) = task else {
            return .failed(member: task.member, version: task.version, reason: "a mutator only explores")
        }
        var random = SplitMix64(seed: task.seed)
        let outcome = strategy.explore(task.hyperparameters, in: space, using: &random)
        return .explored(
            ExploreResult(
                member: task.member, version: task.version, hyperparameters: outcome.hyperparameters,
                changes: outcome.changes, mutator: name))
    }
}

/// What a PB2 mutator knows: its model, fed with one point per scored training task.
///
/// From the stream it takes `member.trained` (the hyperparameters a task trained with, the
/// steps, and the score the weights had before) and the `member.scored` that follows (the
/// score after): the improvement per step is one observation.
final class PB2Learner: @unchecked Sendable {
    static let topics: [PBTEvent.Topic] = [.memberTrained, .memberScored]

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
        guard frames.count == 2, let timed = try? EventJSON.decode(frames[1]) else { return }
        switch timed.event {
        case .memberTrained(let event):
            trained[event.member] = (event.fromStep, event.step, event.hyperparameters, event.previousScore)
        case .memberScored(let member, _, let step, let score, _):
            guard let task = trained.removeValue(forKey: member), task.step == step, let before = task.before,
                step > task.fromStep
            else { return }
            let improvement = (objective.fitness(score) - objective.fitness(before)) / Double(step - task.fromStep)
            model.observe(
                .init(
                    hyperparameters: task.hyperparameters, time: Double(step) / Double(interval),
                    improvement: improvement), key: member)
        default:
            return
        }
    }

    func explore(_ task: ExploreTask) -> ExploreOutcome {
        var random = SplitMix64(seed: task.seed)
        return model.explore(
            task.hyperparameters, time: Double(task.step) / Double(interval), key: task.member, using: &random)
    }
}

/// Explores with PB2's bandit.
struct PB2Handler: TaskHandler {
    let learner: PB2Learner
    let name: String

    var runsLong: Bool { false }

    func handle(_ task: WorkerTask, progress: (Int) -> Bool) -> WorkerReport {
        guard case .explore(let task) = task else {
            return .failed(member: task.member, version: task.version, reason: "a mutator only explores")
        }
        let outcome = learner.explore(task)
        return .explored(
            ExploreResult(
                member: task.member, version: task.version, hyperparameters: outcome.hyperparameters,
                changes: outcome.changes, mutator: name))
    }
}
