/// The selector's brain: the population table, training credits, leases, exploit decisions
/// and stopping, as a state machine with no I/O.
///
/// Each input is one `mutating` method (`start`, `handle(_:from:now:)`, `tick`, and
/// `endBatch` at the end of a stage's batch of them); each returns the actions the selector
/// stage then performs (send a task, push an explore, publish an event, finish; `endBatch`:
/// persist what changed). Time is a parameter, randomness is
/// derived per decision from the experiment seed, so the same inputs always give the same
/// actions.
///
///     ready (credit) ─▶ train task ─▶ [trainer] ─PUSH─▶ [evaluator] ─PUSH─▶ scored ─▶ decide
///                                         │ ready: "handed m/v on"                     │ exploit
///                                         ▼                                            ▼
///                                  lease: scoring                 explore ─PUSH─▶ [mutator]
///                                                                    explored ◀─PUSH──┘
///
/// A member's lease spans its whole cycle (training, scoring, exploring). Every task bumps
/// the member's version; a result must carry the current version, or it is dropped and
/// counted. The parts live beside this file: `PopulationTable` (members, phases, queues),
/// `WorkerPool` (workers, credits, routes, benches), `+Results` (what comes back),
/// `+Decisions` (exploit and explore), `+Leases` (time: expiry, silence, progress),
/// `+Persistence` (what a store keeps).
public struct SelectorMachine: Sendable {
    /// What the selector stage does next.
    public enum Action: Sendable, Hashable {
        /// A message to one worker over the work socket (a train task, routes, finished).
        case send(WorkerID, WorkerCommand)
        /// Send the experiment to this worker (the stage holds the bytes).
        case welcome(WorkerID)
        /// Push an exploit decision to the mutators.
        case explore(ExploreTask)
        /// Start pushing to a mutator's inlet, or stop (it left).
        case connectMutator(PeerEndpoint)
        case disconnectMutator(PeerEndpoint)
        case publish(PBTEvent)
        /// Store what changed (the output of `endBatch`); the stage commits it with the
        /// batch's events.
        case persist(Changes)
        case finish(ExperimentSummary)
    }

    public typealias Phase = MemberPhase

    /// A member's state at a step where it was scored: its standing there, and what a member
    /// that copies it gets.
    public struct ScoreSnapshot: Sendable, Hashable {
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
            member: Int, step: Int, fitness: Double, score: Double, checkpoint: String,
            hyperparameters: Hyperparameters,
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
    var table: PopulationTable
    var pool: WorkerPool
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
    /// Members whose next task skips versions (after a restore; see `versionsSkippedOnRestore`).
    var versionSkips: Set<Int> = []
    /// What changed since the last `.persist`.
    var dirty = Set<Int>()
    var pendingChanges = Changes()
    var nextSegmentID = 1
    /// Results dropped, by reason (rate-limits `result.dropped`).
    var drops = DropTally()
    /// The longest leg (training, scoring, exploring) completed so far, in seconds.
    var longestLeg = 0.0
    /// The first failure's reason, for saying why a run in which every member failed ended.
    public internal(set) var firstFailure: String?
    /// What the stage is waiting for before training starts, last said (to say it once).
    var lastWaitingFor: String?

    /// A machine for a population whose starting hyperparameters are `initial` (one a member).
    /// `routesEpoch` starts the generations of the evaluators' routes (the stage makes it
    /// differ from one selector process to the next, so a trainer never mistakes a list).
    public init(settings: SelectorSettings, name: String, initial: [Hyperparameters], routesEpoch: Int = 0) {
        self.settings = settings
        self.name = name
        table = PopulationTable(
            initial.enumerated().map { index, hyperparameters in
                Member(
                    id: index, seed: SplitMix64.derive(settings.seed, UInt64(index)), hyperparameters: hyperparameters)
            }, boundsLead: settings.maxLead != nil)
        pool = WorkerPool(routesEpoch: routesEpoch)
    }

    /// The population table, member by member.
    public var members: [Member] { table.members }

    /// The connected workers.
    public var workers: [WorkerID: ConnectedWorker] { pool.workers }

    /// Whether the experiment is over.
    public var isFinished: Bool { summary != nil }

    /// Members finished or given up.
    public var membersDone: Int { table.done }

    /// Workers of `role` that are connected.
    public func workerCount(_ role: WorkerRole) -> Int { pool.count(role) }

