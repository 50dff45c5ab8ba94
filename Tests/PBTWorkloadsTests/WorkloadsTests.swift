import PBTConfig
import PBTCore
import PBTWorkloads
import Testing

/// Making a workload from an experiment file: known kinds, their settings, and errors that name the field.
@Suite("Workloads")
struct WorkloadsTests {
    static func experiment(
        workload: String, hyperparameters: String = "{h0: {uniform: [0, 1]}, h1: {uniform: [0, 1]}}"
    )
        throws -> Experiment
    {
        try Experiment.parse(
            yaml: """
                name: workloads
                workload: \(workload)
                population: 2
                stop: {max_steps: 10}
                hyperparameters: \(hyperparameters)
                """)
    }

    static func makeError(
        workload: String, hyperparameters: String = "{h0: {uniform: [0, 1]}, h1: {uniform: [0, 1]}}"
    )
        throws -> ConfigError?
    {
        let experiment = try experiment(workload: workload, hyperparameters: hyperparameters)
        do {
            _ = try Workloads.make(for: experiment)
            return nil
        } catch {
            return error
        }
    }

    /// What each built-in workload says it reports is what it reports, from training and from
    /// its evaluation; `objective.metric` naming anything else is refused before a run starts.
    @Test(arguments: [
        ("{kind: toy}", "{h0: {uniform: [0, 1]}, h1: {uniform: [0, 1]}}"),
        ("{kind: noop}", "{x: {uniform: [0, 1]}}"),
        ("{kind: mlp, data: \(MLPWorkloadTests.data)}", "{lr: {log_uniform: [0.001, 0.1]}}"),
        ("{kind: a2c, environment: CartPole-v1}", "{lr: {log_uniform: [0.0001, 0.01]}}"),
    ])
    func theMetricsABuiltInReportsAreTheOnesItLists(workload: String, hyperparameters: String) throws {
        let experiment = try Self.experiment(workload: workload, hyperparameters: hyperparameters)
        let made = try Workloads.make(for: experiment)
        var random = SplitMix64(seed: 1)
        let sample = experiment.space.sample(using: &random)
        let start = try made.initialState(member: 0, seed: 1, hyperparameters: sample)
        let trained = try made.train(
            TrainingRequest(member: 0, step: 0, steps: 1, hyperparameters: sample, seed: 1), from: start
        ) { _ in true }
        let evaluated = try made.evaluate(state: trained.state, hyperparameters: sample)
        let kind = experiment.workload.kind
        #expect(Set(Workloads.reportedMetrics(kind: kind, evaluation: .reported) ?? []) == Set(trained.metrics.keys))
        #expect(Set(Workloads.reportedMetrics(kind: kind, evaluation: .checkpoint) ?? []) == Set(evaluated.keys))
        let typo = try Experiment.parse(yaml: experiment.source + "\nobjective: {metric: los}\n")
        let error = #expect(throws: ConfigError.self) { try Workloads.checkRunnable(typo) }
        #expect(error?.description.contains("objective.metric: the \(kind) workload's training reports score") == true)
    }

    @Test func aToyExperimentMakesAToyWorkloadWithItsSettings() throws {
        let workload = try Workloads.make(
            for: try Self.experiment(workload: "{kind: toy, step_size: 0.02, start: [0.5, 0.5]}"))
        let toy = try #require(workload as? ToyWorkload)
        #expect(toy.stepSize == 0.02)
        #expect(toy.start == (0.5, 0.5))
        let state = try toy.initialState(member: 0, seed: 1, hyperparameters: Hyperparameters())
        #expect(try toy.evaluate(state: state, hyperparameters: Hyperparameters())["score"] == 0.7)
    }

    @Test func aToyExperimentWithDefaultsUsesThePapersSetting() throws {
        let toy = try #require(try Workloads.make(for: try Self.experiment(workload: "{kind: toy}")) as? ToyWorkload)
        #expect(toy.stepSize == 0.01)
        #expect(toy.start == (0.9, 0.9))
    }

    @Test func aNoopExperimentMakesANoopWorkloadWithItsSettings() throws {
        let workload = try Workloads.make(
            for: try Self.experiment(
                workload:
                    "{kind: noop, step_seconds: 0.01, step_seconds_max: 0.02, slow_members: [1, 3], slow_step_seconds: 0.5}"
            ))
        let noop = try #require(workload as? NoopWorkload)
        #expect(noop.stepSeconds == 0.01)
        #expect(noop.stepSecondsMax == 0.02)
        #expect(noop.slowMembers == [1, 3])
        #expect(noop.slowStepSeconds == 0.5)
    }

