/// Where a member is in its cycle.
///
///     queued(trainer) ──train task──▶ training(trainer) ──handed on──▶ scoring ──scored──▶ decide
///          ▲                                                                                 │
///          ├──────────────────────── keep ─────────────────────────────────────────────────┤
///          │                                                                                 ▼ exploit
///          └──────────── explored ◀── exploring ◀──explore pushed── queued(mutator) ◀──────┘
///
/// `training`, `scoring` and `exploring` are one lease: it spans the whole cycle, from the
/// train task to the score (and the explore after an exploit).
public enum MemberPhase: Sendable, Hashable {
    /// Waiting for a trainer (`.trainer`) or for a mutator to exist (`.mutator`).
    case queued(WorkerRole)
    /// Leased to this trainer.
    case training(WorkerID)
    /// Trained and pushed on to the evaluators; its score is awaited.
    case scoring
    /// Its exploit decision was pushed to the mutators; its new hyperparameters are awaited.
    case exploring
    /// Scored and undecided: waiting for the rest of the population to reach its step
    /// (synchronous mode), or for the slowest to come within the lead (`max_lead`).
    case waiting
    case finished
    case failed

    /// Whether the member is out under a lease.
    public var isLeased: Bool {
        switch self {
        case .training, .scoring, .exploring: true
        default: false
        }
    }

    public var isDone: Bool { self == .finished || self == .failed }
}

/// A member's lease on its current leg: when the leg started, when it expires unless word
/// comes, and which trainer trained it (for the event log, even after the trainer left).
public struct MemberLease: Sendable, Hashable {
    /// When the cycle started (its train task went out): any checkpoint it writes is newer.
    public var since: Double
    /// When the current leg (training, scoring, exploring) started.
    public var started: Double
    /// When the lease expires unless progress extends it.
    public var deadline: Double
    /// The trainer's name.
    public var trainer: String
    /// The trainer itself, while this selector knows it (not kept across a restart).
    public var trainerID: WorkerID?

    public init(since: Double, started: Double, deadline: Double, trainer: String, trainerID: WorkerID? = nil) {
        self.since = since
        self.started = started
        self.deadline = deadline
        self.trainer = trainer
        self.trainerID = trainerID
    }
}

/// One row of the population table.
public struct Member: Sendable, Hashable {
    public let id: Int
    public let seed: UInt64
    /// The number of the member's current task; a result must carry it.
    public internal(set) var version = 0
    /// The step the member's checkpoint is at.
    public internal(set) var step = 0
    /// The step its current training task ends at.
    public internal(set) var targetStep = 0
    /// Its last scored checkpoint (or the one a graceful stop handed back), nil before any.
    public internal(set) var checkpoint: String?
    public internal(set) var hyperparameters: Hyperparameters
    /// The latest score of the member's current weights.
    public internal(set) var score: Double?
    /// Where it is; changed only by `PopulationTable.setPhase`, which keeps the indices.
    public internal(set) var phase: MemberPhase = .queued(.trainer)
    public internal(set) var lease: MemberLease?
    public internal(set) var history: LineageSegment?
    public internal(set) var exploits = 0
    /// Failed tasks and expired leases in a row.
    public internal(set) var failures = 0
    /// What the trainer and evaluator measured for the current weights.
    public internal(set) var metrics: [String: Double] = [:]
    /// An exploit decided and waiting for its explore.
    public internal(set) var pendingExploit: PendingExploit?
    /// Its latest scores as fitness, oldest first (as many as the exploit strategy looks at).
    public internal(set) var recent: [Double] = []
    /// When the member last joined the training queue or the waiting queue: an older entry
    /// for it in either is stale.
    var queueArrival = 0

    public var isDone: Bool { phase.isDone }

    init(id: Int, seed: UInt64, hyperparameters: Hyperparameters) {
        self.id = id
        self.seed = seed
        self.hyperparameters = hyperparameters
    }

