/// A problem with an experiment file: which field, what is wrong, and where.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field, such as `exploit.fraction` or `hyperparameters.lr`.
    public let path: String
    /// What is wrong, naming the bad value.
    public let message: String
    /// The line in the file, when known.
    public let line: Int?

    public init(path: String, message: String, line: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
    }

    public var description: String {
        let place = line.map { " (line \($0))" } ?? ""
        return path.isEmpty ? "\(message)\(place)" : "\(path): \(message)\(place)"
    }
}
