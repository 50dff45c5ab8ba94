import PBTCore
import PBTWire

extension JSONValue {
    /// A short rendering for tables: numbers compactly, text as is.
    public var shown: String {
        switch self {
        case .null: "-"
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .number(let value): NumberFormat.compact(value)
        case .string(let value): value
        case .array(let values): "[" + values.map(\.shown).joined(separator: ", ") + "]"
        case .object(let fields):
            "{" + fields.keys.sorted().map { "\($0): \(fields[$0]!.shown)" }.joined(separator: ", ") + "}"
        }
    }

    /// A hyperparameter's value as the monitor and the report keep it.
    public init(_ value: HyperparameterValue) {
        switch value {
        case .real(let number): self = .number(number)
        case .integer(let number): self = .integer(number)
        case .text(let text): self = .string(text)
        }
    }
}

extension Hyperparameters {
    /// The values as the monitor and the report keep them, by name.
    public var jsonValues: [String: JSONValue] { values.mapValues(JSONValue.init) }
}
