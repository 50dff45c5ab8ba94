/// What comes back from a member's cycle: a score (with what the trainer reported), explored
/// hyperparameters, a trainer's early stop, a failure. Each is checked against the member's
/// lease first; one that is not for the current lease is dropped and counted.
extension SelectorMachine {
    /// Why a result was dropped: the key of a `result.dropped` event and the detail.
    struct Refusal {
        let reason: String
        let detail: String
    }

    /// Finds the member a result is for, if the result is for its current lease in one of
    /// `phases` (any trainer's `.training` matches when `anyTrainer`); otherwise records
    /// the drop and returns nil.
    mutating func accept(
        _ member: Int, version: Int, from worker: WorkerID, named name: String, in phases: (MemberPhase) -> Bool,
        now: Double,
        into actions: inout [Action]
    ) -> Int? {
        let refusal: Refusal
        if !table.indices.contains(member) {
            refusal = Refusal(reason: "unknown_member", detail: "no member \(member) in a population of \(table.count)")
        } else if table[member].version != version {
            refusal = Refusal(reason: "stale_version", detail: "version \(version), current \(table[member].version)")
        } else if !phases(table[member].phase) {
            refusal = Refusal(
                reason: "not_leased",
                detail: "member \(member) is \(Self.describe(table[member].phase)), not awaiting this result")
        } else {
            return member
        }
        drop(member: member, version: version, worker: name, refusal, now: now, into: &actions)
        return nil
    }

    /// Counts a dropped result and says so, rate-limited: the first ten of a reason, then
    /// at most one a second for it.
    mutating func drop(
        member: Int, version: Int, worker: String, _ refusal: Refusal, now: Double, into actions: inout [Action]
    ) {
        let (count, total, tell) = drops.record(refusal.reason, now: now)
        guard tell else { return }
        actions.append(
            .publish(
                .resultDropped(
                    member: member, version: version, worker: worker, reason: refusal.reason, detail: refusal.detail,
                    count: count, total: total)))
    }

    static func describe(_ phase: MemberPhase) -> String {
        switch phase {
        case .queued(let role): "queued for a \(role)"
        case .training: "training"
        case .scoring: "being scored"
        case .exploring: "exploring"
        case .waiting: "waiting for the population (synchronous or max_lead)"
        case .finished: "finished"
        case .failed: "given up"
        }
    }

    /// The trainer that trained (or trains) a member's current cycle, if this selector knows it.
    static func trainer(of member: Member) -> WorkerID? {
        if case .training(let holder) = member.phase { return holder }
        return member.lease?.trainerID
    }

    /// Frees the trainer that holds `index` at its current version, if one still does (a score
    /// can come before the trainer's credit that says it handed the member on).
    mutating func freeTrainer(of index: Int, now: Double) {
        guard case .training(let trainer) = table[index].phase else { return }
        if let started = table[index].lease?.started { longestLeg = max(longestLeg, now - started) }
        if let task = pool[trainer]?.task, task.member == index {
            pool.update(trainer) { $0.task = nil }
        }
    }

    /// Adds trained steps to a member's history and counters; returns the step it started from.
    @discardableResult
    mutating func applyTraining(_ index: Int, to step: Int, checkpoint: String) -> Int {
        let fromStep = table[index].step
        let segmentID = nextSegmentID
        nextSegmentID += 1
        table.update(index) { member in
            member.history =
                member.history?.extended(by: index, to: step, with: member.hyperparameters, id: segmentID)
                ?? LineageSegment(
                    id: segmentID, member: index, fromStep: fromStep, toStep: step,
                    hyperparameters: member.hyperparameters, previous: nil)
            member.step = step
            member.checkpoint = checkpoint
        }
        pendingChanges.segments.append(table[index].history!)
        dirty.insert(index)
        steps += step - fromStep
        if let budget = settings.stop.totalSteps, steps >= budget {
            // Steps trained after this are still scored; no more training is handed out.
            budgetSpent = true
        }
        return fromStep
    }

