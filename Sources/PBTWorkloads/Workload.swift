import CBLAS
import Foundation
import PBTConfig
import PBTCore

/// What a trainer runs. A workload turns a checkpoint and hyperparameters into a new
/// checkpoint after some steps of training, and reports what it measured.
///
/// Checkpoints are opaque bytes to the pipeline; each workload owns its format and must
/// refuse bytes that are not its own (a wrong, truncated or damaged file) with an error.
public protocol Workload: Sendable {
    /// A fresh member's state, from its seed.
    func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8]

    /// Trains `request.steps` steps from `state`. Calls `progress` with the number of steps
    /// done so far after each step (or as often as is cheap); when `progress` returns false
    /// the workload stops at that step boundary and returns what it has.
    func train(_ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool) throws -> TrainingOutcome

    /// Measures a checkpoint without training it (for evaluators that score from checkpoints).
    func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double]
}

/// One training task as a workload sees it.
public struct TrainingRequest: Sendable {
    public var member: Int
    /// The step the state is at.
    public var step: Int
    /// Steps to train.
    public var steps: Int
    public var hyperparameters: Hyperparameters
    /// The member's seed; workloads derive per-step randomness from it and the step.
    public var seed: UInt64
    /// The checkpoint file the state was read from (already hash-checked), when there is
    /// one: workloads that hand files to other programs pass it on instead of copying.
    public var checkpointPath: String?

    public init(
        member: Int, step: Int, steps: Int, hyperparameters: Hyperparameters, seed: UInt64,
        checkpointPath: String? = nil
    ) {
        self.member = member
        self.step = step
        self.steps = steps
        self.hyperparameters = hyperparameters
        self.seed = seed
        self.checkpointPath = checkpointPath
    }
}

/// What a workload returns after training.
public struct TrainingOutcome: Sendable {
    public var state: [UInt8]
    /// Steps actually trained (fewer than asked when stopped early).
    public var stepsDone: Int
    /// What it measured at the end, for example `score` and `loss`.
    public var metrics: [String: Double]

    public init(state: [UInt8], stepsDone: Int, metrics: [String: Double]) {
        self.state = state
        self.stepsDone = stepsDone
        self.metrics = metrics
    }
}

/// A workload's refusal: bad settings, bad hyperparameters, or a checkpoint that is not its own.
public struct WorkloadError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// What a trainer's training may use where it runs, resolved from the experiment's
/// `resources` and the trainer's own settings (`ThreadBudget.resolve`).
public struct TrainingResources: Sendable, Hashable {
    /// The thread budget; nil leaves the environment (and BLAS) alone.
    public var budget: ThreadBudget?
    /// The GPU devices (`CUDA_VISIBLE_DEVICES`); nil leaves the variable as it is.
    public var devices: [String]?
    /// Where a command program's stderr goes (appended to); nil: the trainer's own stderr.
    /// A trainer that is a thread of `pbt run --in-process` names its log file here.
    public var errorLog: String?
    /// What a command program is started through so that it dies with the worker
    /// (`ProgramLauncher.prefix`: `pbt exec-program --`), or nil to start it directly.
    public var launcher: [String]?

    public init(budget: ThreadBudget?, devices: [String]?, errorLog: String? = nil, launcher: [String]? = nil) {
        self.budget = budget
        self.devices = devices
        self.errorLog = errorLog
        self.launcher = launcher
    }

    /// The variables a command program gets on top of the trainer's own environment.
    public func environment(user: [String: String]) -> [String: String] {
        ThreadBudget.environment(budget: budget, devices: devices, user: user)
    }
}

/// OpenBLAS's thread pool in this process, for the built-in workloads. Their matrices are
/// small, so it is one thread unless a trainer's budget says otherwise.
enum BLASThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var decided = false

    /// One thread, unless a budget was set already.
    static func useDefault() {
        lock.lock()
        defer { lock.unlock() }
        if !decided { openblas_set_num_threads(1) }
        decided = true
    }

    /// This many threads; nil (`inherit`): as OpenBLAS's own environment variables say.
    static func use(_ threads: Int?) {
        lock.lock()
        defer { lock.unlock() }
        if let threads { openblas_set_num_threads(Int32(clamping: max(1, threads))) }
        decided = true
    }
}

