/// A fact the selector publishes on the event stream and records in the run's event log.
///
/// Each case has a topic (`member.scored`, `trainer.joined`, …): the first frame on the
/// stream, so subscribers filter by prefix. The JSON form of each is in PBTWire.
public enum PBTEvent: Sendable, Hashable {
    /// The largest population an experiment may have: member ids run from 0 to one less.
    public static let largestPopulation = 1_000_000

    case experimentStarted(name: String, population: Int, hyperparameters: [String])
    case workerJoined(role: WorkerRole, worker: String)
    case workerLeft(role: WorkerRole, worker: String, reason: String)
    case memberAssigned(member: Int, version: Int, role: WorkerRole, worker: String, step: Int)
    case memberTrained(MemberTrained)
    case memberScored(member: Int, version: Int, step: Int, score: Double, evaluator: String)
    /// `comparedAt` is the step the member was ranked at: its own, or where it last had company.
    case memberDecided(member: Int, step: Int, comparedAt: Int, decision: ExploitDecision, cohort: Int, rank: Int?)
    case memberExploited(MemberExploited)
    case memberFinished(member: Int, step: Int, score: Double?)
    /// A task failed (or its lease expired, `reason` says so); `worker` is whoever reported it.
    case memberFailed(member: Int, version: Int, worker: String, reason: String, givenUp: Bool)
    case leaseExpired(member: Int, version: Int, role: WorkerRole, worker: String)
    /// A lease ended early because its worker left or lost the task; the member is queued again.
    case leaseReleased(member: Int, version: Int, role: WorkerRole, worker: String, reason: String)
    /// A result that is not for the current lease was dropped. `reason` is a key
    /// (`stale_version`, `not_leased`, `unknown_member`, `wrong_leg`, `step_outside_task`,
    /// `missing_checkpoint`, `outside_space`), `detail` the particulars. Published for the first ten of a reason, then at most once a
    /// second for it: `count` is how many of that reason so far, `total` how many of all.
    case resultDropped(
        member: Int, version: Int, worker: String, reason: String, detail: String, count: Int, total: Int)
    /// A worker failed `failures` tasks in a row and gets no work for `seconds`.
    case workerBenched(role: WorkerRole, worker: String, failures: Int, seconds: Double)
    case progress(Progress)
    case experimentFinished(reason: FinishReason, best: Int?, score: Double?, steps: Int, seconds: Double)
    /// A stage process started (`stage` is `selector`, `trainer`, …; `worker` its name).
    case stageStarted(stage: String, worker: String, pid: Int)
    /// A stage process is stopping.
    case stageStopped(stage: String, worker: String, reason: String)
    /// A stage received a frame it could not use and dropped it.
    /// Published for the first ten drops of a reason, then at most once a second for it:
    /// `count` is how many of that reason the worker dropped so far, `total` how many of all.
    case frameDropped(stage: String, worker: String, reason: String, total: Int, count: Int = 0)
    /// The selector went on from its store after a restart.
    case experimentResumed(steps: Int, membersDone: Int, leased: Int)
    /// Checkpoints nobody can load any more were deleted.
    case checkpointsCollected(deleted: Int, freedBytes: Int64, kept: Int, keptBytes: Int64)
    /// A binding stage did not let a peer in (CURVE): its key is not authorized, it does not
    /// speak CURVE, or it holds another server key. `total` counts every refusal of the stage.
    case peerRefused(stage: String, address: String, key: String, reason: String, total: Int)

    /// The event's topic: the first frame on the stream.
    /// The member a member, task or result event is about; nil for the others.
    public var member: Int? {
        switch self {
        case .memberAssigned(let member, _, _, _, _), .memberScored(let member, _, _, _, _),
            .memberDecided(let member, _, _, _, _, _), .memberFinished(let member, _, _),
            .memberFailed(let member, _, _, _, _), .leaseExpired(let member, _, _, _),
            .leaseReleased(let member, _, _, _, _), .resultDropped(let member, _, _, _, _, _, _):
            member
        case .memberTrained(let trained): trained.member
        case .memberExploited(let exploited): exploited.member
        default: nil
        }
    }

    /// Whether the event is about a member (or copies from a donor) that an experiment of
    /// `population` members cannot have. A dropped result may name any member: never such.
    public func namesMemberOutside(population: Int) -> Bool {
        if case .resultDropped = self { return false }
        if let member, member >= population { return true }
        if case .memberExploited(let exploited) = self, exploited.donor >= population { return true }
        return false
    }

