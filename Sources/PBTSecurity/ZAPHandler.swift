import CZeroMQ
import ZeroMQ
import Foundation
import Synchronization

/// Admits CURVE clients to the server sockets of one context by their public key (ZAP,
/// ZeroMQ RFC 27), from an authorized-keys file it re-reads whenever the file changes.
///
///     client ── HELLO/INITIATE ──▶ server socket ── ZAP request ──▶ [handler thread: REP]
///                                  (libzmq)       ◀── 200 / 400 ──   inproc://zeromq.zap.01
///
/// libzmq asks the handler during every CURVE handshake of a socket of this context; a
/// client whose key is not listed gets 400 and its connection is closed before any message
/// passes. The handler also watches its sockets' handshakes, so that clients that cannot
/// even reach the ZAP step (no CURVE, or a wrong server key) are seen and counted too.
/// One thread owns the handler's sockets; `start` returns once it listens, `stop` once it
/// has closed them. Refusals queue (at most `queueLimit`) until the stage takes them.
public final class ZAPHandler: @unchecked Sendable {
    /// A peer that was not let in.
    public struct Refusal: Sendable, Equatable {
        /// The peer's address as libzmq saw it (empty when the handshake failed before ZAP).
        public let address: String
        /// The peer's public key in Z85 (empty when it never presented one).
        public let publicKey: String
        /// `unknown_key`, `authorized_keys_unusable`, `not_curve`, `wrong_server_key` or `handshake_failed`.
        public let reason: String
        /// Words for a log line.
        public let detail: String
    }

    /// The endpoint libzmq sends ZAP requests to, fixed by RFC 27.
    public static let endpoint = "inproc://zeromq.zap.01"
    /// Refusals kept until taken; past it the oldest go (they are still counted).
    public static let queueLimit = 1_000

    private let core: ZAPCore

    /// Reads the authorized keys (a bad file is an error now, naming the file and line),
    /// then starts the handler thread and returns once it listens. `admitting` adds keys that
    /// are always let in (a stage admits its own public key: whoever holds the server's
    /// secret can pose as the server anyway).
    public init(
        context: ZMQContext, authorizedKeys path: String, admitting extra: [[UInt8]] = [], domain: String = "pbt"
    ) throws {
        core = try ZAPCore(context: context, path: path, extra: Set(extra), domain: domain)
    }

    deinit { core.stop() }

    /// Stops the thread and closes its sockets; later calls do nothing.
    public func stop() { core.stop() }

    /// How many public keys are admitted now (the file's and the extra ones).
    public var authorizedCount: Int { core.state.withLock { $0.keys.union(core.extra).count } }

    /// Handshakes let in and refused so far.
    public var counts: (admitted: Int, refused: Int) { core.state.withLock { ($0.admitted, $0.refused) } }

    /// The refusals since the last call.
    public func takeRefusals() -> [Refusal] {
        core.state.withLock {
            let taken = $0.refusals
            $0.refusals = []
            return taken
        }
    }

    /// Makes `socket` a CURVE server with `keyPair` authenticated by this handler, and
    /// watches its handshakes. Call on the socket's thread, before it binds.
    ///
    /// A socket has one monitor at most: with `watchHandshakes` false, whoever monitors the
    /// socket passes its protocol failures on with `noteHandshakeFailure`.
    public func secure(_ socket: ZMQSocket, keyPair: CurveKeyPair, watchHandshakes: Bool = true) throws {
        try socket.setCurveServer(secretKey: keyPair.secretKey)
        try socket.setZAPDomain(core.domain)
        guard watchHandshakes else { return }
        let endpoint = "inproc://pbt.handshakes.\(monitorNumbers.wrappingAdd(1, ordering: .relaxed).newValue)"
        // Protocol failures only: a peer that hangs up mid-handshake (a health probe reading the
        // greeting) is not refused, it left.
        try socket.monitor(endpoint, events: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        core.state.withLock { $0.monitorsToOpen.append(endpoint) }
        _ = core.monitorsOpened.wait(timeout: .now() + 2)
    }
}

extension ZAPHandler {
    /// A handshake of a socket secured without watching failed (a monitor event with
    /// `ZMQMonitorEvent.handshakeFailedProtocol`): counted and told like the handler's own.
    public func noteHandshakeFailure(_ event: ZMQMonitorEvent) {
        core.handshakeFailed(event)
    }
}

/// The handler's state and thread; the thread holds it, so it outlives the handler's `deinit`.
private final class ZAPCore: @unchecked Sendable {
    typealias Refusal = ZAPHandler.Refusal

    struct State {
        var keys: Set<[UInt8]> = []
        var fileStamp: FileStamp?
        var fileProblem: String?
        var refusals: [Refusal] = []
        var admitted = 0
        var refused = 0
        var monitorsToOpen: [String] = []
    }

    let context: ZMQContext
    let path: String
    let extra: Set<[UInt8]>
    let domain: String
    let state = Mutex(State())
    let stopping = Atomic<Bool>(false)
    let monitorsOpened = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)

    init(context: ZMQContext, path: String, extra: Set<[UInt8]>, domain: String) throws {
        self.context = context
        self.path = path
        self.extra = extra
        self.domain = domain
        let keys = try CurveKeyFile.readPublicKeys(path)
        let stamp = FileStamp(path)
        state.withLock {
            $0.keys = Set(keys.map(\.key))
            $0.fileStamp = stamp
        }
        let started = DispatchSemaphore(value: 0)
        let failure = StartFailure()
        let thread = Thread { [self] in
            serve(started: started, failure: failure)
        }
        thread.name = "pbt-zap"
        thread.start()
        started.wait()
        if let error = failure.error {
            finished.wait()
            throw error
        }
        running.store(true, ordering: .relaxed)
    }

