import CBLAS
import PBTCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A multilayer perceptron: ReLU hidden layers, a softmax output, cross-entropy loss, and
/// minibatch SGD with momentum and weight decay (the PyTorch form: v ← μv + g + λw; w ← w − ηv).
///
/// Parameters are Float32 in contiguous row-major arrays; every matrix product goes to
/// OpenBLAS's sgemm, single-threaded (trainers are the unit of parallelism).
public struct MLPNetwork: Sendable, Equatable {
    /// Layer widths, input first, output last, e.g. [64, 64, 10].
    public let sizes: [Int]
    /// Layer l's weights: sizes[l] × sizes[l+1], row-major.
    public internal(set) var weights: [[Float]]
    public internal(set) var biases: [[Float]]
    public internal(set) var weightVelocity: [[Float]]
    public internal(set) var biasVelocity: [[Float]]

    /// He-initialised weights from `seed`, zero biases and velocities.
    public init(sizes: [Int], seed: UInt64) {
        precondition(sizes.count >= 2 && sizes.allSatisfy { $0 > 0 }, "a network needs an input and an output layer")
        Self.useOneThread()
        self.sizes = sizes
        var random = SplitMix64(seed: seed)
        weights = (0..<(sizes.count - 1)).map { layer in
            let scale = Float((2.0 / Double(sizes[layer])).squareRoot())
            return (0..<(sizes[layer] * sizes[layer + 1])).map { _ in Float(random.nextGaussian()) * scale }
        }
        biases = (1..<sizes.count).map { [Float](repeating: 0, count: sizes[$0]) }
        weightVelocity = weights.map { [Float](repeating: 0, count: $0.count) }
        biasVelocity = biases.map { [Float](repeating: 0, count: $0.count) }
    }

    init(sizes: [Int], weights: [[Float]], biases: [[Float]], weightVelocity: [[Float]], biasVelocity: [[Float]]) {
        Self.useOneThread()
        self.sizes = sizes
        self.weights = weights
        self.biases = biases
        self.weightVelocity = weightVelocity
        self.biasVelocity = biasVelocity
    }

    /// One BLAS thread unless a trainer's thread budget said otherwise (`BLASThreads.use`).
    static func useOneThread() { BLASThreads.useDefault() }

    /// Hyperparameters of one SGD step.
    public struct Optimiser: Sendable {
        public var learningRate: Float
        public var momentum: Float
        public var weightDecay: Float

        public init(learningRate: Float, momentum: Float, weightDecay: Float) {
            self.learningRate = learningRate
            self.momentum = momentum
            self.weightDecay = weightDecay
        }
    }

    /// One SGD step on `rows` examples (`inputs` is rows × sizes[0]); returns the mean loss.
    @discardableResult
    public mutating func trainStep(inputs: [Float], labels: [Int], rows: Int, optimiser: Optimiser) -> Float {
        let layers = sizes.count - 1
        let activations = forward(inputs: inputs, rows: rows)
        let (delta, loss) = Self.softmaxCrossEntropyGradient(
            logits: activations[layers], labels: labels, rows: rows, classes: sizes[layers])
        let gradients = backward(activations: activations, outputGradient: delta, rows: rows)
        for layer in stride(from: layers - 1, through: 0, by: -1) {
            Self.momentumUpdate(
                &weights[layer], &weightVelocity[layer], gradients.weights[layer], optimiser, decay: true)
            Self.momentumUpdate(&biases[layer], &biasVelocity[layer], gradients.biases[layer], optimiser, decay: false)
        }
        return loss
    }

    /// The gradients of every layer's weights and biases for `rows` examples, given the
    /// activations `forward` returned for them and ∂L/∂(output) (rows × the output width).
    func backward(activations: [[Float]], outputGradient: [Float], rows: Int) -> (weights: [[Float]], biases: [[Float]])
    {
        let layers = sizes.count - 1
        var weightGradients = [[Float]](repeating: [], count: layers)
        var biasGradients = [[Float]](repeating: [], count: layers)
        var delta = outputGradient
        for layer in stride(from: layers - 1, through: 0, by: -1) {
            let fanIn = sizes[layer]
            let fanOut = sizes[layer + 1]
            var gradient = [Float](repeating: 0, count: fanIn * fanOut)
            Self.gemm(
                transposeA: true, transposeB: false, m: fanIn, n: fanOut, k: rows, a: activations[layer], lda: fanIn,
                b: delta, ldb: fanOut, c: &gradient, ldc: fanOut)
            var biasGradient = [Float](repeating: 0, count: fanOut)
            delta.withUnsafeBufferPointer { d in
                biasGradient.withUnsafeMutableBufferPointer { g in
                    for row in 0..<rows {
                        let base = row * fanOut
                        for column in 0..<fanOut { g[column] += d[base + column] }
                    }
                }
            }
            weightGradients[layer] = gradient
            biasGradients[layer] = biasGradient
            if layer > 0 {
                var previous = [Float](repeating: 0, count: rows * fanIn)
                Self.gemm(
                    transposeA: false, transposeB: true, m: rows, n: fanIn, k: fanOut, a: delta, lda: fanOut,
                    b: weights[layer], ldb: fanOut, c: &previous, ldc: fanIn)
                activations[layer].withUnsafeBufferPointer { a in
                    previous.withUnsafeMutableBufferPointer { p in
                        for index in 0..<p.count { p[index] = a[index] > 0 ? p[index] : 0 }
                    }
                }
                delta = previous
            }
        }
        return (weightGradients, biasGradients)
    }