    /// Trainers holding a member.
    public var busyTrainers: Int { pool.busyTrainers }

    /// The evaluators' inlets as trainers are told them.
    public var evaluatorRoutes: EvaluatorRoutes { pool.routes }

    /// When the oldest cycle still out started (for checkpoint collection: a checkpoint written
    /// after it may belong to a result still on its way), or nil when none is out.
    public var oldestLeaseStart: Double? {
        table.leased.lazy.compactMap { table[$0].lease?.since }.min()
    }

    /// The longest a leg may take, heartbeats or not.
    public var maxTaskSeconds: Double {
        settings.maxTaskSeconds ?? max(10 * settings.leaseTimeout, 10 * longestLeg)
    }

    // MARK: Inputs

    /// Starts the experiment: every member is queued for its first training steps.
    public mutating func start(now: Double) -> [Action] {
        startTime = now
        lastProgressTime = now
        var actions: [Action] = [
            .publish(
                .experimentStarted(
                    name: name, population: table.count,
                    hyperparameters: table.members.first?.hyperparameters.names ?? []))
        ]
        for index in table.indices {
            table.setPhase(index, .queued(.trainer))
            dirty.insert(index)
        }
        dispatch(now: now, into: &actions)
        return actions
    }

    /// Ends a batch of inputs: what changed since the last batch, for a store to keep (a
    /// `.persist`, or nothing). The stage calls it once a turn, before it commits, so that a
    /// member that changed many times in a batch is written once.
    public mutating func endBatch() -> [Action] {
        var actions: [Action] = []
        flushChanges(into: &actions)
        return actions
    }

    /// Handles one message from a worker: on the work socket, or pushed to the inlet (whose
    /// sender names itself in the message's first frame). `holds` says whether the selector's
    /// checkpoint store has a checkpoint; nobody could train on from one it does not have: a
    /// score of it is dropped (`missing_checkpoint`), a trainer's early result naming it is
    /// taken as a failure of the task.
    public mutating func handle(
        _ report: WorkerReport, from worker: WorkerID, now: Double, holds: (String) -> Bool = { _ in true }
    ) -> [Action] {
        var actions: [Action] = []
        pool.heard(from: worker, now: now)
        if isFinished {
            switch report {
            case .ready, .trained, .failed, .released:
                actions.append(.send(worker, .finished))
            case .goodbye:
                // Told `finished` and gone: the stage stops waiting for it.
                _ = pool.remove(worker)
            case .progress, .scored, .explored:
                break
            }
            return actions
        }
        switch report {
        case .ready(let ready):
            self.ready(ready, from: worker, now: now, into: &actions)
        case .progress(let member, let version, _):
            progress(member: member, version: version, from: worker, now: now)
        case .trained(let result) where result.interrupted && !holds(result.checkpoint):
            failed(
                member: result.member, version: result.version,
                reason: "checkpoint \(result.checkpoint.prefix(12))… is not in the store", upstream: false,
                from: worker,
                now: now, into: &actions)
        case .trained(let result):
            interrupted(result, from: worker, now: now, into: &actions)
        case .scored(let result):
            scored(result, from: worker, now: now, holds: holds, into: &actions)
        case .explored(let result):
            explored(result, from: worker, now: now, into: &actions)
        case .failed(let member, let version, let reason, let upstream):
            failed(
                member: member, version: version, reason: reason, upstream: upstream, from: worker, now: now,
                into: &actions)
        case .released(let member, let version):
            released(member: member, version: version, from: worker, now: now, into: &actions)
        case .goodbye:
            remove(worker, reason: "goodbye", now: now, into: &actions)
        }
        if !isFinished { dispatch(now: now, into: &actions) }
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
            bestScore: best.flatMap { table[$0.member].score },
            trainers: pool.count(.trainer),
            busyTrainers: pool.busyTrainers,
            membersFinished: table.done,
            population: table.count,
            exploits: exploits,
            experiment: name,
            evaluators: pool.count(.evaluator),
            mutators: pool.count(.mutator)
        )
    }

    // MARK: Workers