    public var topic: Topic {
        switch self {
        case .experimentStarted: .experimentStarted
        case .workerJoined(let role, _): .joined(role)
        case .workerLeft(let role, _, _): .left(role)
        case .memberAssigned: .memberAssigned
        case .memberTrained: .memberTrained
        case .memberScored: .memberScored
        case .memberDecided: .memberDecided
        case .memberExploited: .memberExploited
        case .memberFinished: .memberFinished
        case .memberFailed: .memberFailed
        case .leaseExpired: .leaseExpired
        case .leaseReleased: .leaseReleased
        case .resultDropped: .resultDropped
        case .workerBenched(let role, _, _, _): .benched(role)
        case .progress: .experimentProgress
        case .experimentFinished: .experimentFinished
        case .stageStarted: .stageStarted
        case .stageStopped: .stageStopped
        case .frameDropped: .frameDropped
        case .experimentResumed: .experimentResumed
        case .checkpointsCollected: .checkpointsCollected
        case .peerRefused: .peerRefused
        }
    }

    /// Every topic on the event stream. Its raw value is the first frame of each message, so
    /// a subscriber filters by prefix (`member.` for every member event).
    public enum Topic: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case experimentStarted = "experiment.started"
        case experimentProgress = "experiment.progress"
        case experimentFinished = "experiment.finished"
        case experimentResumed = "experiment.resumed"
        case trainerJoined = "trainer.joined"
        case evaluatorJoined = "evaluator.joined"
        case mutatorJoined = "mutator.joined"
        case trainerLeft = "trainer.left"
        case evaluatorLeft = "evaluator.left"
        case mutatorLeft = "mutator.left"
        case trainerBenched = "trainer.benched"
        case evaluatorBenched = "evaluator.benched"
        case mutatorBenched = "mutator.benched"
        case memberAssigned = "member.assigned"
        case memberTrained = "member.trained"
        case memberScored = "member.scored"
        case memberDecided = "member.decided"
        case memberExploited = "member.exploited"
        case memberFinished = "member.finished"
        case memberFailed = "member.failed"
        case leaseExpired = "lease.expired"
        case leaseReleased = "lease.released"
        case resultDropped = "result.dropped"
        case stageStarted = "stage.started"
        case stageStopped = "stage.stopped"
        case frameDropped = "frame.dropped"
        case checkpointsCollected = "checkpoints.collected"
        case peerRefused = "peer.refused"

        public var description: String { rawValue }

        /// Every topic by its name: one hash instead of comparing a name with each case.
        public static let named = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

        /// The topic as the stream carries it, for a subscription filter.
        public var bytes: [UInt8] { Array(rawValue.utf8) }

        /// `ROLE.joined`.
        public static func joined(_ role: WorkerRole) -> Topic {
            switch role {
            case .trainer: .trainerJoined
            case .evaluator: .evaluatorJoined
            case .mutator: .mutatorJoined
            }
        }

        /// `ROLE.left`.
        public static func left(_ role: WorkerRole) -> Topic {
            switch role {
            case .trainer: .trainerLeft
            case .evaluator: .evaluatorLeft
            case .mutator: .mutatorLeft
            }
        }

        /// `ROLE.benched`.
        public static func benched(_ role: WorkerRole) -> Topic {
            switch role {
            case .trainer: .trainerBenched
            case .evaluator: .evaluatorBenched
            case .mutator: .mutatorBenched
            }
        }

