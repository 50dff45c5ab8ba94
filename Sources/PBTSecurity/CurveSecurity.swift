import CZeroMQ
import ZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The CURVE settings of one process: its key pair, the public key of the servers it
/// connects to, and the file of client keys its own server sockets admit.
///
///     binding stage (selector, event proxy):  keyPair + authorizedKeys  → CURVE server, ZAP
///     connecting stage (workers, taps, …):    keyPair + serverKey        → CURVE client
///
/// One server key pair may serve every binding stage, so a connecting stage needs one
/// server key.
public struct CurveSecurity: Sendable {
    public var keyPair: CurveKeyPair
    /// The servers' public key, for connecting sockets.
    public var serverKey: [UInt8]?
    /// The authorized-keys file, for binding sockets.
    public var authorizedKeys: String?

    public init(keyPair: CurveKeyPair, serverKey: [UInt8]? = nil, authorizedKeys: String? = nil) {
        self.keyPair = keyPair
        self.serverKey = serverKey
        self.authorizedKeys = authorizedKeys
    }

    /// Reads the files: `key` (a `.key`), `serverKey` (a `.pub`), `authorizedKeys` (checked
    /// now, re-read by the ZAP handler when it changes). Errors name the file and line.
    public static func load(
        key: String, serverKey: String?, authorizedKeys: String?
    ) throws(CurveKeyError) -> CurveSecurity {
        let pair = try CurveKeyFile.readKeyPair(key)
        let server = try serverKey.map { path throws(CurveKeyError) in try CurveKeyFile.readPublicKey(path) }
        if let authorizedKeys { _ = try CurveKeyFile.readPublicKeys(authorizedKeys) }
        return CurveSecurity(keyPair: pair, serverKey: server, authorizedKeys: authorizedKeys)
    }

    /// Starts the ZAP handler of `context` that admits the authorized keys and this process's
    /// own public key. Call before binding any server socket of the context.
    public func startAuthenticator(_ context: ZMQContext) throws -> ZAPHandler {
        guard let authorizedKeys else {
            throw ZMQError(code: EINVAL, operation: "a CURVE server needs an authorized-keys file")
        }
        return try ZAPHandler(context: context, authorizedKeys: authorizedKeys, admitting: [keyPair.publicKey])
    }
}

/// Watches the handshakes of a connecting socket, for saying why a CURVE connection does
/// not come up (the server refused our key, or we hold the wrong server key) and for
/// connecting again after a refusal: libzmq gives a connection up for good once the server
/// refuses it, so a key added to the server's file later would otherwise never be tried.
///
/// Make it, and read it, on the socket's thread.
public final class HandshakeWatch {
    private let pair: ZMQSocket

    public init(_ context: ZMQContext, watching socket: ZMQSocket) throws {
        let endpoint = "inproc://pbt.handshakes.\(monitorNumbers.wrappingAdd(1, ordering: .relaxed).newValue)"
        try socket.monitor(
            endpoint,
            events: ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED)
        pair = try ZMQSocket(context, .pair)
        try pair.connect(endpoint)
    }

    /// The events since the last call (never waits).
    public func drain() -> [ZMQMonitorEvent] {
        var events: [ZMQMonitorEvent] = []
        while events.count < 1_000, let frames = try? pair.receive(dontWait: true) {
            if let event = ZMQMonitorEvent(frames) { events.append(event) }
        }
        return events
    }
}

/// Numbers for monitor endpoints, unique in the process.
let monitorNumbers = Atomic<Int>(0)

/// Keeps a connecting socket trying after a server refused its handshake, and says why in
/// words a user can act on (`report` gets one line, and whether it is a problem; repeats
/// are spaced out). One socket may be connected to several servers (a PUSH to every
/// evaluator's inlet), each with a key of its own: each is kept apart, by its endpoint.
///
///     refused by ZAP (key not authorized)  → "…refused this process's key K…", connect again
///                                            after 1, 2, 4, 8, then every 10 s (the key may be added)
///     security mechanisms differ           → "…requires CURVE…" / "…does not use CURVE…", same
///     server hung up during the handshake  → "…is --server-key right?", connect again after
///                                            1, 2, 4, 8, then every 10 s (not at libzmq's pace)
///
/// (libzmq itself never connects again after a refusal: without this a refused connection
/// stays down for good, even once the key is authorized.) Call `check()` often, on the
/// socket's thread.
public final class ConnectionKeeper {
    private struct Connection {
        let peer: String
        let curve: CurveSecurity?
        var refusals = 0
        var reconnectAt: Double?
        var lastSaid: [String: Double] = [:]
        var connectedOnce = false
        var isConnected = false
    }

    private let watch: HandshakeWatch
    private let socket: ZMQSocket
    private let report: (String, Bool) -> Void
    private var connections: [String: Connection] = [:]

    /// Watches `socket`, which is connected (or about to be) to `endpoint`.
    public convenience init(
        _ context: ZMQContext, socket: ZMQSocket, endpoint: String, peer: String, curve: CurveSecurity?,
        report: @escaping (String, Bool) -> Void
    ) throws {
        try self.init(context, socket: socket, report: report)
        add(endpoint, peer: peer, curve: curve)
    }

