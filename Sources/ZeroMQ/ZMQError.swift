import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: which operation failed and libzmq's own message for it.
public struct ZMQError: Error, Equatable, CustomStringConvertible {
    /// The `errno` value libzmq reported.
    public let code: Int32
    /// What was being done, for example `bind tcp://127.0.0.1:5555`.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The error libzmq reports for the calling thread, captured right after a failed call.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation())
    }

    /// libzmq's text for the error code (`zmq_strerror`).
    public var message: String { String(cString: zmq_strerror(code)) }

    /// The call was interrupted by a signal; the caller should check why and usually retry.
    public var isInterrupted: Bool { code == EINTR }

    /// A non-blocking call had nothing to do (`EAGAIN`).
    public var wouldBlock: Bool { code == EAGAIN }

    /// The context was terminated while the call was in progress.
    public var isTerminated: Bool { code == ETERM }

    public var description: String { "\(operation): \(message)" }
}