    func stop() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }

    // MARK: The handler thread

    private func serve(started: DispatchSemaphore, failure: StartFailure) {
        defer { finished.signal() }
        let socket: ZMQSocket
        do {
            socket = try ZMQSocket(context, .rep)
            try socket.bind(ZAPHandler.endpoint)
        } catch {
            failure.error = (error as? ZMQError) ?? ZMQError(code: EINVAL, operation: "ZAP handler: \(error)")
            started.signal()
            return
        }
        started.signal()
        var monitors: [ZMQSocket] = []
        while !stopping.load(ordering: .relaxed) {
            for endpoint in state.withLock({ (state: inout State) -> [String] in
                let opening = state.monitorsToOpen
                state.monitorsToOpen = []
                return opening
            }) {
                if let monitor = try? ZMQSocket(context, .pair), (try? monitor.connect(endpoint)) != nil {
                    monitors.append(monitor)
                }
                monitorsOpened.signal()
            }
            guard let readable = try? ZMQPoll.readable([socket] + monitors, timeoutMilliseconds: 50) else { continue }
            if readable[0], let request = try? socket.receive(dontWait: true) {
                _ = try? socket.send(answer(request))
            }
            for (index, monitor) in monitors.enumerated() where readable[index + 1] {
                while let frames = try? monitor.receive(dontWait: true) {
                    if let event = ZMQMonitorEvent(frames) { handshakeFailed(event) }
                }
            }
        }
        for monitor in monitors { monitor.close() }
        socket.close()
    }

    /// The reply to one ZAP request: [version, request id, domain, address, identity,
    /// mechanism, credentials…] → [version, request id, status, text, user id, metadata].
    func answer(_ request: [[UInt8]]) -> [[UInt8]] {
        guard request.count >= 6, request[0] == Array("1.0".utf8) else {
            return [
                Array("1.0".utf8), request.count > 1 ? request[1] : [], Array("500".utf8),
                Array("malformed ZAP request".utf8), [], [],
            ]
        }
        let id = request[1]
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        func reply(_ status: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), id, Array(status.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard mechanism == "CURVE", request.count >= 7, request[6].count == 32 else {
            refuse(
                Refusal(
                    address: address, publicKey: "", reason: "not_curve",
                    detail: "a \(mechanism) handshake from \(address), not CURVE"))
            return reply("400", "CURVE only")
        }
        let key = request[6]
        let text = Z85.encode(key) ?? "?"
        let (admitted, problem) = admits(key)
        if admitted {
            state.withLock { $0.admitted += 1 }
            return reply("200", "OK", user: text)
        }
        if let problem {
            refuse(
                Refusal(
                    address: address, publicKey: text, reason: "authorized_keys_unusable",
                    detail: "\(address) (key \(text)) refused: \(problem)"))
            // 500, not 400: the client is told the file is at fault, not its key.
            return reply("500", "authorized keys unusable")
        } else {
            refuse(
                Refusal(
                    address: address, publicKey: text, reason: "unknown_key",
                    detail: "\(address) refused: key \(text) is not in \(path)"))
        }
        return reply("400", "key not authorized")
    }

    /// Whether `key` is admitted, re-reading the file first if it changed. A file that has
    /// become unreadable or malformed admits nobody (but the extra keys) until it is fixed.
    private func admits(_ key: [UInt8]) -> (Bool, String?) {
        if extra.contains(key) { return (true, nil) }
        let stamp = FileStamp(path)
        let (changed, problem) = state.withLock { ($0.fileStamp != stamp, $0.fileProblem) }
        if changed {
            do {
                let keys = try CurveKeyFile.readPublicKeys(path)
                state.withLock {
                    $0.keys = Set(keys.map(\.key))
                    $0.fileStamp = stamp
                    $0.fileProblem = nil
                }
            } catch {
                state.withLock {
                    $0.keys = []
                    $0.fileStamp = stamp
                    $0.fileProblem = error.description
                }
                return (false, error.description)
            }
        } else if let problem {
            return (false, problem)
        }
        return (state.withLock { $0.keys.contains(key) }, nil)
    }

    func handshakeFailed(_ event: ZMQMonitorEvent) {
        let reason: String
        let detail: String
        switch event.value {
        case UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
            reason = "not_curve"
            detail = "a peer without CURVE tried \(event.endpoint)"
        case UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC):
            reason = "wrong_server_key"
            detail = "a peer's handshake on \(event.endpoint) could not be decrypted (it uses another server key)"
        default:
            reason = "handshake_failed"
            detail = "a handshake on \(event.endpoint) failed (\(event.describedValue))"
        }
        refuse(Refusal(address: "", publicKey: "", reason: reason, detail: detail))
    }

    private func refuse(_ refusal: Refusal) {
        state.withLock {
            $0.refused += 1
            $0.refusals.append(refusal)
            if $0.refusals.count > ZAPHandler.queueLimit {
                $0.refusals.removeFirst($0.refusals.count - ZAPHandler.queueLimit)
            }
        }
    }
}

/// Why the handler thread could not start; written before `started` is signalled, read after.
private final class StartFailure: @unchecked Sendable {
    var error: ZMQError?
}

/// What identifies a version of a file: a change of any part means it was rewritten.
struct FileStamp: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let seconds: Int
    let nanoseconds: Int

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        seconds = Int(info.st_mtim.tv_sec)
        nanoseconds = Int(info.st_mtim.tv_nsec)
    }
}
