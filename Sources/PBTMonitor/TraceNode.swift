import PBTWire

/// One training task in the history of a member's weights: who trained them from
/// `fromStep` to `step`, with which hyperparameters, and the score they then got.
///
/// Nodes form a persistent list (each points at the one before it), so a member that copies a
/// donor shares the donor's history up to the copied step:
///
///     donor:     [0–4 m1] ← [4–8 m1]
///                               ↖
///     exploiter:                 [8–12 m0]
public final class TraceNode: Sendable {
    /// The member that trained these steps.
    public let member: Int
    public let fromStep: Int
    public let step: Int
    public let hyperparameters: [String: JSONValue]
    /// The score at `step`, once scored.
    public let score: Double?
    public let previous: TraceNode?

    public init(
        member: Int, fromStep: Int, step: Int, hyperparameters: [String: JSONValue], score: Double?,
        previous: TraceNode?
    ) {
        self.member = member
        self.fromStep = fromStep
        self.step = step
        self.hyperparameters = hyperparameters
        self.score = score
        self.previous = previous
    }

    /// The same node with its score.
    func scored(_ score: Double) -> TraceNode {
        TraceNode(
            member: member, fromStep: fromStep, step: step, hyperparameters: hyperparameters, score: score,
            previous: previous)
    }

    /// The nodes from the first step on.
    public var chronological: [TraceNode] {
        var nodes: [TraceNode] = []
        var cursor: TraceNode? = self
        while let node = cursor {
            nodes.append(node)
            cursor = node.previous
        }
        return nodes.reversed()
    }
}

/// A step range of a member's weights trained with one set of hyperparameters by one member:
/// a row of a schedule (`summary.json`'s `best.schedule`).
public struct ScheduleSegment: Sendable, Hashable {
    public var fromStep: Int
    public var toStep: Int
    /// The member whose training produced these steps.
    public var trainedBy: Int
    public var hyperparameters: [String: JSONValue]

    public init(fromStep: Int, toStep: Int, trainedBy: Int, hyperparameters: [String: JSONValue]) {
        self.fromStep = fromStep
        self.toStep = toStep
        self.trainedBy = trainedBy
        self.hyperparameters = hyperparameters
    }
}

/// A step range of a member's weights trained by one member (`summary.json`'s `best.lineage`).
public struct LineageSpan: Sendable, Hashable {
    public var member: Int
    public var fromStep: Int
    public var toStep: Int

    public init(member: Int, fromStep: Int, toStep: Int) {
        self.member = member
        self.fromStep = fromStep
        self.toStep = toStep
    }
}

extension PopulationModel {
    /// The history of `member`'s current weights, oldest first; empty when unknown. It starts
    /// after step 0 when the model missed the beginning (attached late).
    public func history(of member: Int) -> [TraceNode] {
        heads[member]?.chronological ?? []
    }

    /// The hyperparameters `member`'s current weights were trained with, range by range
    /// (ranges of the same member and values merged, as in `summary.json`).
    public func schedule(of member: Int) -> [ScheduleSegment] {
        var segments: [ScheduleSegment] = []
        for node in history(of: member) {
            if var last = segments.last, last.trainedBy == node.member, last.hyperparameters == node.hyperparameters,
                last.toStep == node.fromStep
            {
                last.toStep = node.step
                segments[segments.count - 1] = last
            } else {
                segments.append(
                    ScheduleSegment(
                        fromStep: node.fromStep, toStep: node.step, trainedBy: node.member,
                        hyperparameters: node.hyperparameters))
            }
        }
        return segments
    }

    /// Whose training `member`'s current weights are, range by range.
    public func lineage(of member: Int) -> [LineageSpan] {
        var spans: [LineageSpan] = []
        for segment in schedule(of: member) {
            if let last = spans.last, last.member == segment.trainedBy, last.toStep == segment.fromStep {
                spans[spans.count - 1].toStep = segment.toStep
            } else {
                spans.append(LineageSpan(member: segment.trainedBy, fromStep: segment.fromStep, toStep: segment.toStep))
            }
        }
        return spans
    }

    /// The scores along `member`'s current weights' history: (step, score, trained by).
    public func lineageScores(of member: Int) -> [(step: Int, score: Double, member: Int)] {
        history(of: member).compactMap { node in node.score.map { (node.step, $0, node.member) } }
    }
}
