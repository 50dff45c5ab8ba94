/// The kinds of worker that connect to the selector. Each does one kind of task.
public enum WorkerRole: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Trains a member for some steps and reports its new checkpoint.
    case trainer = 1
    /// Turns a trained member into a score.
    case evaluator = 2
    /// Explores the hyperparameters of a member that exploited.
    case mutator = 3

    public var description: String {
        switch self {
        case .trainer: "trainer"
        case .evaluator: "evaluator"
        case .mutator: "mutator"
        }
    }
}
