/// Counts things a stage drops, by reason, and says when a drop should be told: the first
/// ten of a reason each, then at most one a second for that reason (with the counts), so
/// that a flood of bad input cannot flood the event log and the store as well.
public struct DropTally: Sendable {
    public private(set) var byReason: [String: Int] = [:]
    public private(set) var total = 0
    private var lastTold: [String: Double] = [:]

    /// Drops told individually before the rate limit applies.
    public static let toldIndividually = 10
    /// Seconds between reports of one reason past the first ten.
    public static let reportInterval = 1.0

    public init() {}

    /// Records a drop of `reason` at `now`. Returns the reason's count and the total so far,
    /// and whether to tell of this one.
    public mutating func record(_ reason: String, now: Double) -> (count: Int, total: Int, tell: Bool) {
        total += 1
        let count = byReason[reason, default: 0] + 1
        byReason[reason] = count
        let tell = count <= Self.toldIndividually || now - (lastTold[reason] ?? -.infinity) >= Self.reportInterval
        if tell { lastTold[reason] = now }
        return (count, total, tell)
    }
}
