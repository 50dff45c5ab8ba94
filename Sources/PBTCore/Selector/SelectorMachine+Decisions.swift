/// A scored member is ready: it is ranked among members at a comparable step, and either
/// keeps its weights or exploits a better member (then explores, through a mutator).
extension SelectorMachine {
    /// Records a member's score for its new weights, then finishes it, holds it at the
    /// barrier (synchronous mode) or decides.
    mutating func score(
        _ index: Int, _ score: Double, metrics: [String: Double], version: Int, evaluator: String, now: Double,
        into actions: inout [Action]
    ) {
        let step = table[index].step
        let fitness = settings.objective.fitness(score)
        table.update(index) { member in
            member.score = score
            member.metrics = metrics
            member.recent = Array((member.recent + [fitness]).suffix(settings.exploit.window))
        }
        board.record(member: index, step: step, fitness: fitness)
        dirty.insert(index)
        let member = table[index]
        if let checkpoint = member.checkpoint {
            let snapshot = ScoreSnapshot(
                member: index, step: step, fitness: fitness, score: score, checkpoint: checkpoint,
                hyperparameters: member.hyperparameters, history: member.history, metrics: member.metrics,
                recent: member.recent)
            snapshots[step, default: [:]][index] = snapshot
            pendingChanges.scores.append(snapshot)
            if bestEver.map({ fitness > $0.fitness }) ?? true { bestEver = snapshot }
        }
        actions.append(
            .publish(.memberScored(member: index, version: version, step: step, score: score, evaluator: evaluator)))
        let standing = Standing(member: index, fitness: fitness)
        if let current = best, current.member != index {
            if Standing.ranksBefore(standing, current) { best = standing }
        } else {
            refreshBest()
        }
        if settings.stop.reachesTarget(score, objective: settings.objective) {
            finish(.target, now: now, into: &actions)
            return
        }
        if step >= settings.stop.maxSteps {
            table.setPhase(index, .finished)
            actions.append(.publish(.memberFinished(member: index, step: step, score: score)))
            memberDone(now: now, into: &actions)
            return
        }
        if settings.synchronous {
            table.setPhase(index, .waiting)
            releaseBarrier(now: now, into: &actions)
            return
        }
        // `max_lead`: every scored member waits; those the slowest live member is close
        // enough to (this one, most often) are decided at once, best first.
        if settings.maxLead != nil {
            table.setPhase(index, .waiting)
            releaseLeaders(now: now, into: &actions)
            return
        }
        decide(index, now: now, into: &actions)
    }

    /// `max_lead`: the step a member may stand at to be decided or trained: the slowest live
    /// member's step plus the lead (saturating), or no limit without a bound.
    mutating func leadLimit() -> Int? {
        guard let lead = settings.maxLead else { return nil }
        guard let slowest = table.slowestLiveStep() else { return .max }
        let (limit, overflow) = slowest.addingReportingOverflow(lead)
        return overflow ? .max : limit
    }

    /// `max_lead`: decides, best first, the waiting members that the slowest live member has
    /// come close enough to (every one, once a member that held them back is done). A member
    /// whose turn comes after a copy took the slowest back waits again.
    mutating func releaseLeaders(now: Double, into actions: inout [Action]) {
        // (Under `synchronous`, which the experiment file does not combine with a lead, the
        // waiting members are the barrier's.)
        guard !settings.synchronous, let limit = leadLimit() else { return }
        var released: [Int] = []
        while let index = table.nextWaiting(atMost: limit) { released.append(index) }
        for index in bestFirst(released) {
            if let current = leadLimit(), table[index].step > current {
                table.wait(index)
            } else {
                decide(index, now: now, into: &actions)
            }
        }
    }

    /// Synchronous mode: once every live member waits at the ready step, decide for all of
    /// them, best first. A member that is given up leaves the live population, so it never
    /// holds the barrier; one whose task is lost is re-issued by its lease as usual.
    mutating func releaseBarrier(now: Double, into actions: inout [Action]) {
        guard settings.synchronous, !table.waiting.isEmpty, table.waiting.count == table.count - table.done else {
            return
        }
        for index in bestFirst(table.waiting) { decide(index, now: now, into: &actions) }
    }

