/// How a member that exploited changes the hyperparameters it copied.
///
/// For each hyperparameter, with probability `resampleProbability` a fresh value is drawn
/// from its domain; otherwise it is moved:
///
/// - `perturb`: reals and integers are multiplied by one of `factors` (paper: 0.8 or 1.2);
/// - `noise`: reals and integers get Gaussian noise whose standard deviation is `std` times
///   the domain's width (on the log scale for log-uniform domains);
///
/// and choices move to a neighbouring option. Values stay inside their domains (reflected
/// off a bound, then clamped), and an integer always moves by at least one.
public enum ExploreStrategy: Sendable, Hashable {
    case none
    case perturb(factors: [Double], resampleProbability: Double)
    case noise(std: Double, resampleProbability: Double)
    /// PB2: a Gaussian-process bandit proposes the continuous hyperparameters (see `PB2Model`,
    /// which the mutator feeds from the event stream); on its own, this value perturbs.
    case pb2(points: Int, beta: Double, timeDecay: Double)

    /// The paper's factors: multiply by 0.8 or 1.2.
    public static let defaultFactors = [0.8, 1.2]
    /// Per hyperparameter, draw afresh with probability 0.25 (perturb and noise).
    public static let defaultResampleProbability = 0.25
    /// The paper's defaults: ×0.8 or ×1.2, resample with probability 0.25.
    public static let defaultPerturb = ExploreStrategy.perturb(
        factors: defaultFactors, resampleProbability: defaultResampleProbability)

    /// The name used in experiment files and events.
    public var name: String {
        switch self {
        case .none: "none"
        case .perturb: "perturb"
        case .noise: "noise"
        case .pb2: "pb2"
        }
    }

    var resampleProbability: Double {
        switch self {
        case .none, .pb2: 0
        case .perturb(_, let p), .noise(_, let p): p
        }
    }

    /// Explores `hyperparameters` inside `space`. Names not in the space are kept as they are.
    public func explore(
        _ hyperparameters: Hyperparameters,
        in space: SearchSpace,
        using random: inout some RandomNumberGenerator
    ) -> ExploreOutcome {
        if case .pb2 = self {
            return ExploreStrategy.perturb(factors: [0.8, 1.2], resampleProbability: 0).explore(
                hyperparameters, in: space, using: &random)
        }
        var result = hyperparameters
        var changes: [String: ExploreChange] = [:]
        guard self != .none else { return ExploreOutcome(hyperparameters: result, changes: changes) }
        for parameter in space.parameters {
            let old = hyperparameters[parameter.name] ?? parameter.domain.sample(using: &random)
            let change: ExploreChange
            if resampleProbability > 0 && Double.random(in: 0..<1, using: &random) < resampleProbability {
                change = ExploreChange(from: old, to: parameter.domain.sample(using: &random), how: .resampled)
            } else {
                change = move(old, in: parameter.domain, using: &random)
            }
            result[parameter.name] = change.to
            changes[parameter.name] = change
        }
        return ExploreOutcome(hyperparameters: result, changes: changes)
    }

    private func move(
        _ value: HyperparameterValue,
        in domain: Domain,
        using random: inout some RandomNumberGenerator
    ) -> ExploreChange {
        switch domain {
        case .uniform(let low, let high), .logUniform(let low, let high):
            let x = value.number ?? low
            if case .perturb(let factors, _) = self {
                let factor = factors[Int.random(in: 0..<factors.count, using: &random)]
                let y = Domain.fold(x * factor, low: low, high: high)
                return ExploreChange(from: value, to: .real(y), how: .scaled(factor))
            }
            if case .uniform = domain {
                let delta = random.nextGaussian() * std * (high - low)
                let y = Domain.fold(x + delta, low: low, high: high)
                return ExploreChange(from: value, to: .real(y), how: .noised(y - x))
            }
            // Log-uniform noise moves on the log scale.
            let delta = random.nextGaussian() * std * (log(high) - log(low))
            let y = min(max(exp(Domain.fold(log(max(x, low)) + delta, low: log(low), high: log(high))), low), high)
            return ExploreChange(from: value, to: .real(y), how: .noised(y - x))
        case .integer(let low, let high):
            // Arithmetic in Double, brought within one width of the domain before it becomes an
            // Int again: a huge factor or domain cannot overflow (Int(x) traps past Int's range).
            let width = Double(high) - Double(low)
            func whole(_ x: Double) -> Int {
                guard !x.isNaN else { return low }
                return Int(min(max(x, Double(low) - width), Double(high) + width).rounded())
            }
            let i: Int
            if case .integer(let v) = value {
                i = min(max(v, low), high)
            } else {
                i = whole(value.number ?? Double(low))
            }
            var target: Int
            var direction: Int
            var how: ExploreChange.How
            switch self {
            case .perturb(let factors, _):
                let factor = factors[Int.random(in: 0..<factors.count, using: &random)]
                target = whole(Double(i) * factor)
                direction = factor >= 1 ? 1 : -1
                how = .scaled(factor)
            default:
                let delta = random.nextGaussian() * std * width
                target = whole(Double(i) + delta)
                direction = delta >= 0 ? 1 : -1
                how = .noised(0)
            }
            if target == i { target = i + direction }
            if target > high { target = max(low, high - (target - high)) }
            if target < low { target = min(high, low + (low - target)) }
            target = min(max(target, low), high)
            if target == i {
                // Reflected back onto the start (a narrow domain, or a bound): step one inward.
                target = i == high ? i - 1 : i + 1
            }
            if case .noised = how { how = .noised(Double(target - i)) }
            return ExploreChange(from: value, to: .integer(target), how: how)
        case .choice(let options):
            let index = options.firstIndex(of: value) ?? 0
            guard options.count > 1 else { return ExploreChange(from: value, to: options[0], how: .shifted(0)) }
            var step = Bool.random(using: &random) ? 1 : -1
            if index + step < 0 || index + step >= options.count { step = -step }
            return ExploreChange(from: value, to: options[index + step], how: .shifted(step))
        }
    }

