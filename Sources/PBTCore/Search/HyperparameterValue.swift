/// One hyperparameter's value: a real number, an integer, or a text label (for choices).
public enum HyperparameterValue: Sendable, Hashable, CustomStringConvertible {
    case real(Double)
    case integer(Int)
    case text(String)

    /// The value as a number, if it is one.
    public var number: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        case .text: nil
        }
    }

    public var description: String {
        switch self {
        case .real(let value): Self.format(value)
        case .integer(let value): String(value)
        case .text(let value): value
        }
    }

    /// A short, exact-enough rendering of a real number for logs and tables.
    public static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(format: "%.1f", value) }
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e6 {
            var text = String(format: "%.6f", value)
            while text.hasSuffix("0") { text.removeLast() }
            return text
        }
        return String(format: "%.4e", value)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    init(format: String, _ value: Double) {
        // A small formatter that needs no Foundation: snprintf into a stack buffer.
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, format, $0) }
        self = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
