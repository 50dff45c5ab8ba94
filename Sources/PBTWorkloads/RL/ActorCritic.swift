import CBLAS
import Foundation

/// An actor-critic agent: a policy network (observation → action logits) and a value network
/// (observation → expected return), each an `MLPNetwork` with ReLU hidden layers on the BLAS
/// path, trained together by Adam on the A2C loss with the global gradient norm clipped.
struct ActorCritic: Sendable, Equatable {
    var policy: MLPNetwork
    var value: MLPNetwork
    var adam: Adam

    /// What one update uses besides the rollout.
    struct Settings: Sendable, Equatable {
        var learningRate: Float
        /// β: the weight of the policy's entropy (a bonus for keeping actions uncertain).
        var entropyCost: Float
        /// The weight of the value loss (½ · mean squared error).
        var valueCost: Float = 0.5
        /// The largest global norm the gradients keep (larger ones are scaled down).
        var maximumGradientNorm: Float = 0.5
    }

    /// What one update measured.
    struct UpdateReport: Sendable, Equatable {
        var entropy: Double
        var valueLoss: Double
    }

    /// Networks `observation → hidden… → actions` and `observation → hidden… → 1`, He-initialised
    /// from `seed`; the policy's output layer scaled by 0.01, so the first policy is near uniform.
    init(observation: Int, actions: Int, hidden: [Int], seed: UInt64) {
        policy = MLPNetwork(sizes: [observation] + hidden + [actions], seed: seed)
        value = MLPNetwork(sizes: [observation] + hidden + [1], seed: seed ^ 0x5A5A_5A5A_5A5A_5A5A)
        let last = policy.weights.count - 1
        policy.weights[last] = policy.weights[last].map { $0 * 0.01 }
        adam = Adam(shapes: Self.shapes(policy) + Self.shapes(value))
    }

    init(policy: MLPNetwork, value: MLPNetwork, adam: Adam) {
        self.policy = policy
        self.value = value
        self.adam = adam
    }

    static func shapes(_ network: MLPNetwork) -> [Int] {
        (0..<network.weights.count).flatMap { [network.weights[$0].count, network.biases[$0].count] }
    }

    /// The action probabilities of `rows` observations (rows × actions).
    func probabilities(_ observations: [Float], rows: Int) -> [Float] {
        let logits = policy.forward(inputs: observations, rows: rows).last!
        return Self.softmax(logits, rows: rows, columns: policy.sizes.last!)
    }

    /// The most likely action of each of `rows` observations.
    func greedyActions(_ observations: [Float], rows: Int) -> [Int] {
        let logits = policy.forward(inputs: observations, rows: rows).last!
        let actions = policy.sizes.last!
        return (0..<rows).map { row in
            var best = 0
            for column in 1..<actions where logits[row * actions + column] > logits[row * actions + best] {
                best = column
            }
            return best
        }
    }

    /// V(s) of `rows` observations, with the activations (for `update`).
    func values(_ observations: [Float], rows: Int) -> (values: [Float], activations: [[Float]]) {
        let activations = value.forward(inputs: observations, rows: rows)
        return (activations.last!, activations)
    }

    /// One A2C update on a rollout of `rows` samples: the policy gradient with the given
    /// advantages, minus β times the entropy, plus the value cost times ½ (V − return)².
    mutating func update(
        observations: [Float], actions: [Int], advantages: [Float], returns: [Float], valueActivations: [[Float]],
        rows: Int, settings: Settings
    ) -> UpdateReport {
        let count = policy.sizes.last!
        let policyActivations = policy.forward(inputs: observations, rows: rows)
        let probabilities = Self.softmax(policyActivations.last!, rows: rows, columns: count)
        let scale = 1 / Float(rows)
        var policyGradient = [Float](repeating: 0, count: rows * count)
        var entropySum = 0.0
        for row in 0..<rows {
            let base = row * count
            var entropy: Float = 0
            for column in 0..<count {
                let p = probabilities[base + column]
                if p > 0 { entropy -= p * logf(p) }
            }
            entropySum += Double(entropy)
            for column in 0..<count {
                let p = probabilities[base + column]
                // ∂(−log π(a)·A)/∂z = (π − onehot(a))·A;  ∂(−β·H)/∂z = β·π·(log π + H)
                let policyTerm = (p - (column == actions[row] ? 1 : 0)) * advantages[row]
                let entropyTerm = p > 0 ? settings.entropyCost * p * (logf(p) + entropy) : 0
                policyGradient[base + column] = (policyTerm + entropyTerm) * scale
            }
        }
        let predicted = valueActivations.last!
        var valueGradient = [Float](repeating: 0, count: rows)
        var valueLoss = 0.0
        for row in 0..<rows {
            let error = predicted[row] - returns[row]
            valueLoss += 0.5 * Double(error * error)
            valueGradient[row] = settings.valueCost * error * scale
        }
        let policyGradients = policy.backward(
            activations: policyActivations, outputGradient: policyGradient, rows: rows)
        let valueGradients = value.backward(activations: valueActivations, outputGradient: valueGradient, rows: rows)
        var gradients: [[Float]] = []
        for layer in 0..<policyGradients.weights.count {
            gradients += [policyGradients.weights[layer], policyGradients.biases[layer]]
        }
        for layer in 0..<valueGradients.weights.count {
            gradients += [valueGradients.weights[layer], valueGradients.biases[layer]]
        }
        Self.clip(&gradients, to: settings.maximumGradientNorm)
        let corrections = adam.nextStep()
        let slot = adam.apply(to: &policy, from: 0, gradients, rate: settings.learningRate, corrections: corrections)
        _ = adam.apply(to: &value, from: slot, gradients, rate: settings.learningRate, corrections: corrections)
        return UpdateReport(entropy: entropySum / Double(rows), valueLoss: valueLoss / Double(rows))
    }

