import PBTConfig
import PBTCore

/// Workload `mlp`: a multilayer perceptron trained on the UCI handwritten digits.
///
/// Settings: `data` (CSV path, default `topologies/data/digits.csv`), `hidden` (widths of
/// the hidden layers, default [64]), `validation_fraction` and `test_fraction` (0.2 each;
/// the split is drawn from the experiment's seed, the same for every member).
/// Hyperparameters it reads: `lr` (required), `momentum` (0.9), `weight_decay` (0),
/// `batch_size` (32) — each either tuned (declared under `hyperparameters`) or fixed by the
/// setting of the same name. A step is one minibatch. The score is validation accuracy;
/// `test_accuracy` is reported beside it and never used for decisions.
public struct MLPWorkload: Workload {
    public static let hyperparameterNames = ["lr", "momentum", "weight_decay", "batch_size"]
    /// The values each may take, fixed under `workload` or tuned.
    static let hyperparameterRanges: [String: ClosedRange<Double>] = [
        "lr": 0...10, "momentum": 0...10, "weight_decay": 0...10, "batch_size": 1...4096,
    ]
    static let codec = CheckpointCodec(magic: "MLP1", version: 1)

    public let dataset: DigitsDataset
    public let sizes: [Int]
    let defaults: [String: Double]

    public init(dataset: DigitsDataset, hidden: [Int], defaults: [String: Double] = [:]) {
        self.dataset = dataset
        sizes = [DigitsDataset.features] + hidden + [DigitsDataset.classes]
        self.defaults = ["momentum": 0.9, "weight_decay": 0, "batch_size": 32].merging(defaults) { $1 }
    }

    /// OpenBLAS threads for this workload under a trainer's budget: the experiment's
    /// `resources.threads` when it names a number; otherwise one (within the budget), because
    /// its matrices are small: on `digits.yml` with one trainer on 2 cores, two threads took the
    /// same wall time (2.0 s) and 60 % more CPU (3.8 s against 2.4 s) as one. Nil: `inherit`.
    public static func blasThreads(budget: ThreadBudget?, asked: ResourceSettings.Threads) -> Int? {
        guard let budget else { return nil }
        if case .count(let count) = asked { return count }
        return min(budget.threads, 1)
    }

    init(settings: ConfigNode, experiment: Experiment) throws(ConfigError) {
        _ = try settings.map(
            allowed: ["kind", "data", "hidden", "validation_fraction", "test_fraction"] + Self.hyperparameterNames)
        var hidden = [64]
        if let node = settings["hidden"] {
            hidden = []
            for item in try node.list() { hidden.append(try item.integer(in: 1...4096)) }
        }
        var defaults: [String: Double] = [:]
        for name in Self.hyperparameterNames {
            if let node = settings[name] {
                defaults[name] = try node.real(in: Self.hyperparameterRanges[name])
            }
        }
        try Workloads.checkHyperparameters(
            experiment, reads: Self.hyperparameterNames, fixed: defaults, workload: "mlp",
            ranges: Self.hyperparameterRanges)
        let path = try settings["data"]?.text() ?? "topologies/data/digits.csv"
        let validation = try settings["validation_fraction"]?.real(in: 0.05...0.5) ?? 0.2
        let test = try settings["test_fraction"]?.real(in: 0.05...0.5) ?? 0.2
        do {
            self.init(
                dataset: try DigitsDataset(
                    path: path, seed: experiment.seed, validationFraction: validation, testFraction: test),
                hidden: hidden, defaults: defaults)
        } catch {
            throw ConfigError(path: "workload.data", message: "\(error)", line: settings["data"]?.line)
        }
    }