    /// Accuracy and mean loss on `rows` examples.
    public func evaluate(inputs: [Float], labels: [Int], rows: Int) -> (accuracy: Double, loss: Double) {
        let layers = sizes.count - 1
        let logits = forward(inputs: inputs, rows: rows)[layers]
        let classes = sizes[layers]
        var correct = 0
        var loss = 0.0
        for row in 0..<rows {
            let scores = logits[(row * classes)..<((row + 1) * classes)]
            let best = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
            if best == labels[row] { correct += 1 }
            let top = scores.max()!
            let total = scores.reduce(0.0) { $0 + exp(Double($1 - top)) }
            loss += -(Double(scores[row * classes + labels[row]] - top) - log(total))
        }
        return (Double(correct) / Double(rows), loss / Double(rows))
    }

    /// Activations of every layer: the inputs, ReLU(hidden)…, the output logits.
    func forward(inputs: [Float], rows: Int) -> [[Float]] {
        var activations = [inputs]
        for layer in 0..<(sizes.count - 1) {
            let fanIn = sizes[layer]
            let fanOut = sizes[layer + 1]
            var output = [Float](repeating: 0, count: rows * fanOut)
            biases[layer].withUnsafeBufferPointer { bias in
                output.withUnsafeMutableBufferPointer { o in
                    for row in 0..<rows {
                        let base = row * fanOut
                        for column in 0..<fanOut { o[base + column] = bias[column] }
                    }
                }
            }
            Self.gemm(
                transposeA: false, transposeB: false, m: rows, n: fanOut, k: fanIn, a: activations[layer], lda: fanIn,
                b: weights[layer], ldb: fanOut, beta: 1, c: &output, ldc: fanOut)
            if layer < sizes.count - 2 {
                output.withUnsafeMutableBufferPointer { o in
                    for index in 0..<o.count { o[index] = max(o[index], 0) }
                }
            }
            activations.append(output)
        }
        return activations
    }

    static func softmaxCrossEntropyGradient(logits: [Float], labels: [Int], rows: Int, classes: Int) -> ([Float], Float)
    {
        var gradient = [Float](repeating: 0, count: rows * classes)
        var loss: Float = 0
        for row in 0..<rows {
            let start = row * classes
            var top = -Float.infinity
            for column in 0..<classes { top = max(top, logits[start + column]) }
            var total: Float = 0
            for column in 0..<classes {
                let e = expf(logits[start + column] - top)
                gradient[start + column] = e
                total += e
            }
            for column in 0..<classes { gradient[start + column] /= total }
            loss -= logf(max(gradient[start + labels[row]], 1e-12))
            gradient[start + labels[row]] -= 1
        }
        let scale = 1 / Float(rows)
        for index in gradient.indices { gradient[index] *= scale }
        return (gradient, loss * scale)
    }

    static func momentumUpdate(
        _ parameters: inout [Float], _ velocity: inout [Float], _ gradient: [Float], _ optimiser: Optimiser, decay: Bool
    ) {
        let decayRate = decay ? optimiser.weightDecay : 0
        let momentum = optimiser.momentum
        let rate = optimiser.learningRate
        gradient.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { w in
                velocity.withUnsafeMutableBufferPointer { v in
                    for index in 0..<w.count {
                        let step = momentum * v[index] + g[index] + decayRate * w[index]
                        v[index] = step
                        w[index] -= rate * step
                    }
                }
            }
        }
    }

    /// C = alpha · op(A) · op(B) + beta · C, row-major, through OpenBLAS.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int,
        alpha: Float = 1, beta: Float = 0, c: inout [Float], ldc: Int
    ) {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    cblas_sgemm(
                        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a.baseAddress, Int32(lda), b.baseAddress, Int32(ldb), beta,
                        c.baseAddress, Int32(ldc))
                }
            }
        }
    }
}
