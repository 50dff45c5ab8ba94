#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ
/// A problem with what the user gave `pbt` — a path, a run directory, an experiment —
/// found before anything started. `pbt` prints it and exits 2; a `RunError`, a failure
/// while running, exits 1.
public struct BadInputError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension ZMQSocket {
    /// Binds `endpoint`, given as `option`; an endpoint that cannot be bound (in use, an
    /// address not of this machine, a directory that is not there) is bad input, found before
    /// the stage starts: exit 2, with the option and libzmq's reason.
    func bind(_ endpoint: String, option: String) throws {
        do {
            try bind(endpoint)
        } catch let error as ZMQError {
            let hint = error.code == EADDRINUSE ? " (another process listens there)" : ""
            throw BadInputError("cannot bind \(option) \(endpoint): \(error.message)\(hint)")
        }
    }
}
