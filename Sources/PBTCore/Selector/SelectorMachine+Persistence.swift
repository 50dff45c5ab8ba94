/// What a durable store needs from the selector's state machine: the changes since it last
/// asked, a way to rebuild the machine from what it saved, and the checkpoints still in use.
///
///     handle / tick ──▶ takeChanges() ──▶ one transaction ──▶ then send and publish
///     restart ──▶ store.load() ──▶ SelectorMachine(restoring:) ──▶ leases restart their clocks
extension SelectorMachine {
    /// Everything that changed since the last `takeChanges()`.
    public struct Changes: Sendable {
        /// Members whose row changed.
        public internal(set) var members: Set<Int> = []
        /// New lineage segments (each points at an earlier one).
        public internal(set) var segments: [LineageSegment] = []
        /// New scores, with what a member that copies them gets.
        public internal(set) var scores: [ScoreSnapshot] = []
        /// Scores below this step may be forgotten.
        public internal(set) var forgetBelow: Int?

        public var isEmpty: Bool { members.isEmpty && segments.isEmpty && scores.isEmpty && forgetBelow == nil }

        /// Adds the changes that came `later`, so that these hold both: what a store commits
        /// when it writes several batches in one transaction. Later scores replace earlier ones
        /// of the same member and step when written in order, so order is kept.
        public mutating func append(_ later: Changes) {
            members.formUnion(later.members)
            segments += later.segments
            scores += later.scores
            forgetBelow = [forgetBelow, later.forgetBelow].compactMap { $0 }.max()
        }
    }

    /// The changes since the last call, and the counters a store keeps beside them.
    public mutating func takeChanges() -> (changes: Changes, members: [Member]) {
        let taken = changes
        changes = Changes()
        return (taken, taken.members.sorted().map { members[$0] })
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

        public init(members: [Member], scores: [ScoreSnapshot], steps: Int, exploits: Int, elapsed: Double, forgottenBelow: Int, bestEver: ScoreSnapshot?) {
            self.members = members
            self.scores = scores
            self.steps = steps
            self.exploits = exploits
            self.elapsed = elapsed
            self.forgottenBelow = forgottenBelow
            self.bestEver = bestEver
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

    /// A machine that goes on from `saved`. Tasks that were out stay leased to the same
    /// workers (which keep their routing ids across a selector restart), with a fresh lease:
    /// a result that arrives is applied; one that does not expires as usual. Workers must say
    /// `ready` again to be given work.
    public init(settings: SelectorSettings, name: String, restoring saved: SavedState, now: Double) {
        self.settings = settings
        self.name = name
        members = saved.members.sorted { $0.id < $1.id }
        // A committed lease keeps its version (its result is still welcome); every member's
        // next task jumps past any version sent but never committed.
        versionSkips = Set(members.indices)
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
        for member in members {
            var cursor = member.history
            while let segment = cursor {
                highest = max(highest, segment.id)
                cursor = segment.previous
            }
        }
        for snapshot in saved.scores {
            highest = max(highest, snapshot.history?.id ?? 0)
        }
        nextSegmentID = highest + 1
        for index in members.indices {
            switch members[index].phase {
            case .queued(let role):
                queues[role, default: FIFOQueue()].append(index)
            case .leased(let role, let worker, _):
                members[index].phase = .leased(role, worker: worker, deadline: now + settings.leaseTimeout)
                leased.insert(index)
            case .waiting:
                waiting.insert(index)
            case .finished, .failed:
                membersDone += 1
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
        var references = Set(members.compactMap(\.checkpoint))
        for byMember in snapshots.values {
            for snapshot in byMember.values { references.insert(snapshot.checkpoint) }
        }
        if let bestEver { references.insert(bestEver.checkpoint) }
        return references
    }
}