    private mutating func ready(_ ready: Ready, from id: WorkerID, now: Double, into actions: inout [Action]) {
        guard ready.experimentID == settings.experimentID else {
            actions.append(.welcome(id))
            return
        }
        if let known = pool[id], known.role != ready.role {
            remove(id, reason: "changed role", now: now, into: &actions)
        }
        if pool[id] == nil {
            join(ready, id: id, now: now, into: &actions)
        }
        guard let worker = pool[id] else { return }
        switch ready.role {
        case .trainer:
            if ready.received < worker.sent {
                // Sent before the latest task arrived: it says nothing about that task.
                guard worker.task == nil else { return }
                // A task it was sent never reached it, and its lease is over: count from what it has.
                pool.update(id) { $0.sent = ready.received }
            }
            if let handed = ready.handed { handOn(handed, by: id, now: now) }
            if let task = pool[id]?.task {
                // It got every task sent and is idle without a result: the task is lost.
                pool.update(id) { $0.task = nil }
                release(
                    task.member, version: task.version, heldBy: id, reason: "the trainer is idle without a result",
                    into: &actions)
            }
            if ready.routes != pool.routes.generation { actions.append(.send(id, .evaluators(pool.routes))) }
            if !pool.isBenched(id, now: now) { pool.grantCredit(id) }
        case .evaluator, .mutator:
            if let inlet = ready.inlet, inlet != worker.inlet {
                let before = pool.routes.generation
                if ready.role == .mutator, let old = worker.inlet { actions.append(.disconnectMutator(old)) }
                pool.update(id) { $0.inlet = inlet }
                if ready.role == .mutator { actions.append(.connectMutator(inlet)) }
                if ready.role == .evaluator { refreshEvaluatorRoutes(changedFrom: before, into: &actions) }
            }
        }
    }

    private mutating func join(_ ready: Ready, id: WorkerID, now: Double, into actions: inout [Action]) {
        let before = pool.routes.generation
        pool.add(
            ConnectedWorker(
                id: id, role: ready.role, name: ready.name, lastSeen: now, sent: ready.received, inlet: ready.inlet))
        actions.append(.publish(.workerJoined(role: ready.role, worker: ready.name)))
        switch ready.role {
        case .trainer: break
        case .evaluator: refreshEvaluatorRoutes(changedFrom: before, into: &actions)
        case .mutator: if let inlet = ready.inlet { actions.append(.connectMutator(inlet)) }
        }
    }

    /// When the evaluators' inlets changed, every trainer hears the new list at once (and
    /// again with the next `ready` that names an older one).
    mutating func refreshEvaluatorRoutes(changedFrom generation: Int, into actions: inout [Action]) {
        guard pool.routes.generation != generation else { return }
        for (id, worker) in pool.workers.sorted(by: { $0.value.name < $1.value.name }) where worker.role == .trainer {
            actions.append(.send(id, .evaluators(pool.routes)))
        }
    }

    /// A trainer pushed `handed` on to the evaluators: the member's lease moves to scoring.
    private mutating func handOn(_ handed: HandedOn, by id: WorkerID, now: Double) {
        // (Whether it trained well is known when the score comes: its failures reset then.)
        if let task = pool[id]?.task, task.member == handed.member, task.version == handed.version {
            pool.update(id) { $0.task = nil }
        }
        guard table.indices.contains(handed.member), table[handed.member].version == handed.version,
            case .training(let holder) = table[handed.member].phase, holder == id
        else { return }
        let trainer = pool.name(of: id)
        if let started = table[handed.member].lease?.started { longestLeg = max(longestLeg, now - started) }
        table.setPhase(handed.member, .scoring)
        table.update(handed.member) {
            $0.lease = MemberLease(
                since: $0.lease?.since ?? now, started: now, deadline: now + settings.leaseTimeout, trainer: trainer,
                trainerID: id)
        }
        dirty.insert(handed.member)
    }

    /// Requeues `member` if it is still leased to `id` at `version`.
    mutating func release(
        _ member: Int, version: Int, heldBy id: WorkerID, reason: String, into actions: inout [Action]
    ) {
        guard table.indices.contains(member), table[member].version == version, table[member].phase == .training(id)
        else { return }
        actions.append(
            .publish(
                .leaseReleased(
                    member: member, version: version, role: .trainer, worker: pool.name(of: id), reason: reason)))
        requeue(member, for: .trainer)
    }

