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
    /// Seconds a task may go without word from its worker before it is re-issued.
    public var leaseTimeout: Double
    /// Seconds an idle worker may stay silent before it counts as gone.
    public var workerTimeout: Double
    /// Failed tasks in a row after which a member is given up.
    public var maxFailures: Int
    /// Training starts once this many trainers are idle, or `startTimeout` seconds have passed.
    public var minTrainers: Int
    public var startTimeout: Double
    /// Seconds between `experiment.progress` events.
    public var progressInterval: Double
    /// The declared hyperparameters; explored values outside it are refused.
    public var space: SearchSpace?
    /// Members wait at each ready step for the whole live population (a generational run).
    public var synchronous: Bool = false
    /// Hyperparameters fixed step range by step range (the experiment's `schedule`), or nil.
    public var schedule: HyperparameterSchedule?
    /// Tasks a worker of a role may hold at once (default 1). Trainers always hold one: a
    /// member never waits behind a busy trainer (DESIGN invariant 2). Evaluators and mutators
    /// whose tasks take microseconds (scoring a reported metric, perturbing) may hold a few,
    /// so that they work through them without waiting a round trip to the selector each.
    public var taskWindow: [WorkerRole: Int] = [:]

    public init(
        experimentID: String, seed: UInt64, interval: Int, stop: StopCondition,
        exploit: ExploitStrategy, explores: Bool, objective: Objective = .maximize, burnIn: Int = 0,
        leaseTimeout: Double = 30, workerTimeout: Double = 10, maxFailures: Int = 3,
        minTrainers: Int = 1, startTimeout: Double = 10, progressInterval: Double = 1, space: SearchSpace? = nil,
        synchronous: Bool = false, schedule: HyperparameterSchedule? = nil, taskWindow: [WorkerRole: Int] = [:]
    ) {
        self.experimentID = experimentID
        self.seed = seed
        self.interval = interval
        self.stop = stop
        self.exploit = exploit
        self.explores = explores
        self.objective = objective
        self.burnIn = burnIn
        self.leaseTimeout = leaseTimeout
        self.workerTimeout = workerTimeout
        self.maxFailures = maxFailures
        self.minTrainers = minTrainers
        self.startTimeout = startTimeout
        self.progressInterval = progressInterval
        self.space = space
        self.synchronous = synchronous
        self.schedule = schedule
        self.taskWindow = taskWindow
    }

    /// How many tasks a worker of `role` may hold at once.
    public func window(for role: WorkerRole) -> Int {
        role == .trainer ? 1 : max(taskWindow[role] ?? 1, 1)
    }

    /// The step at which a member standing at `step` is next ready: the next multiple of
    /// the interval, or the last step, or where the next `schedule` entry starts.
    public func nextReadyStep(after step: Int) -> Int {
        let ready = min((step / interval + 1) * interval, stop.maxSteps)
        guard let boundary = schedule?.boundary(after: step) else { return ready }
        return min(ready, boundary)
    }
}
