extension SelectorMachine {
    /// Puts the member on its scheduled hyperparameters for training from its current step,
    /// and returns the seed its training task carries.
    mutating func applySchedule(_ index: Int) -> UInt64 {
        guard let entry = settings.schedule?.entry(at: members[index].step) else { return members[index].seed }
        members[index].hyperparameters = entry.hyperparameters
        guard let other = entry.seedOf else { return members[index].seed }
        return SplitMix64.derive(settings.seed, UInt64(other))
    }
}
