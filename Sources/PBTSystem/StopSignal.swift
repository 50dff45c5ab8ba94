import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let requestedSignal = Atomic<Int32>(0)

/// SIGTERM, SIGINT, SIGHUP and SIGQUIT as a flag that stage loops check between polls.
///
/// Loops wait in `zmq_poll` with a short timeout (a signal also interrupts the wait), so a
/// stage notices a stop request within one poll interval and shuts down in order. SIGHUP (the
/// terminal closed) and SIGQUIT (Ctrl-\\) stop it in order too: by default the first killed
/// the process with no hand-back, and the second froze it for 30 s in the Swift runtime's
/// crash report, asking for a key.
public enum StopSignal {
    /// The signals that stop a process in order.
    public static let stopping: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    /// Installs the handlers. Call once, early in `main`.
    public static func install() {
        for signal in stopping {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { number in requestedSignal.store(number, ordering: .relaxed) }
            #else
            action.__sigaction_u.__sa_handler = { number in requestedSignal.store(number, ordering: .relaxed) }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
        // A peer that goes away must not kill a stage through a write to a closed pipe.
        signal(SIGPIPE, SIG_IGN)
    }

    /// The signal that asked us to stop, or nil.
    public static var received: Int32? {
        let value = requestedSignal.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    public static var isRequested: Bool { received != nil }

    /// Asks the loops of this process to stop, as a signal would.
    public static func request(_ signal: Int32 = SIGTERM) {
        requestedSignal.store(signal, ordering: .relaxed)
    }
}

/// A stop one stage hears: the process's SIGTERM and SIGINT, or a request for this stage
/// alone. The stages of a run that share one process (`pbt run --in-process`) hear only their
/// own requests, so that the run stops them in order: workers, then the selector, then the
/// event proxy.
public final class StageStop: Sendable {
    private let requested = Atomic<Int32>(0)
    private let followsProcessSignals: Bool

    /// `followsProcessSignals`: whether the process's signals stop this stage too.
    public init(followsProcessSignals: Bool = true) {
        self.followsProcessSignals = followsProcessSignals
    }

    /// Asks this stage alone to stop, as `signal` would.
    public func request(_ signal: Int32 = SIGTERM) {
        requested.store(signal, ordering: .relaxed)
    }

    /// The signal this stage was asked to stop with (or, when it follows them, the process's),
    /// or nil.
    public var received: Int32? {
        if followsProcessSignals, let signal = StopSignal.received { return signal }
        let value = requested.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    public var isRequested: Bool { received != nil }
}