    /// A row as a store saved it.
    public init(
        id: Int, seed: UInt64, version: Int, step: Int, targetStep: Int, checkpoint: String?,
        hyperparameters: Hyperparameters,
        score: Double?, phase: MemberPhase, lease: MemberLease?, history: LineageSegment?, exploits: Int, failures: Int,
        metrics: [String: Double], pendingExploit: PendingExploit?, recent: [Double] = []
    ) {
        self.id = id
        self.seed = seed
        self.version = version
        self.step = step
        self.targetStep = targetStep
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.score = score
        self.phase = phase
        self.lease = lease
        self.history = history
        self.exploits = exploits
        self.failures = failures
        self.metrics = metrics
        self.pendingExploit = pendingExploit
        self.recent = recent
    }
}

/// A member's exploit between its decision and its explore.
public struct PendingExploit: Sendable, Hashable {
    public let donor: Int
    /// Its own hyperparameters before it exploited.
    public let old: Hyperparameters
    /// The donor's, which it copied.
    public let copied: Hyperparameters

    public init(donor: Int, old: Hyperparameters, copied: Hyperparameters) {
        self.donor = donor
        self.old = old
        self.copied = copied
    }
}

/// The members and the indices over their phases. A phase changes only through `setPhase`,
/// which keeps every index (the queues, the leased set, the barrier, the count of members
/// done) in step with it, so none of them is ever kept in sync by hand.
///
/// The training queue hands out the member that is furthest behind first (lowest step, then
/// first come): members stay at comparable steps, so they are ranked in fuller cohorts.
struct PopulationTable: Sendable {
    private(set) var members: [Member]
    /// Members queued for a trainer, by (step, arrival); entries whose phase has moved on are
    /// skipped when they reach the top.
    private var trainingQueue = MinHeap<QueueEntry>()
    /// Members queued for a mutator, in order of arrival (skipped likewise).
    private var mutatorQueue = FIFOQueue<Int>()
    private var arrivals = 0
    private(set) var leased: Set<Int> = []
    private(set) var waiting: Set<Int> = []
    private(set) var done = 0
    private(set) var queuedForTraining = 0
    private(set) var queuedForMutator = 0
    /// Whether the table keeps what `max_lead` reads (the two indices below); without a lead
    /// bound it keeps neither and pays nothing for them.
    let boundsLead: Bool
    /// How many live members (neither finished nor failed) stand at each step, and those
    /// steps in a heap whose entries for steps nobody stands at any more are dropped when
    /// they reach the top: the slowest live member's step in amortised O(log n).
    private var liveSteps: [Int: Int] = [:]
    private var liveStepHeap = MinHeap<Int>()
    /// Waiting members by (step, arrival), stale entries skipped at the top: those the
    /// slowest has come close enough to are found in O(log n) each.
    private var waitingQueue = MinHeap<QueueEntry>()

    init(_ members: [Member], boundsLead: Bool = false) {
        self.members = members
        self.boundsLead = boundsLead
        for member in members.indices {
            index(member, entering: members[member].phase)
            if boundsLead, !members[member].isDone { enterStep(members[member].step) }
        }
    }

    var count: Int { members.count }
    var indices: Range<Int> { members.indices }

    subscript(_ index: Int) -> Member { members[index] }

    /// Changes a member's fields other than its phase.
    mutating func update(_ index: Int, _ body: (inout Member) -> Void) {
        let phase = members[index].phase
        let step = members[index].step
        body(&members[index])
        members[index].phase = phase
        if boundsLead, members[index].step != step, !phase.isDone {
            leaveStep(step)
            enterStep(members[index].step)
        }
    }

    /// The step of the live member furthest behind (nil when every member is done, or
    /// when the table does not bound the lead).
    mutating func slowestLiveStep() -> Int? {
        dropStaleSteps()
        return liveStepHeap.min
    }

    private mutating func enterStep(_ step: Int) {
        let count = liveSteps[step, default: 0]
        if count == 0 { liveStepHeap.insert(step) }
        liveSteps[step] = count + 1
    }

    private mutating func leaveStep(_ step: Int) {
        let count = liveSteps[step, default: 0] - 1
        liveSteps[step] = count > 0 ? count : nil
        if count <= 0 { dropStaleSteps() }
    }

