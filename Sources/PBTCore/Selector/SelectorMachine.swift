/// The selector's brain: the population table, work queues, leases, exploit decisions and
/// stopping, as a state machine with no I/O.
///
/// Each input is one `mutating` method (`start`, `handle(_:from:now:)`, `tick`); each
/// returns the actions the selector stage then performs (send a command to a worker,
/// publish an event, finish). Time is a parameter, randomness is derived per decision from
/// the experiment seed, so the same inputs always give the same actions.
///
///     queued(trainer) ──dispatch──▶ leased(trainer) ──trained──▶ queued(evaluator)
///          ▲                                                        │ dispatch
///          │ keep / explored                                        ▼
///     queued(mutator) ◀──exploit── decide ◀──scored── leased(evaluator)
///                                    │
///                                    └──▶ finished (max steps) / experiment finished
///
/// Every dispatch bumps the member's version; a result must carry the current version
/// and come from the worker holding the lease, or it is dropped and counted.
public struct SelectorMachine: Sendable {
    /// What the selector stage does next.
    public enum Action: Sendable, Hashable {
        case send(WorkerID, WorkerCommand)
        /// Send the experiment to this worker (the stage holds the bytes).
        case welcome(WorkerID)
        case publish(PBTEvent)
        case finish(ExperimentSummary)
    }

    /// Where a member is in its cycle.
    public enum Phase: Sendable, Hashable {
        case queued(WorkerRole)
        case leased(WorkerRole, worker: WorkerID, deadline: Double)
        /// Synchronous mode: scored, waiting for the rest of the population to reach its step.
        case waiting
        case finished
        case failed
    }

    /// One row of the population table.
    public struct Member: Sendable {
        public let id: Int
        public let seed: UInt64
        public internal(set) var version = 0
        /// The step the member's checkpoint is at.
        public internal(set) var step = 0
        /// The step its current training task ends at.
        public internal(set) var targetStep = 0
        public internal(set) var checkpoint: String?
        public internal(set) var hyperparameters: Hyperparameters
        /// The latest score of the member's current weights.
        public internal(set) var score: Double?
        public internal(set) var phase: Phase = .queued(.trainer)
        public internal(set) var history: LineageSegment?
        public internal(set) var exploits = 0
        public internal(set) var failures = 0
        /// What the trainer and evaluator measured for the current weights.
        public internal(set) var metrics: [String: Double] = [:]
        /// What the trainer reported for weights still waiting for their score.
        public internal(set) var pendingMetrics: [String: Double] = [:]
        /// An exploit decided and waiting for its explore.
        public internal(set) var pendingExploit: PendingExploit?
        /// Its latest scores as fitness, oldest first (as many as the exploit strategy looks at).
        public internal(set) var recent: [Double] = []

        public var isDone: Bool { phase == .finished || phase == .failed }

        init(id: Int, seed: UInt64, hyperparameters: Hyperparameters) {
            self.id = id
            self.seed = seed
            self.hyperparameters = hyperparameters
        }