        /// The prefix of every topic of a family (`member.`, `experiment.`), for a subscription
        /// filter that takes them all.
        public static func family(_ name: String) -> [UInt8] { Array((name + ".").utf8) }
    }

    /// A trainer's step range for a member.
    public struct MemberTrained: Sendable, Hashable {
        public var member: Int
        public var version: Int
        public var trainer: String
        public var fromStep: Int
        public var step: Int
        public var seconds: Double
        public var checkpoint: String
        public var hyperparameters: Hyperparameters
        public var metrics: [String: Double]
        public var interrupted: Bool
        /// The score of the weights this training started from (what PB2 measures improvement against).
        public var previousScore: Double?

        public init(
            member: Int, version: Int, trainer: String, fromStep: Int, step: Int, seconds: Double, checkpoint: String,
            hyperparameters: Hyperparameters, metrics: [String: Double], interrupted: Bool, previousScore: Double? = nil
        ) {
            self.member = member
            self.version = version
            self.trainer = trainer
            self.fromStep = fromStep
            self.step = step
            self.seconds = seconds
            self.checkpoint = checkpoint
            self.hyperparameters = hyperparameters
            self.metrics = metrics
            self.interrupted = interrupted
            self.previousScore = previousScore
        }

        /// The member-steps the range trained: `step − fromStep`, or 0 when that is negative or
        /// does not fit an Int (read from the stream, the fields hold whatever a publisher put).
        public var stepsTrained: Int {
            let (steps, overflow) = step.subtractingReportingOverflow(fromStep)
            return overflow ? 0 : max(0, steps)
        }
    }

    /// A member copied `donor`'s weights at `step` and explored the hyperparameters.
    public struct MemberExploited: Sendable, Hashable {
        public var member: Int
        public var donor: Int
        public var step: Int
        public var checkpoint: String
        /// The member's own hyperparameters before it exploited.
        public var old: Hyperparameters
        /// The donor's hyperparameters, which the member copied.
        public var copied: Hyperparameters
        /// What it trains with from now on (after explore).
        public var new: Hyperparameters
        public var changes: [String: ExploreChange]
        /// The mutator that explored (empty when the experiment does not explore).
        public var mutator: String

        public init(
            member: Int, donor: Int, step: Int, checkpoint: String, old: Hyperparameters, copied: Hyperparameters,
            new: Hyperparameters, changes: [String: ExploreChange], mutator: String = ""
        ) {
            self.mutator = mutator
            self.member = member
            self.donor = donor
            self.step = step
            self.checkpoint = checkpoint
            self.old = old
            self.copied = copied
            self.new = new
            self.changes = changes
        }
    }

    /// A periodic summary of where the experiment stands.
    public struct Progress: Sendable, Hashable {
        public var seconds: Double
        public var steps: Int
        public var stepsPerSecond: Double
        public var bestMember: Int?
        public var bestScore: Double?
        public var trainers: Int
        public var busyTrainers: Int
        public var membersFinished: Int
        public var population: Int
        public var exploits: Int
        /// The experiment's name, so that a monitor attached mid-run can say what it watches.
        public var experiment: String
        /// Evaluators and mutators the selector counts now (nil in logs written before they
        /// were told), so that a watcher attached mid-run, which missed their `joined`
        /// events, counts them too.
        public var evaluators: Int?
        public var mutators: Int?

        public init(
            seconds: Double, steps: Int, stepsPerSecond: Double, bestMember: Int?, bestScore: Double?, trainers: Int,
            busyTrainers: Int, membersFinished: Int, population: Int, exploits: Int, experiment: String = "",
            evaluators: Int? = nil, mutators: Int? = nil
        ) {
            self.seconds = seconds
            self.steps = steps
            self.stepsPerSecond = stepsPerSecond
            self.bestMember = bestMember
            self.bestScore = bestScore
            self.trainers = trainers
            self.busyTrainers = busyTrainers
            self.membersFinished = membersFinished
            self.population = population
            self.exploits = exploits
            self.experiment = experiment
            self.evaluators = evaluators
            self.mutators = mutators
        }
    }
}

/// An event with the time it was published (seconds since 1970, UTC, to the millisecond):
/// what a subscriber or a reader of `events.jsonl` gets from `EventJSON.decode`.
public struct TimedEvent: Sendable, Hashable {
    public var time: Double
    public var event: PBTEvent

    public init(time: Double, event: PBTEvent) {
        self.time = time
        self.event = event
    }

    /// The event's topic.
    public var topic: PBTEvent.Topic { event.topic }
}

/// Why an experiment ended.
public enum FinishReason: String, Sendable, Hashable {
    /// Every member trained its maximum number of steps (or was given up).
    case maxSteps = "max_steps"
    /// A member reached the target score.
    case target = "target_score"
    /// The wall-clock budget ran out.
    case timeBudget = "time_budget"
    /// The population trained its budget of steps.
    case totalSteps = "total_steps"
    /// Every member failed and was given up: nothing was trained to the end.
    case allFailed = "all_failed"
}