    private mutating func dropStaleSteps() {
        while let step = liveStepHeap.min, liveSteps[step] == nil { _ = liveStepHeap.popMin() }
    }

    /// Moves a member to `phase`, updating every index.
    mutating func setPhase(_ index: Int, _ phase: MemberPhase) {
        let old = members[index].phase
        if old == phase, case .queued = phase { return }
        unindex(index, leaving: old)
        members[index].phase = phase
        if !phase.isLeased { members[index].lease = nil }
        self.index(index, entering: phase)
        if boundsLead, old.isDone != phase.isDone {
            if phase.isDone { leaveStep(members[index].step) } else { enterStep(members[index].step) }
        }
    }

    /// The waiting member furthest behind if it stands at or below `limit`, taken off the
    /// waiting queue (it stays `.waiting` until its caller decides it, or `wait`s it again).
    mutating func nextWaiting(atMost limit: Int) -> Int? {
        guard let head = Self.currentHead(of: &waitingQueue, in: .waiting, members: members), head.step <= limit
        else { return nil }
        return waitingQueue.popMin()?.member
    }

    /// Puts a waiting member taken by `nextWaiting` back on the waiting queue.
    mutating func wait(_ index: Int) {
        guard boundsLead, members[index].phase == .waiting else { return }
        arrivals += 1
        members[index].queueArrival = arrivals
        waitingQueue.insert(QueueEntry(step: members[index].step, arrival: arrivals, member: index))
    }

    /// The next member queued for a trainer (furthest behind first), taken off the queue;
    /// nil when none is queued or the one furthest behind stands beyond `atMost`.
    mutating func nextForTraining(atMost limit: Int? = nil) -> Int? {
        guard hasNextForTraining(atMost: limit) else { return nil }
        return trainingQueue.popMin()?.member
    }

    /// Whether `nextForTraining(atMost:)` would give a member (stale entries at the top of
    /// the queue are dropped on the way).
    mutating func hasNextForTraining(atMost limit: Int? = nil) -> Bool {
        guard let head = Self.currentHead(of: &trainingQueue, in: .queued(.trainer), members: members) else {
            return false
        }
        return limit.map { head.step <= $0 } ?? true
    }

    /// The top entry of `queue` that still stands for its member (in `phase`, and its latest
    /// arrival), left in place; the stale entries above it are dropped.
    private static func currentHead(
        of queue: inout MinHeap<QueueEntry>, in phase: MemberPhase, members: [Member]
    ) -> QueueEntry? {
        while let entry = queue.min {
            let member = members[entry.member]
            if member.phase == phase && entry.arrival == member.queueArrival { return entry }
            _ = queue.popMin()
        }
        return nil
    }

    /// The next member queued for a mutator.
    mutating func nextForMutator() -> Int? {
        while !mutatorQueue.isEmpty {
            let member = mutatorQueue.removeFirst()
            if members[member].phase == .queued(.mutator) { return member }
        }
        return nil
    }

    private mutating func unindex(_ index: Int, leaving phase: MemberPhase) {
        switch phase {
        case .queued(.trainer): queuedForTraining -= 1
        case .queued: queuedForMutator -= 1
        case .training, .scoring, .exploring: leased.remove(index)
        case .waiting: waiting.remove(index)
        case .finished, .failed: done -= 1
        }
    }

    private mutating func index(_ index: Int, entering phase: MemberPhase) {
        switch phase {
        case .queued(.trainer):
            queuedForTraining += 1
            arrivals += 1
            members[index].queueArrival = arrivals
            trainingQueue.insert(QueueEntry(step: members[index].step, arrival: arrivals, member: index))
        case .queued:
            queuedForMutator += 1
            mutatorQueue.append(index)
        case .training, .scoring, .exploring: leased.insert(index)
        case .waiting:
            waiting.insert(index)
            wait(index)
        case .finished, .failed: done += 1
        }
    }

    struct QueueEntry: Comparable, Sendable {
        let step: Int
        let arrival: Int
        let member: Int

        static func < (a: QueueEntry, b: QueueEntry) -> Bool {
            a.step != b.step ? a.step < b.step : a.arrival < b.arrival
        }
    }
}