        /// A row as a store saved it.
        public init(
            id: Int, seed: UInt64, version: Int, step: Int, targetStep: Int, checkpoint: String?, hyperparameters: Hyperparameters,
            score: Double?, phase: Phase, history: LineageSegment?, exploits: Int, failures: Int, metrics: [String: Double],
            pendingMetrics: [String: Double], pendingExploit: PendingExploit?, recent: [Double] = []
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
            self.history = history
            self.exploits = exploits
            self.failures = failures
            self.metrics = metrics
            self.pendingMetrics = pendingMetrics
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

    /// What the state machine knows of a connected worker.
    public struct Worker: Sendable {
        public let id: WorkerID
        public internal(set) var role: WorkerRole
        public internal(set) var name: String
        public internal(set) var lastSeen: Double
        /// Tasks sent to this worker so far.
        public internal(set) var received: Int
        /// The tasks it holds: member → the version it was given (at most the role's window).
        public internal(set) var tasks: [Int: Int] = [:]
        /// The member it works on, if any (the lowest, when it holds several).
        public var member: Int? { tasks.keys.min() }
    }

    /// A member's state at a step where it was scored: its standing there, and what a member
    /// that copies it gets.
    public struct ScoreSnapshot: Sendable {
        public let member: Int
        public let step: Int
        public let fitness: Double
        public let score: Double
        public let checkpoint: String
        public let hyperparameters: Hyperparameters
        public let history: LineageSegment?
        public let metrics: [String: Double]
        /// The member's latest scores as fitness up to this step, oldest first.
        public let recent: [Double]

        public init(
            member: Int, step: Int, fitness: Double, score: Double, checkpoint: String, hyperparameters: Hyperparameters,
            history: LineageSegment?, metrics: [String: Double], recent: [Double] = []
        ) {
            self.member = member
            self.step = step
            self.fitness = fitness
            self.score = score
            self.checkpoint = checkpoint
            self.hyperparameters = hyperparameters
            self.history = history
            self.metrics = metrics
            self.recent = recent
        }
    }

    public let settings: SelectorSettings
    public let name: String
    public internal(set) var members: [Member]
    public internal(set) var workers: [WorkerID: Worker] = [:]
    var idle: [WorkerRole: [WorkerID]] = [:]
    var queues: [WorkerRole: FIFOQueue<Int>] = [:]
    var leased: Set<Int> = []
    var board = ScoreBoard()
    var snapshots: [Int: [Int: ScoreSnapshot]] = [:]
    var startTime: Double?
    var trainingOpen = false
    public internal(set) var summary: ExperimentSummary?
    public internal(set) var steps = 0
    public internal(set) var exploits = 0
    var best: Standing?
    /// The best score ever reached, with the checkpoint that reached it (kept from collection).
    public internal(set) var bestEver: ScoreSnapshot?
    var lastProgressTime = 0.0
    var stepsAtLastProgress = 0
    public internal(set) var forgottenBelow = 0
    /// The population trained its `stop.totalSteps`: no more training is handed out.
    var budgetSpent = false
    /// Members finished or given up.
    public internal(set) var membersDone = 0
    /// Synchronous mode: members scored at the ready step, waiting for the rest.
    var waiting: Set<Int> = []
    /// Members whose next task skips versions (after a restore; see `versionsSkippedOnRestore`).
    var versionSkips: Set<Int> = []
    /// What changed since the last `takeChanges()`, for a durable store.
    var changes = Changes()
    var nextSegmentID = 1

    /// A machine for a population whose starting hyperparameters are `initial` (one a member).
    public init(settings: SelectorSettings, name: String, initial: [Hyperparameters]) {
        self.settings = settings
        self.name = name
        members = initial.enumerated().map { index, hyperparameters in
            Member(id: index, seed: SplitMix64.derive(settings.seed, UInt64(index)), hyperparameters: hyperparameters)
        }
    }

    /// Whether the experiment is over.
    public var isFinished: Bool { summary != nil }

    /// Workers of `role` that are connected.
    public func workerCount(_ role: WorkerRole) -> Int {
        workers.values.reduce(0) { $0 + ($1.role == role ? 1 : 0) }
    }

    /// Workers of `role` that are working on a member.
    public func busyCount(_ role: WorkerRole) -> Int {
        workers.values.reduce(0) { $0 + ($1.role == role && !$1.tasks.isEmpty ? 1 : 0) }
    }

    // MARK: Inputs

    /// Starts the experiment: every member is queued for its first training steps.
    public mutating func start(now: Double) -> [Action] {
        startTime = now
        lastProgressTime = now
        var actions: [Action] = [
            .publish(.experimentStarted(name: name, population: members.count, hyperparameters: members.first?.hyperparameters.names ?? []))
        ]
        for index in members.indices {
            members[index].phase = .queued(.trainer)
            enqueue(members[index].id, for: .trainer)
        }
        dispatch(now: now, into: &actions)
        return actions
    }

    /// Handles one report from a worker.
    public mutating func handle(_ report: WorkerReport, from worker: WorkerID, now: Double) -> [Action] {
        var actions: [Action] = []
        if case .ready = report {} else { workers[worker]?.lastSeen = now }
        if isFinished {
            switch report {
            case .ready, .trained, .scored, .explored, .failed, .released:
                actions.append(.send(worker, .finished))
            case .progress, .goodbye:
                break
            }
            return actions
        }
        switch report {
        case .ready(let role, let received, let workerName, let experimentID):
            ready(worker, role: role, received: received, name: workerName, experimentID: experimentID, now: now, into: &actions)
        case .progress(let member, let version, _):
            if let index = leasedIndex(member, version: version, by: worker, role: nil) {
                if case .leased(let role, let holder, _) = members[index].phase {
                    members[index].phase = .leased(role, worker: holder, deadline: now + settings.leaseTimeout)
                }
            }
        case .trained(let result):
            trained(result, from: worker, now: now, into: &actions)
        case .scored(let result):
            scored(result, from: worker, now: now, into: &actions)
        case .explored(let result):
            explored(result, from: worker, now: now, into: &actions)
        case .failed(let member, let version, let reason):
            failed(member: member, version: version, reason: reason, from: worker, now: now, into: &actions)
        case .released(let member, let version):
            if let index = leasedIndex(member, version: version, by: worker, role: nil),
                case .leased(let role, _, _) = members[index].phase
            {
                _ = accept(member, version: version, from: worker, role: role, now: now, into: &actions)
                requeue(index, role: role)
            }
        case .goodbye:
            remove(worker, reason: "goodbye", now: now, into: &actions)
        }
        if !isFinished { dispatch(now: now, into: &actions) }
        return actions
    }

    /// Handles the passing of time: expired leases, silent workers, the time budget, progress.
    public mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        guard !isFinished, let startTime else { return actions }
        for index in leased.sorted() {
            guard case .leased(let role, let holder, let deadline) = members[index].phase, deadline < now else { continue }
            let workerName = workers[holder]?.name ?? holder.description
            actions.append(.publish(.leaseExpired(member: index, version: members[index].version, role: role, worker: workerName)))
            requeue(index, role: role)
            if workers[holder] != nil {
                workers[holder]?.tasks[index] = nil
                remove(holder, reason: "lease expired", now: now, into: &actions)
            }
        }
        for (id, worker) in workers where worker.tasks.isEmpty && now - worker.lastSeen > settings.workerTimeout {
            remove(id, reason: "silent for \(Int(settings.workerTimeout)) s", now: now, into: &actions)
        }
        if let budget = settings.stop.timeBudget, now - startTime >= budget {
            finish(.timeBudget, now: now, into: &actions)
            return actions
        }
        if now - lastProgressTime >= settings.progressInterval {
            actions.append(.publish(.progress(progress(now: now))))
            lastProgressTime = now
            stepsAtLastProgress = steps
            forgetPassedSteps()
        }
        dispatch(now: now, into: &actions)
        return actions
    }

