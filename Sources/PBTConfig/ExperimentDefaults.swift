import PBTCore

/// Every default an experiment file leaves out, named, with its unit. (The `leases` section's
/// are on `LeaseSettings`, the `resources` section's on `ResourceSettings`.)
public enum ExperimentDefaults {
    /// `seed`: 0.
    public static let seed: UInt64 = 0
    /// `interval`: steps a member trains between decisions, 1.
    public static let interval = 1
    /// `objective.metric`: `score`.
    public static let metric = "score"
    /// `objective.mode`: `max` (more is better).
    public static let objective = Objective.maximize
    /// `exploit.fraction` of truncation: the bottom quarter copies from the top quarter.
    public static let truncationFraction = 0.25
    /// `exploit.window` of the t-test: the 10 most recent scores of each side.
    public static let tTestWindow = 10
    /// `exploit.p_value` of the t-test: 0.05.
    public static let tTestPValue = 0.05
    /// `exploit.burn_in`: steps before any exploit, 0.
    public static let burnIn = 0
    /// `explore.factors` of perturb: multiply by 0.8 or 1.2.
    public static let perturbFactors = ExploreStrategy.defaultFactors
    /// `explore.resample_probability` (perturb, noise): per hyperparameter, 0.25.
    public static let resampleProbability = ExploreStrategy.defaultResampleProbability
    /// `explore.points` of PB2: observations the bandit keeps, 500.
    public static let pb2Points = 500
    /// `explore.beta` of PB2: UCB = mean + √β · sd, β = 2.
    public static let pb2Beta = 2.0
    /// `explore.time_decay` of PB2: the time kernel's ε, 0.1.
    public static let pb2TimeDecay = 0.1
    /// `evaluation`: `reported` (scores from what trainers report).
    public static let evaluation = Evaluation.reported
    /// `synchronous`: false (no generation barrier).
    public static let synchronous = false
    /// `max_lead`: none (a member may run any number of steps ahead of the others).
    public static let maxLead: Int? = nil
    /// `checkpoints.garbage_collection`: on.
    public static let garbageCollection = true
    /// `checkpoints.transport`: auto (the shared directory where a worker sees it, the
    /// checkpoint service over ZeroMQ where it does not).
    public static let checkpointTransport = CheckpointTransport.auto
    /// `checkpoints.interval`: seconds between collections, 10.
    public static let collectionInterval = 10.0
}