    @Test func aToyAcceptsNumericChoices() throws {
        let workload = try Workloads.make(
            for: try Self.experiment(
                workload: "{kind: toy}", hyperparameters: "{h0: {choice: [0, 0.5, 1]}, h1: {int: [0, 1]}}"))
        #expect(workload is ToyWorkload)
    }

    struct BadWorkload: Sendable, CustomTestStringConvertible {
        let label: String
        let workload: String
        var hyperparameters = "{h0: {uniform: [0, 1]}, h1: {uniform: [0, 1]}}"
        let path: String
        let mentions: [String]
        var testDescription: String { label }
    }

    static let badWorkloads: [BadWorkload] = [
        .init(label: "unknown kind", workload: "{kind: mnist}", path: "workload.kind", mentions: ["'mnist'", "toy"]),
        .init(
            label: "toy without h1", workload: "{kind: toy}", hyperparameters: "{h0: {uniform: [0, 1]}}",
            path: "hyperparameters", mentions: ["'h1'"]),
        .init(
            label: "toy without h0", workload: "{kind: toy}",
            hyperparameters: "{h1: {uniform: [0, 1]}, lr: {uniform: [0, 1]}}",
            path: "hyperparameters", mentions: ["'h0'"]),
        .init(
            label: "toy with a text choice", workload: "{kind: toy}",
            hyperparameters: "{h0: {choice: [low, high]}, h1: {uniform: [0, 1]}}",
            path: "hyperparameters.h0", mentions: ["number"]),
        .init(
            label: "toy with an unknown setting", workload: "{kind: toy, lr: 1}", path: "workload.lr",
            mentions: ["unknown field 'lr'"]),
        .init(
            label: "toy step_size 0", workload: "{kind: toy, step_size: 0}", path: "workload.step_size",
            mentions: ["got 0"]),
        .init(
            label: "toy start with one number", workload: "{kind: toy, start: [1]}", path: "workload.start",
            mentions: ["[1]"]),
        .init(
            label: "noop max below min", workload: "{kind: noop, step_seconds: 0.5, step_seconds_max: 0.1}",
            path: "workload.step_seconds_max", mentions: ["0.1", "0.5"]),
        .init(
            label: "noop unknown setting", workload: "{kind: noop, speed: 2}", path: "workload.speed",
            mentions: ["unknown field 'speed'"]),
        .init(
            label: "noop negative slow member", workload: "{kind: noop, slow_members: [-1]}",
            path: "workload.slow_members[0]", mentions: ["-1"]),
        .init(
            label: "noop step_seconds in words", workload: "{kind: noop, step_seconds: fast}",
            path: "workload.step_seconds", mentions: ["'fast'"]),
        .init(
            label: "a2c lr both tuned and fixed", workload: "{kind: a2c, lr: 0.001}",
            hyperparameters: "{lr: {log_uniform: [0.0001, 0.01]}}", path: "hyperparameters.lr",
            mentions: ["fixed under workload.lr too"]),
        .init(
            label: "a2c gamma past 1", workload: "{kind: a2c}",
            hyperparameters: "{lr: {log_uniform: [0.0001, 0.01]}, gamma: {uniform: [0.9, 1.5]}}",
            path: "hyperparameters.gamma", mentions: ["from 0 to 1", "reaches 1.5"]),
        .init(
            label: "mlp batch_size from 0", workload: "{kind: mlp, data: \(MLPWorkloadTests.data)}",
            hyperparameters: "{lr: {log_uniform: [0.001, 0.1]}, batch_size: {int: [0, 64]}}",
            path: "hyperparameters.batch_size", mentions: ["from 1 to 4096", "reaches 0"]),
        .init(
            label: "mlp negative learning rate", workload: "{kind: mlp, data: \(MLPWorkloadTests.data)}",
            hyperparameters: "{lr: {uniform: [-1, 1]}}", path: "hyperparameters.lr", mentions: ["reaches -1"]),
        .init(
            label: "mlp batch_size choice with 0", workload: "{kind: mlp, data: \(MLPWorkloadTests.data)}",
            hyperparameters: "{lr: {log_uniform: [0.001, 0.1]}, batch_size: {choice: [32, 0]}}",
            path: "hyperparameters.batch_size", mentions: ["reaches 0"]),
    ]

    @Test("bad workloads are refused, naming the field", arguments: badWorkloads)
    func badWorkloadsNameTheField(row: BadWorkload) throws {
        let error = try #require(try Self.makeError(workload: row.workload, hyperparameters: row.hyperparameters))
        #expect(error.path == row.path, "\(error)")
        for text in row.mentions {
            #expect(error.message.contains(text), "'\(error.message)' does not mention \(text)")
        }
    }

    @Test func everyKindIsListed() {
        #expect(Workloads.kinds.contains("toy"))
        #expect(Workloads.kinds.contains("noop"))
    }
}
