import Logging
import PBTSystem
import PBTWire
import ZeroMQ

/// The event proxy: every stage's PUB connects to its XSUB side; monitors, taps and
/// exporters connect SUB sockets to its XPUB side and choose topics by prefix.
///
///     stages ── PUB ─▶ XSUB [proxy] XPUB ─▶ SUB ── monitor, `pbt events`, …
///                         ◀── subscriptions ──
public final class EventProxyStage {
    public struct Options: Sendable {
        /// Where publishers connect, e.g. `tcp://*:5556`.
        public var publishers: String
        /// Where subscribers connect, e.g. `tcp://*:5557`.
        public var subscribers: String
        public var readyFile: String?
        /// CURVE: both sides admit only authorized client keys.
        public var security: CurveSecurity? = nil

        public init(publishers: String, subscribers: String, readyFile: String? = nil) {
            self.publishers = publishers
            self.subscribers = subscribers
            self.readyFile = readyFile
        }
    }

    private let options: Options
    private let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Forwards until a signal stops it; returns 0.
    public func run() throws -> Int32 {
        let context = try ZMQContext()
        let server = try options.security.map { try ServerSecurity($0, context: context, stage: "events", logger: logger) }
        defer { server?.stop() }
        let inbound = try ZMQSocket(context, .xsub)
        try inbound.setReceiveHighWaterMark(100_000)
        // An event is at most 64 KiB (checked below, and counted); libzmq hangs up on a
        // publisher whose message is over 1 MiB, before it is read into memory.
        try inbound.setMaximumMessageSize(Self.maximumMessageBytes)
        try server?.secure(inbound)
        try inbound.bind(options.publishers)
        let outbound = try ZMQSocket(context, .xpub)
        // What the proxy holds for a subscriber that does not read: at most this many events
        // (then PUB drops for it), so at most 5,000 × 64 KiB = 320 MiB, whoever floods the stream.
        try outbound.setSendHighWaterMark(5_000)
        // Subscribers only send subscriptions (a byte and a topic prefix).
        try outbound.setMaximumMessageSize(64 << 10)
        try outbound.setReceiveHighWaterMark(1_000)
        try server?.secure(outbound)
        try outbound.bind(options.subscribers)
        let endpoints = ["publishers": try inbound.lastEndpoint, "subscribers": try outbound.lastEndpoint]
        logger.info("event proxy listening", metadata: ["pbt.publishers": "\(endpoints["publishers"]!)", "pbt.subscribers": "\(endpoints["subscribers"]!)"])
        try writeReadyFile(options.readyFile, stage: "events", endpoints: endpoints)
        var forwarded = 0
        let drops = DropCounter(stage: "events", worker: "events")
        while !StopSignal.isRequested {
            for event in server?.takeEvents(now: Clock.monotonic) ?? [] {
                _ = try outbound.send([Array(event.topic.utf8), Array(EventJSON.encode(event, time: Clock.wall).utf8)], dontWait: true)
            }
            let readable = try ZMQPoll.readable([inbound, outbound], timeoutMilliseconds: 100)
            if readable[0] {
                while let message = try inbound.receive(dontWait: true) {
                    if let reason = Self.problem(with: message) {
                        let detail = "\(message.count) frames, \(message.map(\.count).reduce(0, +)) bytes"
                        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) {
                            let json = EventJSON.encode(event, time: Clock.wall)
                            _ = try outbound.send([Array(event.topic.utf8), Array(json.utf8)], dontWait: true)
                        }
                        continue
                    }
                    _ = try outbound.send(message, dontWait: true)
                    forwarded += 1
                }
            }
            if readable[1] {
                // Subscriptions travel upstream so publishers filter at the source.
                while let subscription = try outbound.receive(dontWait: true) {
                    _ = try inbound.send(subscription, dontWait: true)
                }
            }
        }
        logger.info("event proxy stopping; \(forwarded) events forwarded, \(drops.total) frames dropped")
        return 0
    }

    /// The largest event the proxy forwards (the largest the pipeline makes is about 1 KB).
    public static let maximumEventBytes = 64 << 10
    /// Past this size libzmq drops a publisher's connection instead of reading its message.
    public static let maximumMessageBytes: Int64 = 1 << 20

    /// Why a message is not an event (and is not forwarded), or nil: an event is a topic of
    /// printable ASCII then one JSON object of at most 64 KiB.
    static func problem(with message: [[UInt8]]) -> String? {
        guard message.count == 2 else { return "wrong_frame_count" }
        let topic = message[0]
        guard (1...256).contains(topic.count), topic.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return "bad_topic" }
        let body = message[1]
        guard body.count <= maximumEventBytes else { return "oversized" }
        guard body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") else { return "not_json" }
        return nil
    }
}
