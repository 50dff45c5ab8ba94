import Foundation
import PBTConfig
import PBTCore
import Testing

/// `pbt validate`'s account of an experiment: every setting the run will use, defaults included.
@Suite("settings description")
struct SettingsDescriptionTests {
    @Test func aMinimalFileShowsEveryDefault() throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: tiny
                workload: {kind: toy}
                population: 2
                stop: {max_steps: 10}
                hyperparameters:
                  h0: {uniform: [0, 1]}
                """)
        let text = experiment.settingsDescription.joined(separator: "\n")
        for expected in [
            "name tiny, seed 0", "workload: toy (its defaults)", "population 2, ready every 1 step",
            "stop: max_steps 10",
            "objective: max score", "exploit: truncation, fraction 0.25, no burn_in",
            "explore: perturb, factors [0.8, 1.2], resample_probability 0.25", "evaluation: reported",
            "leases: timeout 30 s, silence 5 s, max_duration auto, max_failures 3, bench 30 s",
            "checkpoints: garbage collection every 10 s",
        ] {
            #expect(text.contains(expected), "'\(expected)' not in:\n\(text)")
        }
        #expect(ExperimentDefaults.truncationFraction == 0.25 && ExperimentDefaults.perturbFactors == [0.8, 1.2])
    }

    @Test func whatTheFileSetsIsShown() throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: full
                seed: 9
                workload: {kind: command, command: [python3, train.py], mode: persistent, timeout: 90s}
                population: 4
                interval: 5
                stop: {max_steps: 100, target_score: 0.99, time_budget: 2m, total_steps: 300}
                objective: {metric: loss, mode: min}
                exploit: {strategy: t_test, window: 6, p_value: 0.1, burn_in: 20}
                explore: {strategy: pb2, points: 100}
                evaluation: checkpoint
                synchronous: true
                checkpoints: {garbage_collection: false}
                security: {curve: true}
                leases: {max_duration: 5m}
                hyperparameters:
                  lr: {log_uniform: [1.0e-4, 1.0e-1]}
                """)
        let text = experiment.settingsDescription.joined(separator: "\n")
        for expected in [
            "name full, seed 9", "workload: command 'python3' 'train.py', mode persistent, timeout 90 s",
            "population 4, ready every 5 steps",
            "stop: max_steps 100, target_score 0.99, time_budget 120 s, total_steps 300",
            "objective: min loss", "exploit: t_test, window 6, p_value 0.1, burn_in 20",
            "explore: pb2, points 100, beta 2, time_decay 0.1", "evaluation: checkpoint, synchronous",
            "max_duration 300 s", "checkpoints: kept (no garbage collection)", "security: CURVE on every socket",
        ] {
            #expect(text.contains(expected), "'\(expected)' not in:\n\(text)")
        }
    }

    @Test func aLeadBoundIsShownAndItsAbsenceIsTheDefault() throws {
        let file = """
            name: lead
            workload: {kind: toy}
            population: 2
            stop: {max_steps: 10}
            hyperparameters:
              h0: {uniform: [0, 1]}
            """
        let bounded = try Experiment.parse(yaml: file + "\nmax_lead: 4\n").settingsDescription
        #expect(
            bounded.contains(
                "evaluation: reported, max_lead 4 (a member starts a task at most 4 steps ahead of the slowest)"))
        #expect(try Experiment.parse(yaml: file).maxLead == nil)
    }

    /// A discount in [0.9, 0.999] under the paper's factors is a warning (every perturbation
    /// is a jump between the ends); the same discount as a list of choices, or explored with
    /// noise, is not.
    @Test func aDomainPerturbationCannotStepIsAWarning() throws {
        func experiment(_ gamma: String, explore: String = "{strategy: perturb}") throws -> Experiment {
            try Experiment.parse(
                yaml: """
                    name: rl
                    workload: {kind: toy}
                    population: 2
                    stop: {max_steps: 10}
                    explore: \(explore)
                    hyperparameters:
                      lr: {log_uniform: [1.0e-4, 1.0e-2]}
                      gamma: \(gamma)
                    """)
        }
        let warned = try experiment("{uniform: [0.9, 0.999]}").warnings
        #expect(warned.count == 1)
        #expect(
            warned.first?.hasPrefix(
                "hyperparameters.gamma: every value of its uniform domain [0.9, 0.999] multiplied by ×0.8 or ×1.2 lands outside it"
            ) == true)
        #expect(warned.first?.contains("{choice: [...]}") == true)
        #expect(try experiment("{choice: [0.9, 0.95, 0.99, 0.999]}").warnings.isEmpty)
        #expect(try experiment("{uniform: [0.9, 0.999]}", explore: "{strategy: noise, std: 0.1}").warnings.isEmpty)
        #expect(
            try experiment("{uniform: [0.9, 0.999]}", explore: "{strategy: perturb, factors: [0.99, 1.01]}").warnings
                .isEmpty)
    }

    /// A lineage cap that lets a lineage hold one member (no copy at all until it lifts) and
    /// one that never lifts although it names a step are warnings; a working cap is not.
    @Test(arguments: [
        (population: 8, cap: "{share: 0.5, until: 50}", warnings: [String]()),
        (population: 8, cap: "{share: 0.5}", warnings: []),
        (
            population: 8, cap: "{share: 0.2, until: 50}",
            warnings: [
                "exploit.lineage_cap: a share of 0.2 of 8 members lets a lineage hold one member, so no member copies another before step 50 (random search until then); raise share to at least 0.25"
            ]
        ),
        (
            population: 3, cap: "{share: 0.5}",
            warnings: [
                "exploit.lineage_cap: a share of 0.5 of 3 members lets a lineage hold one member, so no member copies another in the whole run (random search until then); raise share to at least 0.6666666666666666"
            ]
        ),
        (
            population: 8, cap: "{share: 0.5, until: 100}",
            warnings: [
                "exploit.lineage_cap.until: 100 is not before stop.max_steps (100), so the cap holds for the whole run; leave until out to say so, or lift the cap earlier"
            ]
        ),
    ])
    func aLineageCapThatCannotWorkAsWrittenIsAWarning(population: Int, cap: String, warnings: [String]) throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: capped
                workload: {kind: toy}
                population: \(population)
                stop: {max_steps: 100}
                exploit: {strategy: truncation, lineage_cap: \(cap)}
                hyperparameters:
                  lr: {log_uniform: [1.0e-4, 1.0e-2]}
                """)
        #expect(experiment.warnings == warnings)
    }

    /// An interval or a burn-in the run never gets past: no member ever copies another.
    @Test(arguments: [
        ("interval: 20", "interval: 20 is not below stop.max_steps (20)"),
        ("exploit: {strategy: truncation, burn_in: 100}", "exploit.burn_in: 100 is not below stop.max_steps (20)"),
        ("interval: 5", nil),
        ("interval: 20\nexploit: {strategy: none}", nil),
    ])
    func aRunThatCanNeverExploitIsAWarning(setting: String, warning: String?) throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: never
                workload: {kind: toy}
                population: 4
                stop: {max_steps: 20}
                \(setting)
                hyperparameters:
                  h0: {uniform: [0, 1]}
                  h1: {uniform: [0, 1]}
                """)
        if let warning {
            #expect(
                experiment.warnings.count == 1 && experiment.warnings[0].hasPrefix(warning), "\(experiment.warnings)")
        } else {
            #expect(experiment.warnings.isEmpty, "\(experiment.warnings)")
        }
    }

    /// Every experiment shipped in topologies/experiments loads, and none of them runs with a
    /// setting `pbt validate` would warn about.
    @Test func theShippedExperimentsLoadWithoutWarnings() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topologies/experiments")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yml") }
        #expect(files.count >= 8)
        for file in files.sorted() {
            let experiment = try Experiment.load(path: folder.appendingPathComponent(file).path)
            #expect(experiment.warnings.isEmpty, "\(file): \(experiment.warnings)")
        }
    }
}
