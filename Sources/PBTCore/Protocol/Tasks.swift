/// Train `member` from `checkpoint` (none: a fresh start) for `steps` steps.
public struct TrainTask: Sendable, Hashable {
    public var member: Int
    public var version: Int
    /// The step the checkpoint is at.
    public var step: Int
    /// How many steps to train.
    public var steps: Int
    /// The checkpoint to restore (a sha256 in hex), or nil to initialise from `seed`.
    public var checkpoint: String?
    public var hyperparameters: Hyperparameters
    /// The member's seed: initialisation uses it as is, training derives from it and the step.
    public var seed: UInt64

    public init(member: Int, version: Int, step: Int, steps: Int, checkpoint: String?, hyperparameters: Hyperparameters, seed: UInt64) {
        self.member = member
        self.version = version
        self.step = step
        self.steps = steps
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.seed = seed
    }
}

/// Score `member` at `step`: from its checkpoint, or from what its trainer measured.
public struct EvaluateTask: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var step: Int
    public var checkpoint: String
    public var hyperparameters: Hyperparameters
    /// What the trainer reported about this step (for example `score`, `loss`).
    public var metrics: [String: Double]

    public init(member: Int, version: Int, step: Int, checkpoint: String, hyperparameters: Hyperparameters, metrics: [String: Double]) {
        self.member = member
        self.version = version
        self.step = step
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.metrics = metrics
    }
}

/// Explore the hyperparameters `member` copied from `donor`.
public struct ExploreTask: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var donor: Int
    /// The step the member now stands at (the donor's).
    public var step: Int
    public var hyperparameters: Hyperparameters
    /// Seed for this decision's generator.
    public var seed: UInt64

    public init(member: Int, version: Int, donor: Int, step: Int, hyperparameters: Hyperparameters, seed: UInt64) {
        self.member = member
        self.version = version
        self.donor = donor
        self.step = step
        self.hyperparameters = hyperparameters
        self.seed = seed
    }
}

/// What the selector tells a worker.
public enum WorkerCommand: Sendable, Hashable {
    /// The experiment the worker serves, sent when its `ready` names another one.
    case welcome(experimentID: String, experiment: [UInt8], checkpointDirectory: String)
    case train(TrainTask)
    case evaluate(EvaluateTask)
    case explore(ExploreTask)
    /// The experiment is over: no more work will come.
    case finished
}

/// A trainer's report of a finished (or interrupted) task.
public struct TrainResult: Sendable, Hashable {
    public var member: Int
    public var version: Int
    /// The step the new checkpoint is at.
    public var step: Int
    public var checkpoint: String
    public var metrics: [String: Double]
    /// Wall-clock seconds the training took.
    public var seconds: Double
    /// True when the trainer stopped early (for example on SIGTERM) and hands the member back.
    public var interrupted: Bool

    public init(member: Int, version: Int, step: Int, checkpoint: String, metrics: [String: Double], seconds: Double, interrupted: Bool = false) {
        self.member = member
        self.version = version
        self.step = step
        self.checkpoint = checkpoint
        self.metrics = metrics
        self.seconds = seconds
        self.interrupted = interrupted
    }
}

/// An evaluator's score for a member.
public struct EvaluateResult: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var score: Double
    public var metrics: [String: Double]

    public init(member: Int, version: Int, score: Double, metrics: [String: Double] = [:]) {
        self.member = member
        self.version = version
        self.score = score
        self.metrics = metrics
    }
}

/// A mutator's new hyperparameters for a member, with what it did to each.
public struct ExploreResult: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var hyperparameters: Hyperparameters
    public var changes: [String: ExploreChange]

    public init(member: Int, version: Int, hyperparameters: Hyperparameters, changes: [String: ExploreChange]) {
        self.member = member
        self.version = version
        self.hyperparameters = hyperparameters
        self.changes = changes
    }
}

/// What a worker tells the selector.
public enum WorkerReport: Sendable, Hashable {
    /// The worker is idle. `received` counts the tasks it has been given, so that the
    /// selector can tell a stale `ready` (sent before a task arrived) from a fresh one.
    case ready(role: WorkerRole, received: Int, name: String, experimentID: String)
    /// Still working on `member`; extends its lease.
    case progress(member: Int, version: Int, step: Int)
    case trained(TrainResult)
    case scored(EvaluateResult)
    case explored(ExploreResult)
    /// The task failed; `reason` says why. The worker is idle again.
    case failed(member: Int, version: Int, reason: String)
    /// The worker hands `member` back untouched (it was stopped before doing any work).
    case released(member: Int, version: Int)
    /// The worker is leaving.
    case goodbye
}
