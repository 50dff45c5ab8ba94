import PBTCore

extension Experiment {
    /// Reads the optional `schedule` field: hyperparameters fixed step range by step range,
    /// which `pbt replay` writes to retrain a member of a past run.
    ///
    /// ```yaml
    /// exploit: {strategy: none}     # required with a schedule: nothing else changes the values
    /// schedule:
    ///   - {from_step: 0, seed_of: 3, hyperparameters: {lr: 0.1, batch_size: 32}}
    ///   - {from_step: 100, seed_of: 5, hyperparameters: {lr: 0.05, batch_size: 64}}
    /// ```
    ///
    /// The first entry starts at step 0, starts increase and stay below `stop.max_steps`, and
    /// each entry gives every declared hyperparameter inside its domain. `seed_of` (optional)
    /// trains that range with the seed of that member of the experiment, so that a replay with
    /// the original `seed` sees the original minibatches.
    static func schedule(
        _ node: ConfigNode?, space: SearchSpace, maxSteps: Int, exploit: ExploitStrategy, exploitNode: ConfigNode?
    ) throws(ConfigError) -> HyperparameterSchedule? {
        guard let node else { return nil }
        let items = try node.list()
        guard !items.isEmpty else { throw node.error("needs at least one entry (or leave the field out)") }
        if exploit != .none {
            throw (exploitNode ?? node).error("a schedule fixes the hyperparameters: set exploit: {strategy: none}")
        }
        var entries: [HyperparameterSchedule.Entry] = []
        for item in items {
            _ = try item.map(allowed: ["from_step", "hyperparameters", "seed_of"])
            let stepNode = try item.require("from_step")
            let fromStep = try stepNode.integer(in: 0...Int.max)
            if let previous = entries.last {
                guard fromStep > previous.fromStep else {
                    throw stepNode.error(
                        "must be after the previous entry's from_step (\(previous.fromStep)), got \(fromStep)")
                }
            } else if fromStep != 0 {
                throw stepNode.error("the first entry must start at step 0, got \(fromStep)")
            }
            guard fromStep < maxSteps else {
                throw stepNode.error("must be below stop.max_steps (\(maxSteps)), got \(fromStep)")
            }
            let valuesNode = try item.require("hyperparameters")
            var values = Hyperparameters()
            for (key, valueNode) in try valuesNode.map(allowed: space.names) {
                let domain = space.domain(of: key)!
                guard let raw = hyperparameterValue(valueNode), let value = domain.normalize(raw) else {
                    throw valueNode.error(
                        "\(valueNode.shown) is outside the \(domain.kind) domain of \(ConfigNode.quoted(key))")
                }
                values[key] = value
            }
            if let missing = space.names.first(where: { values[$0] == nil }) {
                throw valuesNode.error(
                    "gives no value for \(ConfigNode.quoted(missing)) (a schedule entry names every hyperparameter)")
            }
            let seedOf = try item["seed_of"]?.integer(in: 0...Int.max)
            entries.append(.init(fromStep: fromStep, hyperparameters: values, seedOf: seedOf))
        }
        return HyperparameterSchedule(entries)
    }
}