    public func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8] {
        encode(MLPNetwork(sizes: sizes, seed: seed))
    }

    public func train(
        _ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        var network = try decode(state)
        let optimiser = MLPNetwork.Optimiser(
            learningRate: Float(try value("lr", request.hyperparameters)),
            momentum: Float(try value("momentum", request.hyperparameters)),
            weightDecay: Float(try value("weight_decay", request.hyperparameters)))
        let batch = max(1, min(Int(try value("batch_size", request.hyperparameters)), dataset.train.count))
        let features = DigitsDataset.features
        let allRows = Array(0..<dataset.train.count)
        var inputs = [Float](repeating: 0, count: batch * features)
        var labels = [Int](repeating: 0, count: batch)
        var lossSum = 0.0
        var done = 0
        while done < request.steps {
            // The batch for a step depends only on the member's seed and the step.
            var random = SplitMix64(seed: SplitMix64.derive(request.seed, UInt64(request.step + done)))
            var indices = allRows
            for slot in 0..<batch {
                indices.swapAt(slot, Int.random(in: slot..<indices.count, using: &random))
                let row = indices[slot]
                labels[slot] = dataset.train.labels[row]
                for column in 0..<features {
                    inputs[slot * features + column] = dataset.train.inputs[row * features + column]
                }
            }
            lossSum += Double(network.trainStep(inputs: inputs, labels: labels, rows: batch, optimiser: optimiser))
            done += 1
            if !progress(done) { break }
        }
        var metrics = measure(network)
        metrics["train_loss"] = done > 0 ? lossSum / Double(done) : .nan
        return TrainingOutcome(state: encode(network), stepsDone: done, metrics: metrics)
    }

    public func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double] {
        measure(try decode(state))
    }

    func measure(_ network: MLPNetwork) -> [String: Double] {
        let validation = network.evaluate(
            inputs: dataset.validation.inputs, labels: dataset.validation.labels, rows: dataset.validation.count)
        let test = network.evaluate(inputs: dataset.test.inputs, labels: dataset.test.labels, rows: dataset.test.count)
        return [
            "score": validation.accuracy, "validation_accuracy": validation.accuracy,
            "validation_loss": validation.loss,
            "test_accuracy": test.accuracy, "test_loss": test.loss,
        ]
    }

    func value(_ name: String, _ hyperparameters: Hyperparameters) throws -> Double {
        if let value = hyperparameters.number(name) { return value }
        if let value = defaults[name] { return value }
        throw WorkloadError("the mlp workload needs hyperparameter '\(name)'")
    }

    // MARK: Checkpoints

    /// Payload: layer count (u32), widths (u32 each), then for each layer weights, biases,
    /// weight velocity, bias velocity as little-endian Float32.
    func encode(_ network: MLPNetwork) -> [UInt8] {
        var writer = ByteWriter()
        writer.u32(network.sizes.count)
        network.sizes.forEach { writer.u32($0) }
        for layer in 0..<(network.sizes.count - 1) {
            writer.floats(network.weights[layer])
            writer.floats(network.biases[layer])
            writer.floats(network.weightVelocity[layer])
            writer.floats(network.biasVelocity[layer])
        }
        return Self.codec.seal(writer.bytes)
    }

    func decode(_ state: [UInt8]) throws -> MLPNetwork {
        var reader = ByteReader(bytes: try Self.codec.open(state), name: "mlp checkpoint")
        let count = try reader.u32()
        guard count == sizes.count else {
            throw WorkloadError(
                "mlp checkpoint has \(count) layers; this experiment's network \(sizes) has \(sizes.count)")
        }
        let widths = try (0..<count).map { _ in try reader.u32() }
        guard widths == sizes else {
            throw WorkloadError("mlp checkpoint is a \(widths) network; this experiment's is \(sizes)")
        }
        var weights: [[Float]] = []
        var biases: [[Float]] = []
        var weightVelocity: [[Float]] = []
        var biasVelocity: [[Float]] = []
        for layer in 0..<(count - 1) {
            weights.append(try reader.floats(sizes[layer] * sizes[layer + 1]))
            biases.append(try reader.floats(sizes[layer + 1]))
            weightVelocity.append(try reader.floats(sizes[layer] * sizes[layer + 1]))
            biasVelocity.append(try reader.floats(sizes[layer + 1]))
        }
        try reader.finish()
        return MLPNetwork(
            sizes: sizes, weights: weights, biases: biases, weightVelocity: weightVelocity, biasVelocity: biasVelocity)
    }
}
