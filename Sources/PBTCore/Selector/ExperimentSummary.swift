/// The outcome of an experiment: its best member, how it got there, and every member's end.
public struct ExperimentSummary: Sendable, Hashable {
    public var reason: FinishReason
    public var seconds: Double
    /// Member-steps trained in all.
    public var steps: Int
    public var exploits: Int
    public var best: Best?
    /// The best score ever reached, and the checkpoint that reached it (which may have been
    /// replaced since by exploit).
    public var bestEver: BestEver?
    public var members: [MemberOutcome]
    /// The first failure's reason, when any task failed (what went wrong in a run in which
    /// every member failed).
    public var firstFailure: String?

    public struct BestEver: Sendable, Hashable {
        public var member: Int
        public var step: Int
        public var score: Double
        public var checkpoint: String
        public var hyperparameters: Hyperparameters
        /// What was reported with that score (an RL evaluator's `test_return`, for one).
        public var metrics: [String: Double] = [:]
    }

    /// The best member at the end.
    public struct Best: Sendable, Hashable {
        public var member: Int
        public var score: Double
        public var step: Int
        /// The hyperparameters its last steps trained with.
        public var hyperparameters: Hyperparameters
        /// The hyperparameters its weights were trained with, step range by step range.
        public var schedule: [ScheduleEntry]
        /// Whose training its weights come from, step range by step range.
        public var lineage: [LineageEntry]
        /// What the trainer and evaluator measured for its weights (e.g. `test_accuracy`).
        public var metrics: [String: Double]
    }

    public struct ScheduleEntry: Sendable, Hashable {
        public var fromStep: Int
        public var toStep: Int
        public var member: Int
        public var hyperparameters: Hyperparameters
    }

    public struct LineageEntry: Sendable, Hashable {
        public var member: Int
        public var fromStep: Int
        public var toStep: Int
    }

    /// One member's end state.
    public struct MemberOutcome: Sendable, Hashable {
        public var member: Int
        public var step: Int
        public var score: Double?
        public var hyperparameters: Hyperparameters
        public var exploits: Int
        public var failed: Bool
        public var metrics: [String: Double]
    }
}

extension ExperimentSummary.Best {
    /// Builds the schedule and the lineage from a member's history.
    init(
        member: Int, score: Double, step: Int, history: LineageSegment?, hyperparameters: Hyperparameters,
        metrics: [String: Double]
    ) {
        self.metrics = metrics
        let segments = history?.chronological ?? []
        self.member = member
        self.score = score
        self.step = step
        self.hyperparameters = segments.last?.hyperparameters ?? hyperparameters
        schedule = segments.map {
            ExperimentSummary.ScheduleEntry(
                fromStep: $0.fromStep, toStep: $0.toStep, member: $0.member, hyperparameters: $0.hyperparameters)
        }
        var lineage: [ExperimentSummary.LineageEntry] = []
        for segment in segments {
            if let last = lineage.last, last.member == segment.member, last.toStep == segment.fromStep {
                lineage[lineage.count - 1].toStep = segment.toStep
            } else {
                lineage.append(.init(member: segment.member, fromStep: segment.fromStep, toStep: segment.toStep))
            }
        }
        self.lineage = lineage
    }
}
