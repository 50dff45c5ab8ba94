/// A problem with what the user gave `pbt` — a path, a run directory, an experiment —
/// found before anything started. `pbt` prints it and exits 2; a `RunError`, a failure
/// while running, exits 1.
public struct BadInputError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
