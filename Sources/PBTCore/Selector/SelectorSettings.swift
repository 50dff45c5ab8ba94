/// Whether higher or lower scores are better.
public enum Objective: String, Sendable, Hashable {
    case maximize = "max"
    case minimize = "min"

    /// The score turned into fitness, where higher is always better. A score that is not
    /// a number (a diverged model) is the worst fitness there is.
    public func fitness(_ score: Double) -> Double {
        guard score.isFinite else { return -.infinity }
        return self == .maximize ? score : -score
    }
}

/// When members and the experiment stop.
public struct StopCondition: Sendable, Hashable {
    /// Each member trains at most this many steps.
    public var maxSteps: Int
    /// The experiment ends as soon as a member scores at least this well.
    public var targetScore: Double?
    /// The experiment ends after this many seconds of wall-clock time.
    public var timeBudget: Double?
    /// The experiment ends once the population has trained this many steps in all (a budget
    /// that compares search methods fairly).
    public var totalSteps: Int?

    public init(maxSteps: Int, targetScore: Double? = nil, timeBudget: Double? = nil, totalSteps: Int? = nil) {
        self.maxSteps = maxSteps
        self.targetScore = targetScore
        self.timeBudget = timeBudget
        self.totalSteps = totalSteps
    }

    /// Whether `score` meets the target under `objective`.
    public func reachesTarget(_ score: Double, objective: Objective) -> Bool {
        guard let targetScore, score.isFinite else { return false }
        return objective.fitness(score) >= objective.fitness(targetScore)
    }
}

/// Everything the selector's state machine needs to know about the experiment.
public struct SelectorSettings: Sendable, Hashable {
    public var experimentID: String
    public var seed: UInt64
    public var interval: Int
    public var stop: StopCondition
    public var exploit: ExploitStrategy
    /// Whether a member that exploited goes through a mutator before training on.
    public var explores: Bool
    public var objective: Objective
    /// No exploit before a member has trained this many steps.
    public var burnIn: Int
    /// The largest share of the population one lineage may hold, until a step; nil: no limit.
    public var lineageCap: LineageCap?
    /// Seconds a leg of a member's cycle may go without word before its lease expires
    /// (progress heartbeats extend it).
    public var leaseTimeout: Double
    /// Seconds a worker may stay silent (it heartbeats every second) before it counts as gone
    /// and what it holds is re-issued.
    public var silenceTimeout: Double
    /// The longest a leg may take whatever its heartbeats say; nil: ten times the longest leg
    /// seen so far, and at least ten lease timeouts.
    public var maxTaskSeconds: Double?
    /// Failed tasks or expired trainings in a row a member may have; one more and it is given
    /// up. The same for a worker's failed tasks; one more and it is benched.
    public var maxFailures: Int
    /// Seconds a worker that failed more than `maxFailures` tasks in a row gets no work (doubling each time).
    public var benchSeconds: Double
    /// Training starts once this many trainers are ready, or `startTimeout` seconds have passed
    /// (and, either way, once an evaluator and, if the experiment explores, a mutator are there).
    public var minTrainers: Int
    public var startTimeout: Double
    /// Seconds between `experiment.progress` events.
    public var progressInterval: Double
    /// The declared hyperparameters; explored values outside it are refused.
    public var space: SearchSpace?
    /// Members wait at each ready step for the whole live population (a generational run).
    public var synchronous: Bool = false
    /// A member starts a training task only while it stands at most this many steps ahead
    /// of the live member furthest behind (bounded staleness); nil: no bound.
    public var maxLead: Int?
    /// Hyperparameters fixed step range by step range (the experiment's `schedule`), or nil.
    public var schedule: HyperparameterSchedule?

    public init(
        experimentID: String, seed: UInt64, interval: Int, stop: StopCondition,
        exploit: ExploitStrategy, explores: Bool, objective: Objective = .maximize, burnIn: Int = 0,
        lineageCap: LineageCap? = nil,
        leaseTimeout: Double = 30, silenceTimeout: Double = 5, maxTaskSeconds: Double? = nil, maxFailures: Int = 3,
        benchSeconds: Double = 30, minTrainers: Int = 1, startTimeout: Double = 10, progressInterval: Double = 1,
        space: SearchSpace? = nil, synchronous: Bool = false, maxLead: Int? = nil,
        schedule: HyperparameterSchedule? = nil
    ) {
        self.experimentID = experimentID
        self.seed = seed
        self.interval = interval
        self.stop = stop
        self.exploit = exploit
        self.explores = explores
        self.objective = objective
        self.burnIn = burnIn
        self.lineageCap = lineageCap
        self.leaseTimeout = leaseTimeout
        self.silenceTimeout = silenceTimeout
        self.maxTaskSeconds = maxTaskSeconds
        self.maxFailures = maxFailures
        self.benchSeconds = benchSeconds
        self.minTrainers = minTrainers
        self.startTimeout = startTimeout
        self.progressInterval = progressInterval
        self.space = space
        self.synchronous = synchronous
        self.maxLead = maxLead
        self.schedule = schedule
    }

    /// The step at which a member standing at `step` is next ready: the next multiple of
    /// the interval, or the last step, or where the next `schedule` entry starts.
    public func nextReadyStep(after step: Int) -> Int {
        let ready = min((step / interval + 1) * interval, stop.maxSteps)
        guard let boundary = schedule?.boundary(after: step) else { return ready }
        return min(ready, boundary)
    }
}