    /// Where the experiment stands now.
    public func progress(now: Double) -> PBTEvent.Progress {
        let elapsed = now - (startTime ?? now)
        let window = now - lastProgressTime
        return PBTEvent.Progress(
            seconds: elapsed,
            steps: steps,
            stepsPerSecond: window > 0 ? Double(steps - stepsAtLastProgress) / window : 0,
            bestMember: best?.member,
            bestScore: best.flatMap { members[$0.member].score },
            trainers: workerCount(.trainer),
            busyTrainers: busyCount(.trainer),
            membersFinished: membersDone,
            population: members.count,
            exploits: exploits,
            experiment: name
        )
    }

    // MARK: Workers

    private mutating func ready(
        _ id: WorkerID, role: WorkerRole, received: Int, name workerName: String, experimentID: String,
        now: Double, into actions: inout [Action]
    ) {
        guard experimentID == settings.experimentID else {
            actions.append(.welcome(id))
            return
        }
        if var worker = workers[id], worker.role == role {
            worker.lastSeen = now
            workers[id] = worker
            if received < worker.received { return }  // sent before its latest task arrived
            // It got its tasks and is idle without having reported: they are lost.
            workers[id]?.tasks = [:]
            release(worker.tasks.keys.sorted(), heldBy: id, name: worker.name, reason: "the worker is idle without a result", into: &actions)
            markIdle(id, role: role)
            return
        }
        if workers[id] != nil { remove(id, reason: "changed role", now: now, into: &actions) }
        workers[id] = Worker(id: id, role: role, name: workerName, lastSeen: now, received: received)
        actions.append(.publish(.workerJoined(role: role, worker: workerName)))
        markIdle(id, role: role)
    }

    /// Puts a worker in line for tasks if it has room for one more.
    private mutating func markIdle(_ id: WorkerID, role: WorkerRole) {
        guard let worker = workers[id], worker.tasks.count < settings.window(for: role) else { return }
        if !(idle[role]?.contains(id) ?? false) { idle[role, default: []].append(id) }
    }

