/// Time: leases that run out, workers that fall silent, progress heartbeats, benches that
/// end, the time budget and the periodic progress event.
///
///     leg starts ─▶ deadline = now + lease timeout ─(progress)─▶ now + timeout, never past
///                                                                start + max task duration
///     deadline passes ─▶ lease.expired (training: a failure of the member) ─▶ out again, new version
///     worker silent ─▶ it left; what it held goes out again at once
extension SelectorMachine {
    /// Handles the passing of time.
    public mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        guard !isFinished, let startTime else { return actions }
        let before = pool.routes.generation
        for id in pool.endBenches(now: now) {
            if let worker = pool[id], worker.role == .mutator, let inlet = worker.inlet {
                actions.append(.connectMutator(inlet))
            }
        }
        refreshEvaluatorRoutes(changedFrom: before, into: &actions)
        for index in table.leased.sorted() {
            guard let lease = table[index].lease, lease.deadline < now, table[index].phase.isLeased else { continue }
            expire(index, lease: lease, now: now, into: &actions)
            if isFinished { return actions }
        }
        // The silent ones first, then in name order (a thousand workers are not sorted each tick).
        for (id, _) in pool.workers.filter({ now - $0.value.lastSeen > settings.silenceTimeout })
            .sorted(by: { $0.value.name < $1.value.name })
        {
            remove(id, reason: "silent for \(Self.seconds(settings.silenceTimeout))", now: now, into: &actions)
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

    /// A heartbeat on a leg the sender holds: the lease runs `leaseTimeout` from now, but
    /// never past the leg's maximum duration.
    mutating func progress(member: Int, version: Int, from worker: WorkerID, now: Double) {
        guard table.indices.contains(member), table[member].version == version, let lease = table[member].lease else {
            return
        }
        let role = pool[worker]?.role
        switch (table[member].phase, role) {
        case (.training(let holder), _) where holder == worker: break
        case (.scoring, .evaluator), (.exploring, .mutator): break
        default: return
        }
        let deadline = min(now + settings.leaseTimeout, lease.started + maxTaskSeconds)
        guard deadline > lease.deadline else { return }
        table.update(member) { $0.lease?.deadline = deadline }
    }

    /// A leg ran out: the member counts a failure and goes out again with a new version.
    private mutating func expire(_ index: Int, lease: MemberLease, now: Double, into actions: inout [Action]) {
        let member = table[index]
        let role: WorkerRole
        var holderName = ""
        switch member.phase {
        case .training(let holder):
            role = .trainer
            holderName = pool.name(of: holder)
            if let task = pool[holder]?.task, task.member == index { pool.update(holder) { $0.task = nil } }
            countWorkerFailure(holder, now: now, into: &actions)
        case .exploring: role = .mutator
        default: role = .evaluator
        }
        let overran = now - lease.started >= maxTaskSeconds
        actions.append(.publish(.leaseExpired(member: index, version: member.version, role: role, worker: holderName)))
        guard role == .trainer else {
            // Lost on its way to or at an evaluator or a mutator (one that died with it queued, or
            // one that keeps what it is pushed): not the member's failure, so never a reason to give it up.
            requeue(index, for: role == .mutator ? .mutator : .trainer)
            return
        }
        let reason =
            overran
            ? "lease expired: the trainer took longer than the longest a task may take (\(Self.seconds(maxTaskSeconds)))"
            : "lease expired: no word from the trainer for \(Self.seconds(settings.leaseTimeout))"
        countMemberFailure(index, version: member.version, worker: holderName, reason: reason, now: now, into: &actions)
        {
            $0.requeue(index, for: .trainer)
        }
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
