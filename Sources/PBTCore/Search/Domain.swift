/// Where a hyperparameter's values live.
///
/// - `uniform` and `logUniform`: real numbers in `[low, high]` (log-uniform: `0 < low`);
/// - `integer`: whole numbers in `[low, high]`;
/// - `choice`: an ordered list of options; explore moves to a neighbour.
public enum Domain: Sendable, Hashable {
    case uniform(low: Double, high: Double)
    case logUniform(low: Double, high: Double)
    case integer(low: Int, high: Int)
    case choice([HyperparameterValue])

    /// The name used in experiment files.
    public var kind: String {
        switch self {
        case .uniform: "uniform"
        case .logUniform: "log_uniform"
        case .integer: "int"
        case .choice: "choice"
        }
    }

    /// The bounds of a numeric domain (uniform, log-uniform, integer), nil for a choice.
    public var numericBounds: (low: Double, high: Double)? {
        switch self {
        case .uniform(let low, let high), .logUniform(let low, let high): (low, high)
        case .integer(let low, let high): (Double(low), Double(high))
        case .choice: nil
        }
    }

    /// Whether `value` is a member of this domain.
    public func contains(_ value: HyperparameterValue) -> Bool {
        switch self {
        case .uniform(let low, let high), .logUniform(let low, let high):
            guard case .real(let x) = value else {
                if case .integer(let i) = value { return Double(i) >= low && Double(i) <= high }
                return false
            }
            return x.isFinite && x >= low && x <= high
        case .integer(let low, let high):
            guard case .integer(let i) = value else { return false }
            return i >= low && i <= high
        case .choice(let options):
            return options.contains(value)
        }
    }

    /// Brings a value of the right kind into this domain: reals become `.real`, integers
    /// `.integer` (a whole real such as `3.0` is accepted). Nil when it cannot belong.
    public func normalize(_ value: HyperparameterValue) -> HyperparameterValue? {
        switch self {
        case .uniform, .logUniform:
            guard let x = value.number else { return nil }
            return contains(.real(x)) ? .real(x) : nil
        case .integer:
            let whole: Int
            switch value {
            case .integer(let i): whole = i
            case .real(let x) where x == x.rounded() && abs(x) < 9e15: whole = Int(x)
            default: return nil
            }
            return contains(.integer(whole)) ? .integer(whole) : nil
        case .choice(let options):
            if options.contains(value) { return value }
            // 32 in a file may mean the option 32 written as a real, or the reverse.
            if let x = value.number {
                return options.first { $0.number == x }
            }
            return nil
        }
    }

    /// Draws a value from the domain's prior.
    public func sample(using random: inout some RandomNumberGenerator) -> HyperparameterValue {
        switch self {
        case .uniform(let low, let high):
            return .real(low == high ? low : Double.random(in: low...high, using: &random))
        case .logUniform(let low, let high):
            if low == high { return .real(low) }
            let x = Double.random(in: log(low)...log(high), using: &random)
            return .real(min(max(exp(x), low), high))
        case .integer(let low, let high):
            return .integer(Int.random(in: low...high, using: &random))
        case .choice(let options):
            return options[Int.random(in: 0..<options.count, using: &random)]
        }
    }

    /// Puts a real number back inside `[low, high]`: reflected once off the bound it
    /// crossed, then clamped if it is still outside.
    static func fold(_ x: Double, low: Double, high: Double) -> Double {
        guard x.isFinite else { return x.sign == .minus ? low : high }
        var y = x
        if y < low { y = low + (low - y) }
        if y > high { y = high - (y - high) }
        return min(max(y, low), high)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