    /// Requeues those of `held` still leased to `id`.
    private mutating func release(_ held: [Int], heldBy id: WorkerID, name: String, reason: String, into actions: inout [Action]) {
        for member in held {
            guard case .leased(let role, let holder, _) = members[member].phase, holder == id else { continue }
            actions.append(.publish(.leaseReleased(member: member, version: members[member].version, role: role, worker: name, reason: reason)))
            requeue(member, role: role)
        }
    }

    private mutating func remove(_ id: WorkerID, reason: String, now: Double, into actions: inout [Action]) {
        guard let worker = workers.removeValue(forKey: id) else { return }
        idle[worker.role]?.removeAll { $0 == id }
        release(worker.tasks.keys.sorted(), heldBy: id, name: worker.name, reason: reason, into: &actions)
        actions.append(.publish(.workerLeft(role: worker.role, worker: worker.name, reason: reason)))
    }

    /// Finds a member leased to `worker` at `version`, or nil when the report is stale.
    private func leasedIndex(_ member: Int, version: Int, by worker: WorkerID, role: WorkerRole?) -> Int? {
        guard members.indices.contains(member), members[member].version == version,
            case .leased(let leasedRole, let holder, _) = members[member].phase,
            holder == worker, role == nil || role == leasedRole
        else { return nil }
        return member
    }

    /// Checks a result; when it is not for the current lease, records the drop and returns nil.
    /// Either way the worker that sent it is idle again.
    private mutating func accept(
        _ member: Int, version: Int, from worker: WorkerID, role: WorkerRole, leaving: Bool = false, now: Double, into actions: inout [Action]
    ) -> Int? {
        if let known = workers[worker], known.role == role {
            // A result for a task the worker holds frees its place; a stale one for another
            // does not. A worker that is leaving (it stopped early on a signal) gets no new task.
            if known.tasks[member] == version { workers[worker]?.tasks[member] = nil }
            if !leaving { markIdle(worker, role: role) }
        }
        guard let index = leasedIndex(member, version: version, by: worker, role: role) else {
            let reason: String
            if !members.indices.contains(member) {
                reason = "unknown member"
            } else if members[member].version != version {
                reason = "stale version \(version), current \(members[member].version)"
            } else {
                reason = "not leased to this \(role)"
            }
            actions.append(.publish(.resultDropped(member: member, version: version, worker: workers[worker]?.name ?? worker.description, reason: reason)))
            return nil
        }
        leased.remove(index)
        return index
    }

    // MARK: Results

    private mutating func trained(_ result: TrainResult, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        guard let index = accept(result.member, version: result.version, from: worker, role: .trainer, leaving: result.interrupted, now: now, into: &actions)
        else { return }
        var member = members[index]
        guard result.step > member.step, result.step <= member.targetStep else {
            actions.append(.publish(.resultDropped(
                member: index, version: result.version, worker: workerName(worker),
                reason: "step \(result.step) outside \(member.step + 1)...\(member.targetStep)")))
            requeue(index, role: .trainer)
            return
        }
        let fromStep = member.step
        let segmentID = nextSegmentID
        nextSegmentID += 1
        member.history = member.history?.extended(by: index, to: result.step, with: member.hyperparameters, id: segmentID)
            ?? LineageSegment(id: segmentID, member: index, fromStep: fromStep, toStep: result.step, hyperparameters: member.hyperparameters, previous: nil)
        changes.segments.append(member.history!)
        member.step = result.step
        member.checkpoint = result.checkpoint
        member.failures = 0
        member.pendingMetrics = result.metrics
        steps += result.step - fromStep
        members[index] = member
        if let budget = settings.stop.totalSteps, steps >= budget {
            // Keep the steps just trained: score them first when they complete a ready point.
            budgetSpent = true
        }
        actions.append(.publish(.memberTrained(.init(
            member: index, version: result.version, trainer: workerName(worker), fromStep: fromStep, step: result.step,
            seconds: result.seconds, checkpoint: result.checkpoint, hyperparameters: member.hyperparameters,
            metrics: result.metrics, interrupted: result.interrupted, previousScore: member.score))))
        if result.step < member.targetStep {
            requeue(index, role: .trainer)
        } else {
            members[index].phase = .queued(.evaluator)
            enqueue(index, for: .evaluator)
        }
    }

