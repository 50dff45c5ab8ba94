/// A member's hyperparameters: a value for each name, iterated in name order so that
/// encodings and logs are deterministic.
public struct Hyperparameters: Sendable, Hashable, CustomStringConvertible {
    public private(set) var values: [String: HyperparameterValue]

    public init(_ values: [String: HyperparameterValue] = [:]) {
        self.values = values
    }

    public subscript(name: String) -> HyperparameterValue? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// The names in sorted order.
    public var names: [String] { values.keys.sorted() }

    /// Name and value pairs in name order.
    public var sorted: [(name: String, value: HyperparameterValue)] {
        names.map { ($0, values[$0]!) }
    }

    public var count: Int { values.count }

    /// The numeric value of `name`, or nil when absent or not a number.
    public func number(_ name: String) -> Double? { values[name]?.number }

    public var description: String {
        sorted.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
    }
}