    /// `members` by their latest score, best first (ties as the score board breaks them).
    func bestFirst(_ members: some Collection<Int>) -> [Int] {
        members.sorted { a, b in
            Standing.ranksBefore(
                Standing(member: a, fitness: table[a].recent.last ?? -.infinity),
                Standing(member: b, fitness: table[b].recent.last ?? -.infinity))
        }
    }

    mutating func decide(_ index: Int, now: Double, into actions: inout [Action]) {
        let step = table[index].step
        // Compare at the member's own step; a member that got there first is compared where
        // it last had company, so that the fastest member is not exempt from exploit.
        var comparedAt = step
        var cohort = board.ranking(at: step)
        // (A population of one has no company anywhere: no need to look back.)
        if cohort.count < 2, table.count > 1, let earlier = board.latestComparableStep(for: index, before: step) {
            comparedAt = earlier
            cohort = board.ranking(at: earlier)
        }
        var random = SplitMix64.forDecision(
            seed: settings.seed, member: index, version: table[index].version, purpose: .exploit)
        let snapshotsThere = snapshots[comparedAt] ?? [:]
        var decision: ExploitDecision =
            step < settings.burnIn
            ? .keep
            : settings.exploit.decide(
                member: index, cohort: cohort, recent: { snapshotsThere[$0]?.recent ?? [] }, using: &random)
        if case .exploit(let donor) = decision, !lineageCapAllows(index, toCopy: donor, at: comparedAt, step: step) {
            decision = .capped(donor: donor)
        }
        let rank = cohort.rank(of: index)
        actions.append(
            .publish(
                .memberDecided(
                    member: index, step: step, comparedAt: comparedAt, decision: decision, cohort: cohort.count,
                    rank: rank)))
        dirty.insert(index)
        guard case .exploit(let donor) = decision, let snapshot = snapshots[comparedAt]?[donor] else {
            table.setPhase(index, .queued(.trainer))
            return
        }
        let old = table[index].hyperparameters
        table.update(index) { member in
            member.step = comparedAt
            member.checkpoint = snapshot.checkpoint
            member.history = snapshot.history
            member.hyperparameters = snapshot.hyperparameters
            member.score = snapshot.score
            member.metrics = snapshot.metrics
            member.recent = snapshot.recent
            member.exploits += 1
            member.pendingExploit = PendingExploit(donor: donor, old: old, copied: snapshot.hyperparameters)
        }
        exploits += 1
        if settings.explores {
            table.setPhase(index, .queued(.mutator))
        } else {
            completeExploit(index, new: snapshot.hyperparameters, changes: [:], mutator: "", into: &actions)
        }
    }

    mutating func completeExploit(
        _ index: Int, new: Hyperparameters, changes: [String: ExploreChange], mutator: String,
        into actions: inout [Action]
    ) {
        let member = table[index]
        if let pending = member.pendingExploit {
            actions.append(
                .publish(
                    .memberExploited(
                        .init(
                            member: index, donor: pending.donor, step: member.step, checkpoint: member.checkpoint ?? "",
                            old: pending.old, copied: pending.copied, new: new, changes: changes, mutator: mutator))))
        }
        table.update(index) { $0.pendingExploit = nil }
        dirty.insert(index)
        table.setPhase(index, .queued(.trainer))
    }

    /// Whether member `index`, deciding at `step`, may copy `donor`'s snapshot at
    /// `comparedAt` under the experiment's lineage cap (always, without one). Counting the
    /// donor's lineage looks at every member once: O(population), only for a copy the
    /// strategy chose and only with a cap.
    func lineageCapAllows(_ index: Int, toCopy donor: Int, at comparedAt: Int, step: Int) -> Bool {
        guard let cap = settings.lineageCap, cap.holds(at: step) else { return true }
        func lineage(_ member: Int) -> Int { table[member].history?.root ?? member }
        let donorLineage = snapshots[comparedAt]?[donor]?.history?.root ?? lineage(donor)
        // A member given up trains no more: it holds no place in its lineage.
        let holding = table.indices.reduce(0) {
            $0 + (table[$1].phase != .failed && lineage($1) == donorLineage ? 1 : 0)
        }
        return cap.allows(
            donor: donorLineage, recipient: lineage(index), holding: holding, population: table.count, step: step)
    }
}