    private mutating func scored(_ result: EvaluateResult, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        guard let index = accept(result.member, version: result.version, from: worker, role: .evaluator, now: now, into: &actions) else { return }
        let step = members[index].step
        let fitness = settings.objective.fitness(result.score)
        members[index].score = result.score
        members[index].metrics = members[index].pendingMetrics.merging(result.metrics) { $1 }
        members[index].recent = Array((members[index].recent + [fitness]).suffix(settings.exploit.window))
        board.record(member: index, step: step, fitness: fitness)
        changes.members.insert(index)
        if let checkpoint = members[index].checkpoint {
            let snapshot = ScoreSnapshot(
                member: index, step: step, fitness: fitness, score: result.score, checkpoint: checkpoint,
                hyperparameters: members[index].hyperparameters, history: members[index].history, metrics: members[index].metrics,
                recent: members[index].recent)
            snapshots[step, default: [:]][index] = snapshot
            changes.scores.append(snapshot)
            if bestEver.map({ fitness > $0.fitness }) ?? true { bestEver = snapshot }
        }
        actions.append(.publish(.memberScored(member: index, version: result.version, step: step, score: result.score, evaluator: workerName(worker))))
        let standing = Standing(member: index, fitness: fitness)
        if let current = best, current.member != index {
            if Standing.ranksBefore(standing, current) { best = standing }
        } else {
            refreshBest()
        }
        if settings.stop.reachesTarget(result.score, objective: settings.objective) {
            finish(.target, now: now, into: &actions)
            return
        }
        if step >= settings.stop.maxSteps {
            members[index].phase = .finished
            membersDone += 1
            actions.append(.publish(.memberFinished(member: index, step: step, score: result.score)))
            if membersDone == members.count {
                finish(.maxSteps, now: now, into: &actions)
            } else {
                releaseBarrier(now: now, into: &actions)
            }
            return
        }
        if settings.synchronous {
            members[index].phase = .waiting
            waiting.insert(index)
            releaseBarrier(now: now, into: &actions)
            return
        }
        decide(index, now: now, into: &actions)
    }

    /// Synchronous mode: once every live member waits at the ready step, decide for all of
    /// them, best first. A member that is given up leaves the live population, so it never
    /// holds the barrier; one whose task is lost is re-issued by its lease as usual.
    private mutating func releaseBarrier(now: Double, into actions: inout [Action]) {
        guard settings.synchronous, !waiting.isEmpty, waiting.count == members.count - membersDone else { return }
        let ready = waiting.sorted { a, b in
            Standing.ranksBefore(
                Standing(member: a, fitness: members[a].recent.last ?? -.infinity),
                Standing(member: b, fitness: members[b].recent.last ?? -.infinity))
        }
        waiting.removeAll()
        for index in ready { decide(index, now: now, into: &actions) }
    }

    private mutating func decide(_ index: Int, now: Double, into actions: inout [Action]) {
        let step = members[index].step
        // Compare at the member's own step; a member that got there first is compared where
        // it last had company, so that the fastest member is not exempt from exploit.
        var comparedAt = step
        var cohort = board.ranking(at: step)
        // (A population of one has no company anywhere: no need to look back.)
        if cohort.count < 2, members.count > 1, let earlier = board.latestComparableStep(for: index, before: step) {
            comparedAt = earlier
            cohort = board.ranking(at: earlier)
        }
        var random = SplitMix64.forDecision(seed: settings.seed, member: index, version: members[index].version, purpose: .exploit)
        let snapshotsThere = snapshots[comparedAt] ?? [:]
        let decision: ExploitDecision = step < settings.burnIn
            ? .keep
            : settings.exploit.decide(member: index, cohort: cohort, recent: { snapshotsThere[$0]?.recent ?? [] }, using: &random)
        let rank = cohort.rank(of: index)
        actions.append(.publish(.memberDecided(member: index, step: step, comparedAt: comparedAt, decision: decision, cohort: cohort.count, rank: rank)))
        guard case .exploit(let donor) = decision, let snapshot = snapshots[comparedAt]?[donor] else {
            members[index].phase = .queued(.trainer)
            enqueue(index, for: .trainer)
            return
        }
        let old = members[index].hyperparameters
        members[index].step = comparedAt
        members[index].checkpoint = snapshot.checkpoint
        members[index].history = snapshot.history
        members[index].hyperparameters = snapshot.hyperparameters
        members[index].score = snapshot.score
        members[index].metrics = snapshot.metrics
        members[index].recent = snapshot.recent
        members[index].exploits += 1
        members[index].pendingExploit = PendingExploit(donor: donor, old: old, copied: snapshot.hyperparameters)
        exploits += 1
        if settings.explores {
            members[index].phase = .queued(.mutator)
            enqueue(index, for: .mutator)
        } else {
            completeExploit(index, new: snapshot.hyperparameters, changes: [:], into: &actions)
        }
    }

