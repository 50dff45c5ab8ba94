import Logging
import PBTSecurity
import PBTStageLoop
import ZeroMQ

/// A subscriber to the whole event stream, as the exporter and the TensorBoard writer hold one:
/// a SUB socket to the proxy's subscriber side with the stages' high-water mark, a 2 MiB frame
/// limit (an event is at most 1 MiB), fast reconnection (the proxy may start a moment later),
/// CURVE when given keys, and a keeper that says when the connection comes up or fails.
struct StreamSubscriber {
    let socket: ZMQSocket
    let keeper: ConnectionKeeper

    init(context: ZMQContext, endpoint: String, security: CurveSecurity?, logger: Logger) throws {
        socket = try ZMQSocket(context, .sub)
        try socket.setReceiveHighWaterMark(StageTiming.highWaterMark)
        try socket.setMaximumMessageSize(2 << 20)
        try socket.setReconnect(
            intervalMilliseconds: StageTiming.reconnectMilliseconds,
            maximumMilliseconds: StageTiming.reconnectMaximumMilliseconds)
        try socket.subscribe()
        if let security { try socket.secureClient(security) }
        keeper = try ConnectionKeeper(
            context, socket: socket, endpoint: endpoint, peer: "the event proxy", curve: security
        ) { line, problem in
            if problem { logger.warning("\(line)") } else { logger.info("\(line)") }
        }
        try socket.connect(endpoint)
    }
}
