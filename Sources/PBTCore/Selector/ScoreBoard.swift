/// Every score the population has reported, kept by the step at which it was reached.
///
/// Asynchronous PBT's trap is comparing a member with scores reached after fewer steps:
/// on a rising curve the first to report always looks best and nobody ever exploits.
/// The board compares like with like: a member ready at step `s` is ranked among the
/// members that reported a score at step `s`. Each step's list is kept sorted, so a
/// ranking costs a binary search.
public struct ScoreBoard: Sendable {
    private var byStep: [Int: [Standing]] = [:]
    private var stepsByMember: [Int: [Int]] = [:]

    public init() {}

    /// Records `member`'s fitness at `step`, replacing an earlier one at the same step.
    public mutating func record(member: Int, step: Int, fitness: Double) {
        var list = byStep[step] ?? []
        if let old = list.firstIndex(where: { $0.member == member }) {
            list.remove(at: old)
        }
        let standing = Standing(member: member, fitness: fitness)
        let index = Self.insertionIndex(of: standing, in: list)
        list.insert(standing, at: index)
        byStep[step] = list
        var steps = stepsByMember[member] ?? []
        if !steps.contains(step) {
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

    /// The members with a score at `step`, best first.
    public func cohort(at step: Int) -> [Standing] {
        byStep[step] ?? []
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

    static func insertionIndex(of standing: Standing, in list: [Standing]) -> Int {
        var low = 0
        var high = list.count
        while low < high {
            let mid = (low + high) / 2
            if Standing.ranksBefore(list[mid], standing) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
