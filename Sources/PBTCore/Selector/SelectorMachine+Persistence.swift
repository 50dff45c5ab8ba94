/// What a durable store needs from the selector's state machine: the changes it emits as
/// `.persist` actions, a way to rebuild the machine from what was saved, and the checkpoints
/// still in use.
///
///     handle / tick ──▶ .persist(changes) ──▶ one transaction ──▶ then the events are logged
///     restart ──▶ store.load() ──▶ SelectorMachine(restoring:) ──▶ leases wait one silence
extension SelectorMachine {
    /// Everything that changed since the last `takeChanges()`.
    public struct Changes: Sendable, Hashable {
        /// The rows of members that changed, as they stand now.
        public internal(set) var members: [Int: Member] = [:]
        /// New lineage segments (each points at an earlier one).
        public internal(set) var segments: [LineageSegment] = []
        /// New scores, with what a member that copies them gets.
        public internal(set) var scores: [ScoreSnapshot] = []
        /// Scores below this step may be forgotten.
        public internal(set) var forgetBelow: Int?

        public init() {}

        public var isEmpty: Bool { members.isEmpty && segments.isEmpty && scores.isEmpty && forgetBelow == nil }

        /// Adds the changes that came `later`, so that these hold both: what a store commits
        /// when it writes several batches in one transaction. Later scores replace earlier ones
        /// of the same member and step when written in order, so order is kept.
        public mutating func append(_ later: Changes) {
            members.merge(later.members) { $1 }
            segments += later.segments
            scores += later.scores
            forgetBelow = [forgetBelow, later.forgetBelow].compactMap { $0 }.max()
        }
    }

    /// What a store saved, enough to go on from.
    public struct SavedState: Sendable {
        public var members: [Member]
        public var scores: [ScoreSnapshot]
        public var steps: Int
        public var exploits: Int
        /// Seconds the experiment had run when it was saved.
        public var elapsed: Double
        public var forgottenBelow: Int
        public var bestEver: ScoreSnapshot?
        /// The highest lineage segment id the store holds, referenced or not: new segments are
        /// numbered above it (a segment nobody points at any more still holds its id in the store).
        public var highestSegmentID: Int

        public init(
            members: [Member], scores: [ScoreSnapshot], steps: Int, exploits: Int, elapsed: Double, forgottenBelow: Int,
            bestEver: ScoreSnapshot?, highestSegmentID: Int = 0
        ) {
            self.members = members
            self.scores = scores
            self.steps = steps
            self.exploits = exploits
            self.elapsed = elapsed
            self.forgottenBelow = forgottenBelow
            self.bestEver = bestEver
            self.highestSegmentID = highestSegmentID
        }
    }

    /// Seconds since the experiment started (counting time before a restart).
    public func elapsed(now: Double) -> Double {
        now - (startTime ?? now)
    }

    /// Versions a restart skips. The selector sends a batch's tasks just before it commits
    /// them; a task sent in the batch a crash interrupted carries a version the store never
    /// saw, and skipping ahead makes sure no task handed out after the restart reuses it.
    public static let versionsSkippedOnRestore = 1_000

    /// A machine that goes on from `saved`. What was out stays out under its lease for one
    /// silence: a trainer still training says so within a heartbeat (its worker comes back
    /// under the same routing id, so its result is still welcome), and a score or explore
    /// still queued at a live evaluator or mutator arrives as soon as it reconnects. Whatever
    /// gets no word by then goes out again, without waiting a whole lease.
    public init(
        settings: SelectorSettings, name: String, restoring saved: SavedState, now: Double, routesEpoch: Int = 0
    ) {
        self.settings = settings
        self.name = name
        table = PopulationTable(saved.members.sorted { $0.id < $1.id }, boundsLead: settings.maxLead != nil)
        pool = WorkerPool(routesEpoch: routesEpoch)
        // A committed lease keeps its version (its result is still welcome); every member's
        // next task jumps past any version sent but never committed.
        versionSkips = Set(table.indices)
        steps = saved.steps
        exploits = saved.exploits
        startTime = now - saved.elapsed
        lastProgressTime = now
        stepsAtLastProgress = saved.steps
        forgottenBelow = saved.forgottenBelow
        bestEver = saved.bestEver
        for snapshot in saved.scores {
            board.record(member: snapshot.member, step: snapshot.step, fitness: snapshot.fitness)
            snapshots[snapshot.step, default: [:]][snapshot.member] = snapshot
        }
        var highest = 0
        for member in table.members {
            var cursor = member.history
            while let segment = cursor {
                highest = max(highest, segment.id)
                cursor = segment.previous
            }
        }
        for snapshot in saved.scores {
            highest = max(highest, snapshot.history?.id ?? 0)
        }
        highest = max(highest, saved.bestEver?.history?.id ?? 0, saved.highestSegmentID)
        nextSegmentID = highest + 1
        for index in table.indices where table[index].phase.isLeased {
            let trainer = table[index].lease?.trainer ?? ""
            // A member in training has a holder, presumed alive until it has been silent for a
            // silence. One waiting for a score or an explore has none: if it does not arrive
            // within a silence, it never will.
            var deadline = now + settings.silenceTimeout
            if case .training(let holder) = table[index].phase {
                pool.add(
                    ConnectedWorker(
                        id: holder, role: .trainer, name: trainer, lastSeen: now, sent: 0,
                        task: (index, table[index].version)))
                deadline = now + settings.leaseTimeout
            }
            // Since the experiment started: a checkpoint written before the restart may still be on its way.
            table.update(index) {
                $0.lease = MemberLease(since: now - saved.elapsed, started: now, deadline: deadline, trainer: trainer)
            }
        }
        if let totalSteps = settings.stop.totalSteps, steps >= totalSteps { budgetSpent = true }
        refreshBest()
        // Training resumes as soon as a trainer is back: the population is already under way.
        trainingOpen = true
    }

    /// Every checkpoint the experiment may still load: each member's current one, those a
    /// member could copy (scores not yet forgotten), and the best ever reached.
    public func referencedCheckpoints() -> Set<String> {
        var references = Set(table.members.compactMap(\.checkpoint))
        for byMember in snapshots.values {
            for snapshot in byMember.values { references.insert(snapshot.checkpoint) }
        }
        if let bestEver { references.insert(bestEver.checkpoint) }
        return references
    }
}

extension SelectorMachine {
    /// The checkpoints worth keeping once the experiment is over: every member's own, and the
    /// best ever reached.
    public func finalCheckpoints() -> Set<String> {
        var references = Set(table.members.compactMap(\.checkpoint))
        if let bestEver { references.insert(bestEver.checkpoint) }
        return references
    }
}
