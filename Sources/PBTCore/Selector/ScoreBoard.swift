/// Every score the population has reported, kept by the step at which it was reached.
///
/// Asynchronous PBT's trap is comparing a member with scores reached after fewer steps:
/// on a rising curve the first to report always looks best and nobody ever exploits.
/// The board compares like with like: a member ready at step `s` is ranked among the
/// members that reported a score at step `s`. Each step's list is kept sorted, so a
/// ranking costs a binary search.
public struct ScoreBoard: Sendable {
    private var byStep: [Int: StepCohort] = [:]
    private var stepsByMember: [Int: [Int]] = [:]

    /// The members scored at one step, ranked, with each one's fitness.
    public struct StepCohort: Cohort, Sendable {
        var ranking = RankedSet()
        var fitness: [Int: Double] = [:]

        public var count: Int { ranking.count }

        public func rank(of member: Int) -> Int? {
            guard let value = fitness[member] else { return nil }
            return ranking.rank(of: Standing(member: member, fitness: value))
        }

        public func standing(at rank: Int) -> Standing { ranking.element(at: rank) }

        /// Best first.
        public var ordered: [Standing] { ranking.ordered }
    }

    public init() {}

    /// Records `member`'s fitness at `step`, replacing an earlier one at the same step. O(log n).
    public mutating func record(member: Int, step: Int, fitness: Double) {
        var cohort = byStep.removeValue(forKey: step) ?? StepCohort()
        if let old = cohort.fitness[member] {
            cohort.ranking.remove(Standing(member: member, fitness: old))
        }
        cohort.ranking.insert(Standing(member: member, fitness: fitness))
        cohort.fitness[member] = fitness
        byStep[step] = cohort
        var steps = stepsByMember.removeValue(forKey: member) ?? []
        if steps.last.map({ $0 < step }) ?? true {
            steps.append(step)
        } else if !steps.contains(step) {
            steps.append(step)
            steps.sort()
        }
        stepsByMember[member] = steps
    }

    /// The latest step before `step` at which `member` has a score and at least `size`
    /// members do: where a member that is first to reach `step` can still be compared.
    public func latestComparableStep(for member: Int, before step: Int, size: Int = 2) -> Int? {
        guard let steps = stepsByMember[member] else { return nil }
        for candidate in steps.reversed() where candidate < step {
            if (byStep[candidate]?.count ?? 0) >= size { return candidate }
        }
        return nil
    }

    /// The members with a score at `step`, ranked.
    public func ranking(at step: Int) -> StepCohort {
        byStep[step] ?? StepCohort()
    }

    /// The members with a score at `step`, best first (a copy: O(n); for tests and reports).
    public func cohort(at step: Int) -> [Standing] {
        byStep[step]?.ordered ?? []
    }

    /// Forgets every step below `step` (no member can be compared there any more).
    public mutating func forget(below step: Int) {
        for key in byStep.keys where key < step {
            byStep[key] = nil
        }
        for (member, steps) in stepsByMember where steps.first.map({ $0 < step }) ?? false {
            stepsByMember[member] = steps.filter { $0 >= step }
        }
    }

    /// How many scores the board holds.
    public var count: Int { byStep.values.reduce(0) { $0 + $1.count } }
}
