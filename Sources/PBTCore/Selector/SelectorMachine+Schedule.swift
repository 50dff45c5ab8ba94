extension SelectorMachine {
    /// Puts the member on its scheduled hyperparameters for training from its current step,
    /// and returns the seed its training task carries.
    mutating func applySchedule(_ index: Int) -> UInt64 {
        guard let entry = settings.schedule?.entry(at: table[index].step) else { return table[index].seed }
        table.update(index) { $0.hyperparameters = entry.hyperparameters }
        guard let other = entry.seedOf else { return table[index].seed }
        return SplitMix64.derive(settings.seed, UInt64(other))
    }
}
