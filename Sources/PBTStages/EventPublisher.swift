import Logging
import PBTSecurity
import PBTSystem
import PBTCore
import PBTStageLoop
import PBTStore
import PBTWire
import ZeroMQ

/// A stage's side of the event stream: a PUB socket connected to the event proxy.
///
/// Events are two frames, the topic then the JSON object, so subscribers filter by topic
/// prefix. PUB never blocks and drops past its high-water mark: the stream is for watching;
/// the selector's `events.jsonl` is the record.
public final class EventPublisher {
    private let socket: ZMQSocket?
    /// Says why a CURVE handshake with the proxy fails, and connects again after a refusal.
    private let keeper: ConnectionKeeper?
    private var lastCheck = -Double.infinity

    /// Connects to the proxy's publisher endpoint (as a CURVE client with `security`); with
    /// nil, events go nowhere.
    public init(
        context: ZMQContext, endpoint: String?, security: CurveSecurity? = nil,
        logger: Logger = Logger(label: "pbt.events")
    ) throws {
        guard let endpoint else {
            socket = nil
            keeper = nil
            return
        }
        let socket = try ZMQSocket(context, .pub, linger: StageTiming.lingerMilliseconds)
        try socket.setSendHighWaterMark(StageTiming.highWaterMark)
        try socket.setReconnect(
            intervalMilliseconds: StageTiming.reconnectMilliseconds,
            maximumMilliseconds: StageTiming.reconnectMaximumMilliseconds)
        keeper = try socket.connect(
            endpoint, peer: "the event proxy", security: security, context: context, logger: logger)
        self.socket = socket
    }

    /// Looks after the connection to the proxy (says why a handshake fails, connects again
    /// after a refusal): a stage that publishes seldom calls it from its loop.
    public func maintain() {
        let now = Clock.monotonic
        guard now - lastCheck >= StageTiming.handshakeCheck else { return }
        lastCheck = now
        keeper?.check()
    }

    /// Publishes an already encoded event.
    public func publish(topic: PBTEvent.Topic, json: String) {
        guard let socket else { return }
        maintain()
        _ = try? socket.send([topic.bytes, Array(json.utf8)], dontWait: true)
    }

    /// Encodes and publishes `event`; returns the JSON for callers that also log it.
    @discardableResult
    public func publish(_ event: PBTEvent) -> String {
        let json = EventJSON.encode(event, time: Clock.wall)
        publish(topic: event.topic, json: json)
        return json
    }
}

/// Counts frames a stage had to drop, by reason, and says so on the event stream and in
/// the log, rate-limited by `DropTally` (the first ten of a reason, then one a second). The
/// log line: the first ten, then every hundredth.
public final class DropCounter {
    private var tally = DropTally()
    private let stage: String
    private let worker: String

    public var byReason: [String: Int] { tally.byReason }
    public var total: Int { tally.total }

    public init(stage: String, worker: String) {
        self.stage = stage
        self.worker = worker
    }

    /// Records a drop. Returns the event to publish, or nil while the reason's events are limited.
    public func drop(reason: String, detail: String, now: Double = Clock.monotonic, log: (String) -> Void) -> PBTEvent?
    {
        let (count, total, tell) = tally.record(reason, now: now)
        if total <= 10 || total % 100 == 0 {
            log("dropped a frame (\(reason)): \(detail) [\(total) dropped so far]")
        }
        guard tell else { return nil }
        return .frameDropped(stage: stage, worker: worker, reason: reason, total: total, count: count)
    }
}

/// Writes the endpoints a stage bound as JSON to `path` (atomically), so that whoever
/// started it can connect the rest.
func writeReadyFile(_ path: String?, stage: String, endpoints: [String: String]) throws {
    guard let path else { return }
    var json = JSONWriter()
    json.object { o in
        o.field("stage", stage)
        o.object("endpoints") { e in
            for key in endpoints.keys.sorted() { e.field(key, endpoints[key]!) }
        }
    }
    try OutputFile.write(json.text, to: path)
}