    private mutating func explored(_ result: ExploreResult, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        guard let index = accept(result.member, version: result.version, from: worker, role: .mutator, now: now, into: &actions) else { return }
        if let space = settings.space, let violation = space.violation(in: result.hyperparameters) {
            actions.append(.publish(.resultDropped(member: index, version: result.version, worker: workerName(worker), reason: violation)))
            requeue(index, role: .mutator)
            return
        }
        members[index].hyperparameters = result.hyperparameters
        completeExploit(index, new: result.hyperparameters, changes: result.changes, into: &actions)
    }

    private mutating func completeExploit(_ index: Int, new: Hyperparameters, changes: [String: ExploreChange], into actions: inout [Action]) {
        let member = members[index]
        if let pending = member.pendingExploit {
            actions.append(.publish(.memberExploited(.init(
                member: index, donor: pending.donor, step: member.step, checkpoint: member.checkpoint ?? "",
                old: pending.old, copied: pending.copied, new: new, changes: changes))))
        }
        members[index].pendingExploit = nil
        members[index].phase = .queued(.trainer)
        enqueue(index, for: .trainer)
    }

    private mutating func failed(member: Int, version: Int, reason: String, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        var role = workers[worker]?.role ?? .trainer
        if members.indices.contains(member), case .leased(let leasedRole, let holder, _) = members[member].phase, holder == worker {
            role = leasedRole
        }
        guard let index = accept(member, version: version, from: worker, role: role, now: now, into: &actions) else { return }
        members[index].failures += 1
        changes.members.insert(index)
        let givenUp = members[index].failures > settings.maxFailures
        actions.append(.publish(.memberFailed(member: index, version: version, reason: reason, givenUp: givenUp)))
        if givenUp {
            members[index].phase = .failed
            membersDone += 1
            if membersDone == members.count {
                finish(.maxSteps, now: now, into: &actions)
            } else {
                releaseBarrier(now: now, into: &actions)
            }
        } else {
            requeue(index, role: role)
        }
    }

    // MARK: Queues and dispatch

    private mutating func enqueue(_ member: Int, for role: WorkerRole) {
        queues[role, default: FIFOQueue()].append(member)
        changes.members.insert(member)
    }

    private mutating func requeue(_ index: Int, role: WorkerRole) {
        changes.members.insert(index)
        leased.remove(index)
        members[index].phase = .queued(role)
        enqueue(index, for: role)
    }

    private mutating func dispatch(now: Double, into actions: inout [Action]) {
        if !trainingOpen {
            let waited = now - (startTime ?? now)
            trainingOpen = workerCount(.trainer) >= settings.minTrainers || waited >= settings.startTimeout
        }
        if budgetSpent && leased.isEmpty && (queues[.evaluator]?.isEmpty ?? true) && (queues[.mutator]?.isEmpty ?? true) {
            finish(.totalSteps, now: now, into: &actions)
            return
        }
        for role in [WorkerRole.mutator, .evaluator, .trainer] {
            if role == .trainer && (!trainingOpen || budgetSpent) { continue }
            while !(queues[role]?.isEmpty ?? true), let worker = idle[role]?.first {
                let index = queues[role]!.removeFirst()
                guard members[index].phase == .queued(role) else { continue }
                // Round robin: a worker with room left goes to the back of the line.
                idle[role]?.removeFirst()
                actions.append(assign(index, to: worker, role: role, now: now))
                markIdle(worker, role: role)
                actions.append(.publish(.memberAssigned(
                    member: index, version: members[index].version, role: role, worker: workerName(worker), step: members[index].step)))
            }
        }
    }