/// The built-in workloads, by the `kind` an experiment file names.
public enum Workloads {
    /// Checks a built-in workload's hyperparameters: `lr` tuned or fixed, nothing it does not
    /// read, none both fixed under `workload` and tuned (the fixed value would be ignored),
    /// and every value a tuned one can take within `ranges` (the values a fixed one may have).
    static func checkHyperparameters(
        _ experiment: Experiment, reads names: [String], fixed: [String: Double], workload: String,
        ranges: [String: ClosedRange<Double>] = [:]
    ) throws(ConfigError) {
        guard experiment.space.domain(of: "lr") != nil || fixed["lr"] != nil else {
            throw ConfigError(
                path: "hyperparameters",
                message: "the \(workload) workload needs 'lr' (the learning rate), tuned or fixed under workload")
        }
        for parameter in experiment.space.parameters {
            let path = "hyperparameters.\(parameter.name)"
            guard names.contains(parameter.name) else {
                throw ConfigError(
                    path: path,
                    message:
                        "the \(workload) workload reads \(names.joined(separator: ", ")); it has no use for '\(parameter.name)'"
                )
            }
            if experiment.workload.settings[parameter.name] != nil {
                throw ConfigError(
                    path: path,
                    message:
                        "is tuned here and fixed under workload.\(parameter.name) too: keep one (the tuned values are used, the fixed one never)"
                )
            }
            guard let range = ranges[parameter.name] else { continue }
            let values: [Double] =
                switch parameter.domain {
                case .choice(let options): options.compactMap(\.number)
                default: parameter.domain.numericBounds.map { [$0.low, $0.high] } ?? []
                }
            if let outside = values.first(where: { !range.contains($0) }) {
                throw ConfigError(
                    path: path,
                    message:
                        "the \(workload) workload takes \(parameter.name) from \(Self.shown(range.lowerBound)) to \(Self.shown(range.upperBound)); this domain reaches \(Self.shown(outside))"
                )
            }
        }
    }

    static func shown(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// Every kind this build knows.
    public static let kinds = ["toy", "mlp", "a2c", "command", "noop"]

    /// Checks what a workload needs from this machine before anything starts: a `command`
    /// workload's program must exist and be executable. `make(for:)` checks only the file.
    public static func checkRunnable(_ experiment: Experiment) throws(ConfigError) {
        if experiment.workload.kind == "command" { try CommandWorkload.checkProgram(of: experiment) }
        let metric = experiment.metric
        if let reported = reportedMetrics(kind: experiment.workload.kind, evaluation: experiment.evaluation),
            !reported.contains(metric)
        {
            let by = experiment.evaluation == .checkpoint ? "its evaluation (evaluation: checkpoint)" : "training"
            throw ConfigError(
                path: "objective.metric",
                message:
                    "the \(experiment.workload.kind) workload's \(by) reports \(reported.joined(separator: ", ")), not \(ConfigNode.quoted(metric)): every task would fail"
            )
        }
    }

    /// The metrics a built-in workload reports, which `objective.metric` may name: from
    /// training (`evaluation: reported`) or from its evaluation of a checkpoint. Nil for a
    /// `command` workload, whose program decides.
    public static func reportedMetrics(kind: String, evaluation: Evaluation) -> [String]? {
        switch (kind, evaluation) {
        case ("toy", _): ["score", "theta0", "theta1"]
        case ("noop", _): ["score"]
        case ("mlp", .reported):
            ["score", "validation_accuracy", "validation_loss", "test_accuracy", "test_loss", "train_loss"]
        case ("mlp", .checkpoint): ["score", "validation_accuracy", "validation_loss", "test_accuracy", "test_loss"]
        case ("a2c", .reported): ["score", "episode_return", "episodes", "frames", "entropy", "value_loss"]
        case ("a2c", .checkpoint):
            ["score", "episode_return", "episodes", "frames", "validation_return", "test_return"]
        default: nil
        }
    }

    /// Makes the workload an experiment names, checking its settings and that the
    /// experiment declares the hyperparameters it needs. Errors name the field.
    /// `resources` is what the training may use where it runs: a command program gets the
    /// thread budget and devices as environment variables, the built-in workloads' BLAS its
    /// threads. Nil (`pbt validate`, callers that only check the file): nothing is set.
    public static func make(
        for experiment: Experiment, resources: TrainingResources? = nil
    ) throws(ConfigError)
        -> any Workload
    {
        if let resources {
            BLASThreads.use(MLPWorkload.blasThreads(budget: resources.budget, asked: experiment.resources.threads))
        }
        let settings = experiment.workload.settings
        switch experiment.workload.kind {
        case "toy":
            return try ToyWorkload(settings: settings, space: experiment.space)
        case "mlp":
            return try MLPWorkload(settings: settings, experiment: experiment)
        case "a2c":
            return try A2CWorkload(settings: settings, experiment: experiment)
        case "command":
            return try CommandWorkload(settings: settings, experiment: experiment, resources: resources)
        case "noop":
            return try NoopWorkload(settings: settings)
        default:
            throw try settings.require("kind").error(
                "unknown workload \(ConfigNode.quoted(experiment.workload.kind)) (known: \(kinds.joined(separator: ", ")))"
            )
        }
    }
}
