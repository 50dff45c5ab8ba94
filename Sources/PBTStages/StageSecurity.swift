import Foundation
import Logging
import PBTCore
import PBTSecurity
import PBTStore
import ZeroMQ

/// A binding stage's side of CURVE: the ZAP handler of its context, which admits the client
/// keys of the authorized-keys file, and its refusals as `peer.refused` events and log lines.
///
///     stage thread:  secure(socket) before bind … takeEvents() every loop turn → publish
///     ZAP thread:    answers libzmq's ZAP requests, notes refusals
///
/// A flood of refused handshakes cannot flood the stream or the log: for each reason, the
/// first ten refusals are an event each, then at most one a second; `total` counts them all.
final class ServerSecurity {
    private let handler: ZAPHandler
    private let keyPair: CurveKeyPair
    private let stage: String
    private let logger: Logger
    private var total = 0
    /// Per reason: refusals, and when the last was reported.
    private var byReason: [String: (count: Int, reported: Double)] = [:]

    /// Starts the ZAP handler of `context`; call before any socket of it binds.
    init(_ security: CurveSecurity, context: ZMQContext, stage: String, logger: Logger) throws {
        handler = try security.startAuthenticator(context)
        keyPair = security.keyPair
        self.stage = stage
        self.logger = logger
        let admitted = handler.authorizedCount - 1
        let line =
            "CURVE on: \(stage) admits \(admitted) client key\(admitted == 1 ? "" : "s") besides its own from \(security.authorizedKeys ?? "?") (re-read when it changes)"
        if admitted == 0 {
            // Only a peer holding this stage's own key gets in: most likely a file not filled yet.
            logger.warning(
                "\(line); none yet: add the clients' .pub lines to it", metadata: ["pbt.key": "\(keyPair.publicText)"])
        } else {
            logger.info("\(line)", metadata: ["pbt.key": "\(keyPair.publicText)"])
        }
    }

    /// Makes `socket` a CURVE server of this stage. With `watchHandshakes` false, the caller
    /// monitors the socket and passes protocol failures on to `noteHandshakeFailure`.
    func secure(_ socket: ZMQSocket, watchHandshakes: Bool = true) throws {
        try handler.secure(socket, keyPair: keyPair, watchHandshakes: watchHandshakes)
    }

    func noteHandshakeFailure(_ event: ZMQMonitorEvent) {
        handler.noteHandshakeFailure(event)
    }

    /// The refusals since the last call, as events to publish (rate-limited) and log lines.
    func takeEvents(now: Double) -> [PBTEvent] {
        let refusals = handler.takeRefusals()
        guard !refusals.isEmpty else { return [] }
        var events: [PBTEvent] = []
        for refusal in refusals {
            total += 1
            var seen = byReason[refusal.reason] ?? (0, -Double.infinity)
            seen.count += 1
            defer { byReason[refusal.reason] = seen }
            if seen.count > 10 && now - seen.reported < 1 { continue }
            seen.reported = now
            logger.warning("refused a peer (\(refusal.reason)): \(refusal.detail) [\(total) refused so far]")
            events.append(
                .peerRefused(
                    stage: stage, address: refusal.address, key: refusal.publicKey, reason: refusal.reason, total: total
                ))
        }
        return events
    }

    /// Every refusal so far.
    var refused: Int { total }

    func stop() {
        handler.stop()
    }
}

extension ZMQSocket {
    /// Connects this PUSH to a stage's inlet. With CURVE, each inlet is a server of its own:
    /// the connection expects the key the selector vouches for (the one the inlet's stage
    /// said it has), else the servers' key; `keeper` says why a handshake fails and connects
    /// again after a refusal. Logs, rather than throws, what goes wrong.
    func connect(
        toInlet peer: PeerEndpoint, of role: String, security: CurveSecurity?, keeper: ConnectionKeeper?,
        logger: Logger
    ) {
        do {
            var expected = security
            if security != nil, peer.publicKey.count == 32 { expected?.serverKey = peer.publicKey }
            if let expected { try secureClient(expected) }
            keeper?.add(peer.endpoint, peer: "the \(role) inlet", curve: expected)
            try connect(peer.endpoint)
        } catch {
            logger.warning("cannot connect to \(role) inlet \(peer.endpoint): \(error)")
        }
    }

    /// Disconnects this PUSH from a stage's inlet, and stops keeping that connection.
    func disconnect(fromInlet endpoint: String, keeper: ConnectionKeeper?) {
        keeper?.remove(endpoint)
        try? disconnect(endpoint)
    }

    /// A keeper for this socket's connections to inlets (added as they are made), which logs
    /// with `logger`.
    func inletKeeper(_ context: ZMQContext, logger: Logger) throws -> ConnectionKeeper {
        try ConnectionKeeper(context, socket: self) { line, problem in
            if problem { logger.warning("\(line)") } else { logger.info("\(line)") }
        }
    }

    /// Makes this a CURVE client of `security` when there is one; then connects, and returns
    /// the keeper that says why a handshake fails and connects again after a refusal.
    func connect(
        _ endpoint: String, peer: String, security: CurveSecurity?, context: ZMQContext, logger: Logger
    ) throws -> ConnectionKeeper {
        if let security { try secureClient(security) }
        let keeper = try ConnectionKeeper(context, socket: self, endpoint: endpoint, peer: peer, curve: security) {
            line, problem in
            if problem { logger.warning("\(line)") } else { logger.info("\(line)") }
        }
        try connect(endpoint)
        return keeper
    }
}

/// The keys `pbt run --secure` makes for its stages, in `RUN_DIR/keys` (mode 0700), kept
/// for a resume and for workers started by hand to join the run:
///
///     server.key/.pub   the selector's and the event proxy's pair
///     client.key/.pub   every other stage's pair (and pbt run's own tap)
///     authorized_keys   client.pub: what the servers admit
struct RunKeys {
    let directory: String
    var serverKey: String { directory + "/server.key" }
    var serverPublic: String { directory + "/server.pub" }
    var clientKey: String { directory + "/client.key" }
    var clientPublic: String { directory + "/client.pub" }
    var authorized: String { directory + "/authorized_keys" }

    /// Makes the keys unless they are there already (a resumed run keeps its own).
    static func prepare(in directory: String) throws -> RunKeys {
        let keys = RunKeys(directory: directory)
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !FileManager.default.fileExists(atPath: keys.serverKey) {
            try CurveKeyFile.write(try CurveKeyPair.generate(), base: directory + "/server", overwrite: true)
        }
        if !FileManager.default.fileExists(atPath: keys.clientKey) {
            try CurveKeyFile.write(try CurveKeyPair.generate(), base: directory + "/client", overwrite: true)
        }
        if !FileManager.default.fileExists(atPath: keys.authorized) {
            let client = try CurveKeyFile.readKeyPair(keys.clientKey)
            try RunDirectory.writeAtomically(
                "# CURVE client keys the selector and the event proxy admit (pbt run --secure)\n\(client.publicText) client\n",
                to: keys.authorized)
        }
        return keys
    }

    /// Arguments for a stage that binds (`binds`), connects (`connects`) or both.
    func arguments(binds: Bool, connects: Bool) -> [String] {
        var arguments = ["--key", binds ? serverKey : clientKey]
        if connects { arguments += ["--server-key", serverPublic] }
        if binds { arguments += ["--authorized-keys", authorized] }
        return arguments
    }

    /// The client side, for `pbt run`'s own tap.
    func clientSecurity() throws -> CurveSecurity {
        try CurveSecurity.load(key: clientKey, serverKey: serverPublic, authorizedKeys: nil)
    }
}