    /// A trainer stopped early (SIGTERM) and handed back what it did: the steps count, and the
    /// member trains on from there with another trainer.
    mutating func interrupted(_ result: TrainResult, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        let name = pool.name(of: worker)
        guard result.interrupted else {
            drop(
                member: result.member, version: result.version, worker: name,
                Refusal(
                    reason: "wrong_leg", detail: "a finished training result goes to an evaluator, not to the selector"),
                now: now, into: &actions)
            return
        }
        guard
            let index = accept(
                result.member, version: result.version, from: worker, named: name, in: { $0 == .training(worker) },
                now: now, into: &actions)
        else { return }
        pool.update(worker) { $0.task = nil }
        let member = table[index]
        guard result.step > member.step, result.step <= member.targetStep, result.fromStep == member.step else {
            drop(
                member: index, version: result.version, worker: name,
                Refusal(
                    reason: "step_outside_task",
                    detail: "steps \(result.fromStep)…\(result.step) outside \(member.step)…\(member.targetStep)"),
                now: now, into: &actions)
            requeue(index, for: .trainer)
            return
        }
        let previous = member.score
        let fromStep = applyTraining(index, to: result.step, checkpoint: result.checkpoint)
        actions.append(
            .publish(
                .memberTrained(
                    .init(
                        member: index, version: result.version, trainer: name, fromStep: fromStep, step: result.step,
                        seconds: result.seconds,
                        checkpoint: result.checkpoint, hyperparameters: table[index].hyperparameters,
                        metrics: result.metrics, interrupted: true,
                        previousScore: previous))))
        requeue(index, for: .trainer)
    }

    /// An evaluator's score, with the trainer's account of the training it scores: both are
    /// applied at once (the member's step and checkpoint move only with a score). A score of a
    /// checkpoint the store does not hold (`holds`) is dropped and leaves the lease as it was:
    /// the real score, if one comes, is still taken.
    mutating func scored(
        _ result: EvaluateResult, from worker: WorkerID, now: Double, holds: (String) -> Bool,
        into actions: inout [Action]
    ) {
        let evaluator = pool[worker]?.name ?? (result.evaluator.isEmpty ? pool.name(of: worker) : result.evaluator)
        let awaiting: (MemberPhase) -> Bool = { phase in
            if case .training = phase { return true }
            return phase == .scoring
        }
        guard
            let index = accept(
                result.member, version: result.version, from: worker, named: evaluator, in: awaiting, now: now,
                into: &actions)
        else { return }
        let member = table[index]
        let trained = result.trained
        guard holds(trained.checkpoint) else {
            drop(
                member: index, version: result.version, worker: evaluator,
                Refusal(
                    reason: "missing_checkpoint",
                    detail: "checkpoint \(trained.checkpoint.prefix(12))… is not in the selector's store"),
                now: now, into: &actions)
            return
        }
        guard trained.fromStep == member.step, trained.step == member.targetStep, !trained.interrupted else {
            let detail = "steps \(trained.fromStep)…\(trained.step) trained, task \(member.step)…\(member.targetStep)"
            drop(
                member: index, version: result.version, worker: evaluator,
                Refusal(reason: "step_outside_task", detail: detail), now: now, into: &actions)
            // The trainer did not do what it was asked: a failure of the member and of that trainer.
            let trainer = Self.trainer(of: member)
            freeTrainer(of: index, now: now)
            if let trainer { countWorkerFailure(trainer, now: now, into: &actions) }
            countMemberFailure(
                index, version: result.version, worker: member.lease?.trainer ?? evaluator, reason: "trained \(detail)",
                now: now, into: &actions
            ) {
                $0.requeue(index, for: .trainer)
            }
            return
        }
        if let trainer = Self.trainer(of: member) { pool.update(trainer) { $0.failuresInARow = 0 } }
        freeTrainer(of: index, now: now)
        if let started = table[index].lease?.started, table[index].phase == .scoring {
            longestLeg = max(longestLeg, now - started)
        }
        pool.update(worker) { $0.failuresInARow = 0 }
        let trainer = member.lease?.trainer ?? trained.trainer
        let previous = member.score
        let fromStep = applyTraining(index, to: trained.step, checkpoint: trained.checkpoint)
        table.update(index) { $0.failures = 0 }
        actions.append(
            .publish(
                .memberTrained(
                    .init(
                        member: index, version: result.version, trainer: trainer, fromStep: fromStep,
                        step: trained.step, seconds: trained.seconds,
                        checkpoint: trained.checkpoint, hyperparameters: table[index].hyperparameters,
                        metrics: trained.metrics, interrupted: false,
                        previousScore: previous))))
        score(
            index, result.score, metrics: trained.metrics.merging(result.metrics) { $1 }, version: result.version,
            evaluator: evaluator, now: now, into: &actions)
    }

    /// A mutator's explored hyperparameters for a member that exploited. An answer outside the
    /// space is dropped, the member explored again, and the mutator counts a failure (so one
    /// that only answers outside the space is benched while another mutator can do the work).
    mutating func explored(_ result: ExploreResult, from worker: WorkerID, now: Double, into actions: inout [Action]) {
        let mutator = pool[worker]?.name ?? (result.mutator.isEmpty ? pool.name(of: worker) : result.mutator)
        guard
            let index = accept(
                result.member, version: result.version, from: worker, named: mutator, in: { $0 == .exploring },
                now: now, into: &actions)
        else { return }
        if let space = settings.space, let violation = space.violation(in: result.hyperparameters) {
            drop(
                member: index, version: result.version, worker: mutator,
                Refusal(reason: "outside_space", detail: violation), now: now, into: &actions)
            countWorkerFailure(worker, now: now, into: &actions)
            requeue(index, for: .mutator)
            return
        }
        if let started = table[index].lease?.started { longestLeg = max(longestLeg, now - started) }
        pool.update(worker) { $0.failuresInARow = 0 }
        table.update(index) { $0.hyperparameters = result.hyperparameters }
        completeExploit(index, new: result.hyperparameters, changes: result.changes, mutator: mutator, into: &actions)
    }