    private var std: Double {
        if case .noise(let std, _) = self { return std }
        return 0
    }
}

/// The result of exploring: the new hyperparameters, and what happened to each one.
public struct ExploreOutcome: Sendable, Hashable {
    public let hyperparameters: Hyperparameters
    public let changes: [String: ExploreChange]
}

/// What explore did to one hyperparameter, for the event stream and the report.
public struct ExploreChange: Sendable, Hashable, CustomStringConvertible {
    public enum How: Sendable, Hashable {
        /// Multiplied by this factor.
        case scaled(Double)
        /// Moved by this amount of Gaussian noise (after folding into the domain).
        case noised(Double)
        /// Moved this many options along an ordered choice (negative: left).
        case shifted(Int)
        /// Drawn again from the domain.
        case resampled
        /// Proposed by PB2's bandit.
        case proposed
    }

    public let from: HyperparameterValue
    public let to: HyperparameterValue
    public let how: How

    public init(from: HyperparameterValue, to: HyperparameterValue, how: How) {
        self.from = from
        self.to = to
        self.how = how
    }

    /// A short phrase: `×1.2`, `+0.0431`, `shift right`, `resampled`.
    public var operation: String {
        switch how {
        case .scaled(let factor): "×" + HyperparameterValue.format(factor)
        case .noised(let delta): (delta.sign == .minus ? "" : "+") + HyperparameterValue.format(delta)
        case .shifted(let by): by > 0 ? "shift right" : by < 0 ? "shift left" : "kept"
        case .resampled: "resampled"
        case .proposed: "PB2"
        }
    }

    public var description: String { "\(from) --(\(operation))--> \(to)" }
}

extension ExploreChange.How {
    /// Reads the phrase `ExploreChange.operation` writes, at the precision it was written;
    /// nil for any other text. A shift reads back as one option left or right.
    public init?(operation: String) {
        switch operation {
        case "resampled": self = .resampled
        case "PB2": self = .proposed
        case "shift right": self = .shifted(1)
        case "shift left": self = .shifted(-1)
        case "kept": self = .shifted(0)
        default:
            if operation.hasPrefix("×"), let factor = Double(operation.dropFirst()) {
                self = .scaled(factor)
            } else if let first = operation.first, first == "+" || first == "-",
                // "+-0.0": how a negative zero was written before its sign was looked at.
                let delta = Double(operation) ?? Double(operation.dropFirst())
            {
                self = .noised(delta)
            } else {
                return nil
            }
        }
    }
}

extension ExploreStrategy {
    /// The numeric hyperparameters of `space` that perturbation cannot step: every value of the
    /// domain, multiplied by any of the factors, lands outside it, so each perturbation is
    /// reflected onto or near a bound — a jump between the ends, not a step. A discount in
    /// [0.9, 0.999] under ×0.8 / ×1.2 is one: 0.9 × 1.2 is past 0.999 and 0.999 × 0.8 below 0.9.
    /// Empty for strategies that do not multiply (noise steps by the domain's width; PB2 models
    /// the continuous hyperparameters itself).
    public func parametersPerturbationCannotStep(in space: SearchSpace) -> [Hyperparameter] {
        guard case .perturb(let factors, let resample) = self, resample < 1 else { return [] }
        return space.parameters.filter { parameter in
            guard let (low, high) = parameter.domain.numericBounds, low < high else { return false }
            return factors.allSatisfy { factor in
                let (a, b) = (low * factor, high * factor)
                return max(a, b) < low || min(a, b) > high
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