    mutating func remove(_ id: WorkerID, reason: String, now: Double, into actions: inout [Action]) {
        let before = pool.routes.generation
        guard let worker = pool.remove(id) else { return }
        actions.append(.publish(.workerLeft(role: worker.role, worker: worker.name, reason: reason)))
        switch worker.role {
        case .trainer:
            if let task = worker.task {
                release(task.member, version: task.version, heldBy: id, reason: reason, into: &actions)
            }
        case .evaluator:
            refreshEvaluatorRoutes(changedFrom: before, into: &actions)
            // What it held is in its queue, which nobody can see: every member waiting for a
            // score goes out again (a score for the old version, from another evaluator, is dropped).
            reissueAll(
                in: .scoring, role: .evaluator, worker: worker.name, reason: "evaluator \(worker.name) left: \(reason)",
                into: &actions)
        case .mutator:
            if let inlet = worker.inlet { actions.append(.disconnectMutator(inlet)) }
            reissueAll(
                in: .exploring, role: .mutator, worker: worker.name, reason: "mutator \(worker.name) left: \(reason)",
                into: &actions)
        }
    }

    private mutating func reissueAll(
        in phase: MemberPhase, role: WorkerRole, worker: String, reason: String, into actions: inout [Action]
    ) {
        for index in table.leased.sorted() where table[index].phase == phase {
            actions.append(
                .publish(
                    .leaseReleased(
                        member: index, version: table[index].version, role: role, worker: worker, reason: reason)))
            requeue(index, for: role == .mutator ? .mutator : .trainer)
        }
    }

    // MARK: Queues and dispatch

    /// Puts a member back in a queue: for a trainer from its last scored checkpoint (its step
    /// and checkpoint change only when a score, or a graceful stop, says so).
    mutating func requeue(_ index: Int, for role: WorkerRole) {
        table.setPhase(index, .queued(role))
        dirty.insert(index)
    }

    /// What training waits for, if anything: an evaluator, a mutator, enough trainers.
    var waitingFor: String? {
        if pool.routes.endpoints.isEmpty { return "an evaluator" }
        if settings.explores && pool.count(.mutator) == 0 { return "a mutator" }
        return nil
    }

    mutating func dispatch(now: Double, into actions: inout [Action]) {
        let missing = waitingFor
        if !trainingOpen, missing == nil {
            let waited = now - (startTime ?? now)
            trainingOpen = pool.count(.trainer) >= settings.minTrainers || waited >= settings.startTimeout
        }
        if budgetSpent && table.leased.isEmpty && table.queuedForMutator == 0 {
            finish(.totalSteps, now: now, into: &actions)
            return
        }
        releaseLeaders(now: now, into: &actions)
        if pool.hasAvailable(.mutator, now: now) {
            while let index = table.nextForMutator() { assignExplore(index, now: now, into: &actions) }
        }
        // No training while no evaluator can take its result: members wait here, not in trainers.
        guard trainingOpen, missing == nil, !budgetSpent else { return }
        // With `max_lead`, the member furthest behind in the queue waits (and every other
        // with it) while it stands too far ahead of the slowest live member; no trainer's
        // credit is taken for it (a credit taken and granted again would lose its place).
        let limit = leadLimit()
        while table.hasNextForTraining(atMost: limit), let trainer = pool.takeCredit(now: now) {
            guard let index = table.nextForTraining(atMost: limit) else {
                pool.grantCredit(trainer)
                break
            }
            assignTraining(index, to: trainer, now: now, into: &actions)
        }
    }

    private mutating func nextVersion(_ index: Int) {
        let skip = versionSkips.remove(index) == nil ? 1 : 1 + Self.versionsSkippedOnRestore
        table.update(index) { $0.version += skip }
    }

    private mutating func assignTraining(_ index: Int, to trainer: WorkerID, now: Double, into actions: inout [Action])
    {
        nextVersion(index)
        let target = settings.nextReadyStep(after: table[index].step)
        let seed = applySchedule(index)  // an experiment's `schedule` fixes hyperparameters (and seed)
        let name = pool.name(of: trainer)
        table.setPhase(index, .training(trainer))
        table.update(index) {
            $0.targetStep = target
            $0.lease = MemberLease(
                since: now, started: now, deadline: now + settings.leaseTimeout, trainer: name, trainerID: trainer)
        }
        dirty.insert(index)
        let member = table[index]
        pool.update(trainer) {
            $0.task = (index, member.version)
            $0.sent += 1
        }
        actions.append(
            .send(
                trainer,
                .train(
                    TrainTask(
                        member: index, version: member.version, step: member.step, steps: target - member.step,
                        checkpoint: member.checkpoint, hyperparameters: member.hyperparameters, seed: seed))))
        actions.append(
            .publish(
                .memberAssigned(member: index, version: member.version, role: .trainer, worker: name, step: member.step)
            ))
    }