    private mutating func assign(_ index: Int, to worker: WorkerID, role: WorkerRole, now: Double) -> Action {
        members[index].version += versionSkips.remove(index) == nil ? 1 : 1 + Self.versionsSkippedOnRestore
        members[index].phase = .leased(role, worker: worker, deadline: now + settings.leaseTimeout)
        changes.members.insert(index)
        leased.insert(index)
        workers[worker]?.tasks[index] = members[index].version
        workers[worker]?.received += 1
        let member = members[index]
        switch role {
        case .trainer:
            let target = settings.nextReadyStep(after: member.step)
            members[index].targetStep = target
            let seed = applySchedule(index)  // an experiment's `schedule` fixes hyperparameters (and seed)
            return .send(worker, .train(TrainTask(
                member: index, version: member.version, step: member.step, steps: target - member.step,
                checkpoint: member.checkpoint, hyperparameters: members[index].hyperparameters, seed: seed)))
        case .evaluator:
            return .send(worker, .evaluate(EvaluateTask(
                member: index, version: member.version, step: member.step, checkpoint: member.checkpoint ?? "",
                hyperparameters: member.hyperparameters, metrics: member.pendingMetrics)))
        case .mutator:
            let seed = SplitMix64.derive(settings.seed, UInt64(index), UInt64(member.version), SplitMix64.Purpose.explore.rawValue)
            return .send(worker, .explore(ExploreTask(
                member: index, version: member.version, donor: member.pendingExploit?.donor ?? index, step: member.step,
                hyperparameters: member.hyperparameters, seed: seed)))
        }
    }

    // MARK: Finishing

    mutating func refreshBest() {
        var top: Standing?
        for member in members {
            guard let score = member.score else { continue }
            let standing = Standing(member: member.id, fitness: settings.objective.fitness(score))
            if top == nil || Standing.ranksBefore(standing, top!) { top = standing }
        }
        best = top
    }

    private mutating func finish(_ reason: FinishReason, now: Double, into actions: inout [Action]) {
        refreshBest()
        let seconds = now - (startTime ?? now)
        var bestOutcome: ExperimentSummary.Best?
        if let best, let score = members[best.member].score {
            let member = members[best.member]
            bestOutcome = ExperimentSummary.Best(
                member: member.id, score: score, step: member.step, history: member.history, hyperparameters: member.hyperparameters,
                metrics: member.metrics)
        }
        let summary = ExperimentSummary(
            reason: reason, seconds: seconds, steps: steps, exploits: exploits, best: bestOutcome,
            bestEver: bestEver.map { .init(member: $0.member, step: $0.step, score: $0.score, checkpoint: $0.checkpoint, hyperparameters: $0.hyperparameters) },
            members: members.map {
                .init(member: $0.id, step: $0.step, score: $0.score, hyperparameters: $0.history?.hyperparameters ?? $0.hyperparameters,
                      exploits: $0.exploits, failed: $0.phase == .failed, metrics: $0.metrics)
            })
        self.summary = summary
        changes.members.formUnion(members.indices)
        leased.removeAll()
        actions.append(.publish(.experimentFinished(reason: reason, best: bestOutcome?.member, score: bestOutcome?.score, steps: steps, seconds: seconds)))
        actions.append(.finish(summary))
    }

    /// Drops scores at steps below every live member: a member is compared at its own step
    /// or where it last had company, never below the lowest step a live member stands at.
    private mutating func forgetPassedSteps() {
        let lowest = members.lazy.filter { !$0.isDone }.map(\.step).min() ?? Int.max
        guard lowest > forgottenBelow else { return }
        board.forget(below: lowest)
        for step in snapshots.keys where step < lowest { snapshots[step] = nil }
        forgottenBelow = lowest
        changes.forgetBelow = lowest
    }

    private func workerName(_ id: WorkerID) -> String {
        workers[id]?.name ?? id.description
    }
}

/// A worker's routing id on the selector's ROUTER socket.
public struct WorkerID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The bytes in one go (the synthesized hash combines them one at a time, and every
    /// message the selector handles looks its worker up a few times).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        "worker-" + bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// A first-in first-out queue with amortised O(1) removal from the front.
struct FIFOQueue<Element: Sendable>: Sendable {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    mutating func append(_ item: Element) { items.append(item) }

    mutating func removeFirst() -> Element {
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
