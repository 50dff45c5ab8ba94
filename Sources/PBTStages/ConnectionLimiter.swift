import Foundation
import PBTCore
import PBTSystem
import Synchronization
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Caps the connections a binding stage accepts, so that strangers opening connections by the
/// thousand cannot take the file handles the stage needs for its run directory (a store that
/// cannot write its outcome, a summary that is never written).
///
///     bound socket ──monitor (inproc PAIR)──▶ accepted fd ─▶ open < limit ? count : shut down
///
/// libzmq accepts every connection itself; the limiter watches its socket monitor and shuts
/// down (`shutdown(2)`, never `close`: the descriptor stays libzmq's) each connection past the
/// limit, which libzmq then closes as a peer that went away. Refusals are counted and told
/// as `peer.refused` (reason `too_many_connections`), the first ten, then one a second.
final class ConnectionLimiter {
    /// File handles kept free for the stage's own files (store, logs, checkpoints, summary,
    /// and the uploads the selector's checkpoint service may hold open).
    static let reserved = 128 + CheckpointService.maximumUploads

    let limit: Int
    private let stage: String
    private var monitors: [ZMQSocket] = []
    /// Where handshake failures go (a socket has one monitor, and this is it).
    private let handshakes: ServerSecurity?
    private var open = Set<Int32>()
    private var tally = DropTally()
    private static let numbers = Atomic<Int>(0)

    /// A limit of `requested` connections, lowered to what the process's open-file limit
    /// (raised to its hard limit first) allows beside `reserved`.
    /// With CURVE, `handshakes` hears the watched sockets' failed handshakes.
    init(requested: Int, stage: String, handshakes: ServerSecurity?) {
        let files = FileLimits.raiseToHardLimit()
        limit = max(8, min(requested, files - Self.reserved))
        self.stage = stage
        self.handshakes = handshakes
    }

    /// Makes `socket` a CURVE server of `security` (if any) and watches it; call before it binds.
    func watch(_ socket: ZMQSocket, context: ZMQContext, security: ServerSecurity?) throws {
        try security?.secure(socket, watchHandshakes: false)
        let endpoint = "inproc://pbt.connections.\(Self.numbers.wrappingAdd(1, ordering: .relaxed).newValue)"
        try socket.monitor(
            endpoint,
            events: ZMQMonitorEvent.accepted | ZMQMonitorEvent.disconnected | ZMQMonitorEvent.closed
                | ZMQMonitorEvent.handshakeFailedProtocol)
        let pair = try ZMQSocket(context, .pair)
        try pair.connect(endpoint)
        monitors.append(pair)
    }

    /// Connections open now.
    var count: Int { open.count }

    /// Reads what the monitors said; shuts down connections past the limit. Returns the
    /// refusals to tell.
    func check(now: Double) -> [PBTEvent] {
        var events: [PBTEvent] = []
        for monitor in monitors {
            while let frames = try? monitor.receive(dontWait: true), let event = ZMQMonitorEvent(frames) {
                let descriptor = Int32(bitPattern: event.value)
                switch event.event {
                case ZMQMonitorEvent.accepted:
                    if open.count < limit {
                        open.insert(descriptor)
                    } else {
                        shutdown(descriptor, Int32(SHUT_RDWR))
                        let (_, total, tell) = tally.record("too_many_connections", now: now)
                        if tell {
                            events.append(
                                .peerRefused(
                                    stage: stage, address: "", key: "", reason: "too_many_connections", total: total))
                        }
                    }
                case ZMQMonitorEvent.handshakeFailedProtocol:
                    handshakes?.noteHandshakeFailure(event)
                default:
                    open.remove(descriptor)
                }
            }
        }
        return events
    }

    /// Refusals so far.
    var refused: Int { tally.total }
}