    private mutating func assignExplore(_ index: Int, now: Double, into actions: inout [Action]) {
        nextVersion(index)
        let trainer = table[index].lease?.trainer ?? ""
        table.setPhase(index, .exploring)
        table.update(index) {
            $0.lease = MemberLease(since: now, started: now, deadline: now + settings.leaseTimeout, trainer: trainer)
        }
        dirty.insert(index)
        let member = table[index]
        let seed = SplitMix64.derive(
            settings.seed, UInt64(index), UInt64(member.version), SplitMix64.Purpose.explore.rawValue)
        actions.append(
            .explore(
                ExploreTask(
                    member: index, version: member.version, donor: member.pendingExploit?.donor ?? index,
                    step: member.step,
                    checkpoint: member.checkpoint ?? "", hyperparameters: member.hyperparameters, seed: seed)))
    }

    // MARK: Finishing

    /// Finds the best member among the latest scores.
    public mutating func refreshBest() {
        var top: Standing?
        for member in table.members {
            guard let score = member.score else { continue }
            let standing = Standing(member: member.id, fitness: settings.objective.fitness(score))
            if top == nil || Standing.ranksBefore(standing, top!) { top = standing }
        }
        best = top
    }

    /// A member is done (finished or given up): the experiment ends when every one is.
    mutating func memberDone(now: Double, into actions: inout [Action]) {
        if table.done == table.count {
            let everyOneFailed = table.members.allSatisfy { $0.phase == .failed }
            finish(everyOneFailed ? .allFailed : .maxSteps, now: now, into: &actions)
        } else {
            releaseBarrier(now: now, into: &actions)
        }
    }

    mutating func finish(_ reason: FinishReason, now: Double, into actions: inout [Action]) {
        refreshBest()
        let summary = makeSummary(reason: reason, seconds: now - (startTime ?? now))
        self.summary = summary
        dirty.formUnion(table.indices)
        actions.append(
            .publish(
                .experimentFinished(
                    reason: reason, best: summary.best?.member, score: summary.best?.score, steps: steps,
                    seconds: summary.seconds)))
        actions.append(.finish(summary))
    }

    /// The outcome as it stands, ended for `reason`.
    public func makeSummary(reason: FinishReason, seconds: Double) -> ExperimentSummary {
        var bestOutcome: ExperimentSummary.Best?
        if let best, let score = table[best.member].score {
            let member = table[best.member]
            bestOutcome = ExperimentSummary.Best(
                member: member.id, score: score, step: member.step, history: member.history,
                hyperparameters: member.hyperparameters,
                metrics: member.metrics)
        }
        return ExperimentSummary(
            reason: reason, seconds: seconds, steps: steps, exploits: exploits, best: bestOutcome,
            bestEver: bestEver.map {
                .init(
                    member: $0.member, step: $0.step, score: $0.score, checkpoint: $0.checkpoint,
                    hyperparameters: $0.hyperparameters, metrics: $0.metrics)
            },
            members: table.members.map {
                .init(
                    member: $0.id, step: $0.step, score: $0.score,
                    hyperparameters: $0.history?.hyperparameters ?? $0.hyperparameters,
                    exploits: $0.exploits, failed: $0.phase == .failed, metrics: $0.metrics)
            },
            firstFailure: firstFailure)
    }

    /// Drops scores at steps below every live member: a member is compared at its own step
    /// or where it last had company, never below the lowest step a live member stands at.
    mutating func forgetPassedSteps() {
        let lowest = table.members.lazy.filter { !$0.isDone }.map(\.step).min() ?? Int.max
        guard lowest > forgottenBelow else { return }
        board.forget(below: lowest)
        for step in snapshots.keys where step < lowest { snapshots[step] = nil }
        forgottenBelow = lowest
        pendingChanges.forgetBelow = lowest
    }

    /// Emits what changed since the last call as one `.persist`.
    mutating func flushChanges(into actions: inout [Action]) {
        for index in dirty { pendingChanges.members[index] = table[index] }
        dirty.removeAll(keepingCapacity: true)
        guard !pendingChanges.isEmpty else { return }
        actions.append(.persist(pendingChanges))
        pendingChanges = Changes()
    }
}