    /// Scales every gradient down when their joint norm is above `limit`.
    static func clip(_ gradients: inout [[Float]], to limit: Float) {
        var squares: Float = 0
        for gradient in gradients { squares += cblas_sdot(Int32(gradient.count), gradient, 1, gradient, 1) }
        let norm = squares.squareRoot()
        guard norm > limit, norm.isFinite else { return }
        let factor = limit / norm
        for index in gradients.indices { gradients[index] = gradients[index].map { $0 * factor } }
    }

    static func softmax(_ logits: [Float], rows: Int, columns: Int) -> [Float] {
        var output = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            let base = row * columns
            var top = -Float.infinity
            for column in 0..<columns { top = max(top, logits[base + column]) }
            var total: Float = 0
            for column in 0..<columns {
                let e = expf(logits[base + column] - top)
                output[base + column] = e
                total += e
            }
            for column in 0..<columns { output[base + column] /= total }
        }
        return output
    }
}

/// Adam (Kingma and Ba) over a list of parameter arrays: first and second moment estimates
/// of each, bias-corrected by the number of steps taken.
struct Adam: Sendable, Equatable {
    var first: [[Float]]
    var second: [[Float]]
    var steps: Int

    static let beta1: Float = 0.9
    static let beta2: Float = 0.999
    static let epsilon: Float = 1e-5

    init(shapes: [Int]) {
        first = shapes.map { [Float](repeating: 0, count: $0) }
        second = shapes.map { [Float](repeating: 0, count: $0) }
        steps = 0
    }

    init(first: [[Float]], second: [[Float]], steps: Int) {
        self.first = first
        self.second = second
        self.steps = steps
    }

    /// Counts a step; returns the bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
    mutating func nextStep() -> (first: Float, second: Float) {
        steps += 1
        return (1 - powf(Self.beta1, Float(steps)), 1 - powf(Self.beta2, Float(steps)))
    }

    /// Updates `network`'s weights and biases, layer by layer, whose moments (and gradients)
    /// start at `slot`; returns the slot after them.
    mutating func apply(
        to network: inout MLPNetwork, from slot: Int, _ gradients: [[Float]], rate: Float,
        corrections: (first: Float, second: Float)
    ) -> Int {
        var slot = slot
        for layer in network.weights.indices {
            update(&network.weights[layer], slot: slot, gradients[slot], rate: rate, corrections: corrections)
            update(&network.biases[layer], slot: slot + 1, gradients[slot + 1], rate: rate, corrections: corrections)
            slot += 2
        }
        return slot
    }

    private mutating func update(
        _ parameters: inout [Float], slot: Int, _ gradient: [Float], rate: Float,
        corrections: (first: Float, second: Float)
    ) {
        gradient.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { w in
                first[slot].withUnsafeMutableBufferPointer { m in
                    second[slot].withUnsafeMutableBufferPointer { v in
                        for i in 0..<w.count {
                            m[i] = Self.beta1 * m[i] + (1 - Self.beta1) * g[i]
                            v[i] = Self.beta2 * v[i] + (1 - Self.beta2) * g[i] * g[i]
                            let mHat = m[i] / corrections.first
                            let vHat = v[i] / corrections.second
                            w[i] -= rate * mHat / (vHat.squareRoot() + Self.epsilon)
                        }
                    }
                }
            }
        }
    }
}