    /// Watches `socket`; its connections are named with `add`.
    public init(_ context: ZMQContext, socket: ZMQSocket, report: @escaping (String, Bool) -> Void) throws {
        watch = try HandshakeWatch(context, watching: socket)
        self.socket = socket
        self.report = report
    }

    /// Keeps the connection to `endpoint` (`peer` names it in messages; `curve` is the client
    /// security it was made with, set again before each new attempt).
    public func add(_ endpoint: String, peer: String, curve: CurveSecurity?) {
        connections[endpoint] = Connection(peer: peer, curve: curve)
    }

    /// Stops keeping the connection to `endpoint` (the socket was disconnected from it).
    public func remove(_ endpoint: String) {
        connections[endpoint] = nil
    }

    /// Whether a handshake has succeeded since the last (re)connection, on any connection.
    public var isConnected: Bool { connections.values.contains { $0.isConnected } }

    public func check() {
        let now = Self.now()
        for event in watch.drain() {
            guard let endpoint = endpoint(of: event), var connection = connections[endpoint] else { continue }
            handle(event, &connection, endpoint: endpoint, now: now)
            connections[endpoint] = connection
        }
        for (endpoint, connection) in connections {
            guard let at = connection.reconnectAt, now >= at else { continue }
            connections[endpoint]?.reconnectAt = nil
            try? socket.disconnect(endpoint)
            if let curve = connection.curve { try? socket.secureClient(curve) }
            try? socket.connect(endpoint)
        }
    }

    /// The connection an event is about: its endpoint as connected, or, when libzmq names it
    /// otherwise (a host name resolved), the only one, or the one with the same port.
    private func endpoint(of event: ZMQMonitorEvent) -> String? {
        if connections[event.endpoint] != nil { return event.endpoint }
        if connections.count == 1 { return connections.keys.first }
        let port = event.endpoint.split(separator: ":").last
        let matching = connections.keys.filter { $0.split(separator: ":").last == port }
        return matching.count == 1 ? matching[0] : nil
    }

    private func handle(_ event: ZMQMonitorEvent, _ connection: inout Connection, endpoint: String, now: Double) {
        let peer = connection.peer
        let curve = connection.curve
        switch event.event {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            if connection.refusals > 0 || !connection.connectedOnce, curve != nil {
                say(
                    "connected", "connected to \(peer) at \(endpoint) (CURVE, key accepted)", &connection, now: now,
                    every: 0, problem: false)
            }
            connection.refusals = 0
            connection.connectedOnce = true
            connection.isConnected = true
        case ZMQ_EVENT_DISCONNECTED:
            connection.isConnected = false
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            refused(
                &connection, endpoint: endpoint, now: now,
                event.value == 500
                    ? "\(peer) at \(endpoint) admits nobody: its authorized-keys file cannot be used (ZAP status 500; the log of \(peer) names the file and the line)"
                    : "\(peer) at \(endpoint) refused this process's CURVE key \(curve?.keyPair.publicText ?? "(none)") (ZAP status \(event.value)): add its .pub file to the authorized keys there"
            )
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        where event.value == UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
            refused(
                &connection, endpoint: endpoint, now: now,
                curve == nil
                    ? "\(peer) at \(endpoint) requires CURVE: give this stage --key and --server-key (env PBT_KEY, PBT_SERVER_KEY)"
                    : "\(peer) at \(endpoint) does not use CURVE, but this stage does: start it with --key and --authorized-keys, or drop this stage's keys"
            )
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            guard curve != nil else { break }
            refused(
                &connection, endpoint: endpoint, now: now,
                "the CURVE handshake with \(peer) at \(endpoint) failed (\(event.describedValue)): is --server-key the public key of \(peer)?"
            )
        default:
            break
        }
    }

    private func refused(_ connection: inout Connection, endpoint: String, now: Double, _ text: String) {
        connection.refusals += 1
        connection.isConnected = false
        let delay = min(10, Double(1 << min(connection.refusals - 1, 4)))
        connection.reconnectAt = now + delay
        // The connection waits here, not at libzmq's pace (which tries a wrong server key again
        // dozens of times a second).
        try? socket.disconnect(endpoint)
        say("refused", text + "; trying again in \(Int(delay)) s", &connection, now: now, every: 30)
    }

    private func say(
        _ kind: String, _ text: String, _ connection: inout Connection, now: Double, every seconds: Double,
        problem: Bool = true
    ) {
        if let last = connection.lastSaid[kind], now - last < seconds { return }
        connection.lastSaid[kind] = now
        report(text, problem)
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

extension ZMQSocket {
    /// Makes this socket a CURVE client with `security`'s key pair and server key.
    public func secureClient(_ security: CurveSecurity) throws {
        guard let serverKey = security.serverKey else {
            throw ZMQError(code: EINVAL, operation: "a CURVE client needs the server's public key")
        }
        try setCurveClient(
            publicKey: security.keyPair.publicKey, secretKey: security.keyPair.secretKey, serverKey: serverKey)
    }
}
