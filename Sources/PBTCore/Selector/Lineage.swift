/// One stretch of training in a member's history: who trained the weights from
/// `fromStep` to `toStep`, with which hyperparameters.
///
/// Segments form a persistent list (each points at the one before it), so a member
/// that exploits shares its donor's history instead of copying it:
///
///     donor:    [0–4 m1 h] ← [4–8 m1 h]
///                                 ↖
///     exploiter:                   [8–12 m0 h′]
public final class LineageSegment: Sendable, Hashable {
    /// Unique within an experiment; the store keys segments by it.
    public let id: Int
    public let member: Int
    public let fromStep: Int
    public let toStep: Int
    public let hyperparameters: Hyperparameters
    public let previous: LineageSegment?
    /// The member whose initial weights this history starts from (the first segment's
    /// member): its lineage. Set once, from the segment before, so reading it costs nothing.
    public let root: Int

    public init(
        id: Int, member: Int, fromStep: Int, toStep: Int, hyperparameters: Hyperparameters, previous: LineageSegment?
    ) {
        self.id = id
        self.member = member
        self.fromStep = fromStep
        self.toStep = toStep
        self.hyperparameters = hyperparameters
        self.previous = previous
        self.root = previous?.root ?? member
    }

    /// The history after training `member` from this segment's end to `step` with `hyperparameters`:
    /// this segment extended when nothing changed, else a new one after it. `id` names the result.
    public func extended(by member: Int, to step: Int, with hyperparameters: Hyperparameters, id: Int) -> LineageSegment
    {
        if member == self.member && hyperparameters == self.hyperparameters {
            return LineageSegment(
                id: id, member: member, fromStep: fromStep, toStep: step, hyperparameters: hyperparameters,
                previous: previous)
        }
        return LineageSegment(
            id: id, member: member, fromStep: toStep, toStep: step, hyperparameters: hyperparameters, previous: self)
    }

    /// The segments from the first step on.
    public var chronological: [LineageSegment] {
        var segments: [LineageSegment] = []
        var cursor: LineageSegment? = self
        while let segment = cursor {
            segments.append(segment)
            cursor = segment.previous
        }
        return segments.reversed()
    }
}

extension LineageSegment {
    /// Segments are the same when they have the same id (unique within an experiment).
    public static func == (a: LineageSegment, b: LineageSegment) -> Bool { a.id == b.id }

    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