    /// A worker says a task failed: a trainer's training, an evaluator's scoring, a mutator's
    /// explore. The member counts a failure and goes out again (for training, from its last
    /// scored checkpoint); the worker counts one too (the trainer, when the evaluator says the
    /// fault is upstream) and is benched after too many in a row.
    mutating func failed(
        member: Int, version: Int, reason: String, upstream: Bool, from worker: WorkerID, now: Double,
        into actions: inout [Action]
    ) {
        let role = pool[worker]?.role
        let name = pool.name(of: worker)
        let held: (MemberPhase) -> Bool = { phase in
            switch (role, phase) {
            case (.trainer, .training(let holder)): holder == worker
            case (.evaluator, .scoring), (.evaluator, .training): true
            case (.mutator, .exploring): true
            case (nil, .scoring), (nil, .exploring): true  // from the inlet, by a worker this selector has not met yet
            default: false
            }
        }
        guard
            let index = accept(member, version: version, from: worker, named: name, in: held, now: now, into: &actions)
        else { return }
        let phase = table[index].phase
        // A score that cannot be made from what the trainer produced (no checkpoint, no reported
        // metric) is the trainer's doing: the evaluator only found it out.
        let blamed = upstream ? Self.trainer(of: table[index]) ?? worker : worker
        freeTrainer(of: index, now: now)
        countWorkerFailure(blamed, now: now, into: &actions)
        countMemberFailure(index, version: version, worker: name, reason: reason, now: now, into: &actions) {
            $0.requeue(index, for: phase == .exploring ? .mutator : .trainer)
        }
    }

    /// A trainer hands a member back untouched (it was stopped before a step was done).
    mutating func released(member: Int, version: Int, from worker: WorkerID, now: Double, into actions: inout [Action])
    {
        let name = pool.name(of: worker)
        guard
            let index = accept(
                member, version: version, from: worker, named: name, in: { $0 == .training(worker) }, now: now,
                into: &actions)
        else { return }
        pool.update(worker) { $0.task = nil }
        actions.append(
            .publish(
                .leaseReleased(
                    member: index, version: version, role: .trainer, worker: name, reason: "handed back untouched")))
        requeue(index, for: .trainer)
    }

    /// One more failure of a member (a failed task or an expired lease): given up past
    /// `maxFailures` in a row, otherwise `retry`.
    mutating func countMemberFailure(
        _ index: Int, version: Int, worker: String, reason: String, now: Double, into actions: inout [Action],
        retry: (inout SelectorMachine) -> Void
    ) {
        table.update(index) { $0.failures += 1 }
        dirty.insert(index)
        if firstFailure == nil { firstFailure = "member \(index)\(worker.isEmpty ? "" : " on \(worker)"): \(reason)" }
        let givenUp = table[index].failures > settings.maxFailures
        actions.append(
            .publish(.memberFailed(member: index, version: version, worker: worker, reason: reason, givenUp: givenUp)))
        if givenUp {
            table.setPhase(index, .failed)
            memberDone(now: now, into: &actions)
        } else {
            retry(&self)
        }
    }

    /// One more failure of a worker: past `maxFailures` in a row (as for a member) it is benched
    /// (no work for a while), so that a worker that only fails cannot swallow the population's work.
    mutating func countWorkerFailure(_ id: WorkerID, now: Double, into actions: inout [Action]) {
        guard let worker = pool[id] else { return }
        let failures = worker.failuresInARow + 1
        pool.update(id) { $0.failuresInARow = failures }
        // Benching the last worker of its role would only stop the experiment: the work has
        // nowhere else to go (and a member that cannot be trained is given up anyway).
        let others = pool.ids(worker.role).contains { $0 != id && !pool.isBenched($0, now: now) }
        guard failures > settings.maxFailures, others else { return }
        let before = pool.routes.generation
        let until = pool.bench(id, now: now, base: settings.benchSeconds)
        pool.update(id) { $0.failuresInARow = 0 }
        actions.append(
            .publish(.workerBenched(role: worker.role, worker: worker.name, failures: failures, seconds: until - now)))
        refreshEvaluatorRoutes(changedFrom: before, into: &actions)
        if worker.role == .mutator, let inlet = worker.inlet { actions.append(.disconnectMutator(inlet)) }
    }
}
