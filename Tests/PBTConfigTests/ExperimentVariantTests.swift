import PBTConfig
import PBTCore
import Testing

/// Experiments derived from another (the bench commands' variants): fields set and removed,
/// at the top level and one level down, the rest kept.
@Suite("Experiment variants")
struct ExperimentVariantTests {
    static let base = """
        name: base
        seed: 3
        workload: {kind: toy}
        population: 8
        stop: {max_steps: 100}
        exploit: {strategy: truncation, fraction: 0.25, burn_in: 5, lineage_cap: {share: 0.5, until: 50}}
        hyperparameters:
          h0: {uniform: [0, 1]}
        """

    /// The bench's t-test variant: the strategy and its settings change, burn_in and the cap stay.
    @Test func aStrategyChangedOneLevelDownKeepsTheSectionsOtherSettings() throws {
        let text = try ExperimentVariant.make(
            from: Self.base,
            [
                .set("exploit.strategy", yaml: "t_test"), .remove("exploit.fraction"),
                .set("exploit.window", yaml: "4"), .set("exploit.p_value", yaml: "0.1"),
            ])
        let experiment = try Experiment.parse(yaml: text)
        #expect(experiment.exploit == .tTest(window: 4, pValue: 0.1))
        #expect(experiment.burnIn == 5)
        #expect(experiment.lineageCap == LineageCap(share: 0.5, until: 50))
        #expect(experiment.seed == 3)
    }

    @Test func aTopLevelFieldIsSetOrRemovedWhole() throws {
        let text = try ExperimentVariant.make(
            from: Self.base, [.set("exploit", yaml: "{strategy: none}"), .set("seed", yaml: "9"), .remove("stop")])
        #expect(text.contains("stop") == false)
        let experiment = try Experiment.parse(yaml: text + "\nstop: {max_steps: 7}")
        #expect(experiment.exploit == ExploitStrategy.none)
        #expect(experiment.lineageCap == nil)
        #expect(experiment.seed == 9)
        #expect(experiment.stop.maxSteps == 7)
    }

    /// Removing a field that is not there, or one level below a field that is not a map, changes nothing.
    @Test func removingWhatIsNotThereChangesNothing() throws {
        let text = try ExperimentVariant.make(from: Self.base, [.remove("exploit.window"), .remove("seed.low")])
        #expect(
            try Experiment.parse(yaml: text) == Experiment.parse(yaml: try ExperimentVariant.make(from: Self.base, [])))
    }

    /// A path deeper than one level, or with an empty part, is refused: it would otherwise
    /// change the wrong field.
    @Test(arguments: ["exploit.lineage_cap.until", "", ".", "exploit.", ".fraction"])
    func aPathTheVariantCannotReachIsAnError(path: String) {
        for change in [ExperimentVariant.Change.remove(path), .set(path, yaml: "1")] {
            #expect(throws: ConfigError.self) { try ExperimentVariant.make(from: Self.base, [change]) }
        }
    }
}
