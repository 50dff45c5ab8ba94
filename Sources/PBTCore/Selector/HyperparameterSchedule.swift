/// Hyperparameters fixed in advance, step range by step range: the experiment file's
/// `schedule`, which `pbt replay` writes to retrain one member of a past run on the
/// hyperparameters its weights were trained with.
///
///     from_step 0: lr=0.1     from_step 100: lr=0.05     from_step 250: lr=0.01
///     |───────────────────────|──────────────────────────|──────────────▶ step
///
/// A training task never crosses an entry's start: the selector ends a task at the next
/// entry's `fromStep` (and scores the member there), then trains on with that entry's values.
public struct HyperparameterSchedule: Sendable, Hashable {
    /// From `fromStep` on (until the next entry), train with `hyperparameters`.
    public struct Entry: Sendable, Hashable {
        public var fromStep: Int
        public var hyperparameters: Hyperparameters
        /// Train these steps with the seed that this member of the experiment has (the same
        /// experiment seed gives the same minibatches as in the original run); nil: the
        /// member's own seed.
        public var seedOf: Int?

        public init(fromStep: Int, hyperparameters: Hyperparameters, seedOf: Int? = nil) {
            self.fromStep = fromStep
            self.hyperparameters = hyperparameters
            self.seedOf = seedOf
        }
    }

    /// The entries in order of `fromStep`.
    public let entries: [Entry]

    /// A schedule of `entries` (sorted here by `fromStep`).
    public init(_ entries: [Entry]) {
        self.entries = entries.sorted { $0.fromStep < $1.fromStep }
    }

    /// The entry in force at `step`: the last one starting at or before it.
    public func entry(at step: Int) -> Entry? {
        entries.last { $0.fromStep <= step }
    }

    /// The first entry start after `step`, where a training task from `step` has to stop.
    public func boundary(after step: Int) -> Int? {
        entries.first { $0.fromStep > step }?.fromStep
    }
}
