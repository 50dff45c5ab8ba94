#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Population-Based Bandits (Parker-Holder et al., NeurIPS 2020): explore by a Gaussian-process
/// bandit instead of random perturbation.
///
/// Data points are (hyperparameters, time, change in score per step), one for every training
/// task that was scored: what those hyperparameters did at that point of training. A Gaussian
/// process with a time-varying squared-exponential kernel — similarity decays with the time
/// between two points, `(1 − ε)^(|t − t'| / 2)` — predicts the improvement of any point of the
/// space now, and explore picks the point of highest upper confidence bound, μ + √β·σ.
/// Only the most recent `capacity` points are kept, so a fit stays cheap. Points proposed to
/// members still exploring are added as if observed at the predicted mean, which shrinks σ
/// around them, so members exploring at the same time are sent to different places.
///
/// PB2 tunes bounded continuous hyperparameters (uniform and log-uniform domains); the others
/// are explored by `fallback`.
public struct PB2Model: Sendable {
    /// One observation.
    public struct Point: Sendable, Hashable {
        public let hyperparameters: Hyperparameters
        /// When, in ready intervals.
        public let time: Double
        /// Change in score per step (in the objective's direction) while training with them.
        public let improvement: Double

        public init(hyperparameters: Hyperparameters, time: Double, improvement: Double) {
            self.hyperparameters = hyperparameters
            self.time = time
            self.improvement = improvement
        }
    }

    public let space: SearchSpace
    public let capacity: Int
    /// Weight of σ in the acquisition: UCB = μ + √β·σ.
    public let beta: Double
    /// How fast old observations stop counting: ε of the time-varying kernel.
    public let timeDecay: Double
    /// Length scale of the squared-exponential kernel, in the unit cube.
    public let lengthScale: Double
    /// Observation noise, relative to the standardised improvements.
    public let noise: Double
    /// How the hyperparameters PB2 does not model are explored.
    public let fallback: ExploreStrategy
    public private(set) var points: [Point] = []
    /// Proposals not yet observed: (hyperparameters, time).
    public private(set) var pending: [(key: Int, hyperparameters: Hyperparameters, time: Double)] = []

    public init(
        space: SearchSpace, capacity: Int = 500, beta: Double = 2, timeDecay: Double = 0.1, lengthScale: Double = 0.3,
        noise: Double = 0.1, fallback: ExploreStrategy = .perturb(factors: [0.8, 1.2], resampleProbability: 0)
    ) {
        self.space = space
        self.capacity = capacity
        self.beta = beta
        self.timeDecay = timeDecay
        self.lengthScale = lengthScale
        self.noise = noise
        self.fallback = fallback
    }

    /// The hyperparameters PB2 models: the bounded continuous ones.
    public var continuous: [Hyperparameter] {
        space.parameters.filter {
            switch $0.domain {
            case .uniform, .logUniform: true
            default: false
            }
        }
    }

    /// Records what a training task did. A pending proposal under `key` is settled by it.
    public mutating func observe(_ point: Point, key: Int? = nil) {
        guard point.improvement.isFinite, point.time.isFinite else { return }
        points.append(point)
        if points.count > capacity { points.removeFirst(points.count - capacity) }
        if let key { pending.removeAll { $0.key == key } }
    }

    /// Explores `copied` (the donor's hyperparameters) for a member at `time`, remembering the
    /// proposal under `key` until an observation settles it.
    public mutating func explore(
        _ copied: Hyperparameters, time: Double, key: Int, using random: inout some RandomNumberGenerator
    ) -> ExploreOutcome {
        var outcome = fallback.explore(copied, in: space, using: &random)
        let modelled = continuous
        guard !modelled.isEmpty, points.count >= 2 else {
            // Too little data for a model: the fallback's move, with the continuous values drawn afresh.
            var values = outcome.hyperparameters
            var changes = outcome.changes
            for parameter in modelled {
                let value = parameter.domain.sample(using: &random)
                values[parameter.name] = value
                changes[parameter.name] = ExploreChange(
                    from: copied[parameter.name] ?? value, to: value, how: .resampled)
            }
            remember(values, time: time, key: key)
            return ExploreOutcome(hyperparameters: values, changes: changes)
        }
        let best = proposal(near: encode(copied, modelled), time: time, modelled: modelled, using: &random)
        var values = outcome.hyperparameters
        var changes = outcome.changes
        for (index, parameter) in modelled.enumerated() {
            let value = decode(best[index], parameter.domain)
            values[parameter.name] = value
            changes[parameter.name] = ExploreChange(from: copied[parameter.name] ?? value, to: value, how: .proposed)
        }
        remember(values, time: time, key: key)
        outcome = ExploreOutcome(hyperparameters: values, changes: changes)
        return outcome
    }

    private mutating func remember(_ values: Hyperparameters, time: Double, key: Int) {
        pending.removeAll { $0.key == key }
        pending.append((key, values, time))
        if pending.count > 64 { pending.removeFirst(pending.count - 64) }
    }

    // MARK: The Gaussian process

