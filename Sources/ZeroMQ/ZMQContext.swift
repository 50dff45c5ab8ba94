import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq context: the I/O threads behind every socket of a process.
///
/// One context a process is the rule. It is safe to share between threads; sockets are not.
/// The context is terminated when the last reference goes away, which waits for the
/// sockets made from it to close (each socket keeps its context alive).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Makes a context with libzmq's defaults (one I/O thread).
    public init() throws {
        guard let handle = zmq_ctx_new() else {
            throw ZMQError.last("zmq_ctx_new")
        }
        self.handle = handle
    }

    /// Lets the context hold up to `count` sockets (libzmq's default is 1,023): one context
    /// that many stages share needs more. Call before making sockets.
    public func setMaximumSockets(_ count: Int32) throws {
        guard zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, count) == 0 else {
            throw ZMQError.last("zmq_ctx_set ZMQ_MAX_SOCKETS")
        }
    }

    /// Wakes every blocking call on sockets of this context with `ETERM`; sockets must then be closed.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// The libzmq version this process runs with, as `major.minor.patch`.
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether libzmq was built with a capability such as `curve` or `ipc` (`zmq_has`).
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) != 0
    }

    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