    /// The point of highest UCB among random candidates and candidates near `start`.
    func proposal(
        near start: [Double], time: Double, modelled: [Hyperparameter], using random: inout some RandomNumberGenerator
    ) -> [Double] {
        let dimensions = modelled.count
        var inputs = points.map { encode($0.hyperparameters, modelled) }
        var times = points.map(\.time)
        let raw = points.map(\.improvement)
        let mean = raw.reduce(0, +) / Double(raw.count)
        let spread = max((raw.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(raw.count)).squareRoot(), 1e-12)
        var targets = raw.map { ($0 - mean) / spread }
        guard var model = fit(inputs: inputs, times: times, targets: targets) else { return start }
        // Members still exploring: pretend their proposals were observed at the predicted mean.
        if !pending.isEmpty {
            for proposal in pending {
                let x = encode(proposal.hyperparameters, modelled)
                inputs.append(x)
                times.append(proposal.time)
                targets.append(predict(model, x, time: proposal.time).mean)
            }
            model = fit(inputs: inputs, times: times, targets: targets) ?? model
        }
        var best = start
        var bestScore = -Double.infinity
        func consider(_ candidate: [Double]) {
            let (mean, variance) = predict(model, candidate, time: time)
            let score = mean + (beta * max(variance, 0)).squareRoot()
            if score > bestScore {
                bestScore = score
                best = candidate
            }
        }
        for _ in 0..<256 { consider((0..<dimensions).map { _ in Double.random(in: 0...1, using: &random) }) }
        for _ in 0..<64 {
            consider(start.map { min(max($0 + random.nextGaussian() * 0.1, 0), 1) })
        }
        // A little hill-climbing around the best.
        for radius in [0.05, 0.02, 0.01] {
            for _ in 0..<16 { consider(best.map { min(max($0 + random.nextGaussian() * radius, 0), 1) }) }
        }
        return best
    }

    struct Fitted {
        let inputs: [[Double]]
        let times: [Double]
        /// Lower-triangular Cholesky factor of K + σ²I, row-major n×n.
        let factor: [Double]
        /// (K + σ²I)⁻¹ y.
        let alpha: [Double]
    }

    func kernel(_ a: [Double], _ ta: Double, _ b: [Double], _ tb: Double) -> Double {
        var distance = 0.0
        for index in a.indices {
            let d = a[index] - b[index]
            distance += d * d
        }
        return exp(-distance / (2 * lengthScale * lengthScale)) * pow(1 - timeDecay, abs(ta - tb) / 2)
    }

    func fit(inputs: [[Double]], times: [Double], targets: [Double]) -> Fitted? {
        let n = inputs.count
        var matrix = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                let value = kernel(inputs[i], times[i], inputs[j], times[j]) + (i == j ? noise * noise + 1e-9 : 0)
                matrix[i * n + j] = value
                matrix[j * n + i] = value
            }
        }
        guard let factor = Cholesky.factor(matrix, n) else { return nil }
        let alpha = Cholesky.solve(factor, n, targets)
        return Fitted(inputs: inputs, times: times, factor: factor, alpha: alpha)
    }

    func predict(_ model: Fitted, _ x: [Double], time: Double) -> (mean: Double, variance: Double) {
        let n = model.inputs.count
        var k = [Double](repeating: 0, count: n)
        for i in 0..<n { k[i] = kernel(x, time, model.inputs[i], model.times[i]) }
        var mean = 0.0
        for i in 0..<n { mean += k[i] * model.alpha[i] }
        let v = Cholesky.forward(model.factor, n, k)
        let variance = 1 - v.reduce(0) { $0 + $1 * $1 }
        return (mean, variance)
    }

    // MARK: The unit cube

    func encode(_ values: Hyperparameters, _ modelled: [Hyperparameter]) -> [Double] {
        modelled.map { parameter in
            let x = values.number(parameter.name) ?? 0
            switch parameter.domain {
            case .uniform(let low, let high): return min(max((x - low) / (high - low), 0), 1)
            case .logUniform(let low, let high):
                return min(max((log(max(x, low)) - log(low)) / (log(high) - log(low)), 0), 1)
            default: return 0
            }
        }
    }

    func decode(_ unit: Double, _ domain: Domain) -> HyperparameterValue {
        switch domain {
        case .uniform(let low, let high): return .real(min(max(low + unit * (high - low), low), high))
        case .logUniform(let low, let high):
            return .real(min(max(exp(log(low) + unit * (log(high) - log(low))), low), high))
        default: return .real(unit)
        }
    }
}

/// Cholesky factorisation and triangular solves on row-major n×n matrices.
enum Cholesky {
    /// L with L·Lᵀ = A, or nil when A is not positive definite.
    static func factor(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        let ok = a.withUnsafeBufferPointer { a in
            l.withUnsafeMutableBufferPointer { l in
                for i in 0..<n {
                    for j in 0...i {
                        var sum = a[i * n + j]
                        let rowI = i * n
                        let rowJ = j * n
                        for k in 0..<j { sum -= l[rowI + k] * l[rowJ + k] }
                        if i == j {
                            guard sum > 0 else { return false }
                            l[rowI + i] = sum.squareRoot()
                        } else {
                            l[rowI + j] = sum / l[rowJ + j]
                        }
                    }
                }
                return true
            }
        }
        return ok ? l : nil
    }

    /// Solves L·y = b.
    static func forward(_ l: [Double], _ n: Int, _ b: [Double]) -> [Double] {
        var y = b
        for i in 0..<n {
            var sum = y[i]
            for k in 0..<i { sum -= l[i * n + k] * y[k] }
            y[i] = sum / l[i * n + i]
        }
        return y
    }

    /// Solves (L·Lᵀ)·x = b.
    static func solve(_ l: [Double], _ n: Int, _ b: [Double]) -> [Double] {
        var x = forward(l, n, b)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[i]
            for k in (i + 1)..<n where k < n { sum -= l[k * n + i] * x[k] }
            x[i] = sum / l[i * n + i]
        }
        return x
    }
}
