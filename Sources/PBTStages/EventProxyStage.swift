import Logging
import PBTSecurity
import PBTStageLoop
import PBTSystem
import PBTCore
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
        /// The ZeroMQ context to make sockets in: a run whose stages share one process passes
        /// its own (inproc:// endpoints reach only sockets of the same context); nil: a new one.
        public var context: ZMQContext? = nil
        /// Stops this stage alone, besides the process's SIGTERM and SIGINT (a run whose stages
        /// share one process stops them one at a time).
        public var stop = StageStop()

        public init(publishers: String, subscribers: String, readyFile: String? = nil) {
            self.publishers = publishers
            self.subscribers = subscribers
            self.readyFile = readyFile
        }
    }

    /// Milliseconds one poll waits when nothing arrives: how often the proxy publishes the
    /// CURVE refusals of its server sockets and looks at the stop flag.
    static let pollMilliseconds = 100
    /// Events the proxy holds for one subscriber that does not read (then XPUB drops for it):
    /// at most 5,000 × 64 KiB = 320 MiB, whoever floods the stream.
    static let subscriberQueueEvents: Int32 = 5_000
    /// Subscriptions (a byte and a topic prefix each) the proxy queues from one subscriber.
    static let subscriptionQueue: Int32 = 1_000
    /// The largest message a subscriber may send: subscribers only send subscriptions.
    static let maximumSubscriptionBytes: Int64 = 64 << 10

    private let options: Options
    private let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Forwards until a signal stops it; returns 0.
    public func run() throws -> Int32 {
        let context = try options.context ?? ZMQContext()
        let server = try options.security.map {
            try ServerSecurity($0, context: context, stage: "events", logger: logger)
        }
        defer { server?.stop() }
        let inbound = try ZMQSocket(context, .xsub)
        try inbound.setReceiveHighWaterMark(StageTiming.highWaterMark)
        // An event is at most 64 KiB (checked below, and counted); libzmq hangs up on a
        // publisher whose message is over 1 MiB, before it is read into memory.
        try inbound.setMaximumMessageSize(Self.maximumMessageBytes)
        try server?.secure(inbound)
        try inbound.bind(options.publishers, option: "--publishers")
        let outbound = try ZMQSocket(context, .xpub)
        try outbound.setSendHighWaterMark(Self.subscriberQueueEvents)
        try outbound.setMaximumMessageSize(Self.maximumSubscriptionBytes)
        try outbound.setReceiveHighWaterMark(Self.subscriptionQueue)
        try server?.secure(outbound)
        try outbound.bind(options.subscribers, option: "--subscribers")
        let publishers = try inbound.lastEndpoint
        let subscribers = try outbound.lastEndpoint
        logger.info(
            "event proxy listening", metadata: ["pbt.publishers": "\(publishers)", "pbt.subscribers": "\(subscribers)"])
        try writeReadyFile(
            options.readyFile, stage: "events", endpoints: ["publishers": publishers, "subscribers": subscribers])
        var forwarded = 0
        let drops = DropCounter(stage: "events", worker: "events")
        // The signal that stopped it, if one did: the exit code is then 128 + it.
        var stoppedBy: Int32?
        try StageLoop.run(
            sockets: { [inbound, outbound] }, pollMilliseconds: { Self.pollMilliseconds }, stop: options.stop
        ) { input in
            switch input {
            case .message(let socket, let message) where socket === inbound:
                if let reason = Self.problem(with: message) {
                    let detail = "\(message.count) frames, \(message.map(\.count).reduce(0, +)) bytes"
                    if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) {
                        let json = EventJSON.encode(event, time: Clock.wall)
                        _ = try outbound.send([event.topic.bytes, Array(json.utf8)], dontWait: true)
                    }
                    return true
                }
                _ = try outbound.send(message, dontWait: true)
                forwarded += 1
                return true
            case .message(_, let subscription):
                // Subscriptions travel upstream so publishers filter at the source.
                _ = try inbound.send(subscription, dontWait: true)
                return true
            case .turn(let now):
                for event in server?.takeEvents(now: now) ?? [] {
                    _ = try outbound.send(
                        [event.topic.bytes, Array(EventJSON.encode(event, time: Clock.wall).utf8)], dontWait: true
                    )
                }
                return true
            case .stop(let signal):
                stoppedBy = signal
                return false
            }
        }
        logger.info("event proxy stopping; \(forwarded) events forwarded, \(drops.total) frames dropped")
        return stoppedBy.map { 128 + $0 } ?? 0
    }

    /// The largest event the proxy forwards (the largest the pipeline makes is about 1 KB).
    public static let maximumEventBytes = 64 << 10
    /// Past this size libzmq drops a publisher's connection instead of reading its message.
    public static let maximumMessageBytes: Int64 = 1 << 20

    /// The topics of the README's event table: nothing else is an event.
    static let topics = Set(PBTEvent.Topic.allCases.map(\.bytes))

    /// Why a message is not an event (and is not forwarded), or nil: an event is one of the
    /// known topics then one JSON object of at most 64 KiB.
    static func problem(with message: [[UInt8]]) -> String? {
        guard message.count == 2 else { return "wrong_frame_count" }
        let topic = message[0]
        guard (1...256).contains(topic.count), topic.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return "bad_topic" }
        guard topics.contains(topic) else { return "unknown_topic" }
        let body = message[1]
        guard body.count <= maximumEventBytes else { return "oversized" }
        guard body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") else { return "not_json" }
        return nil
    }
}
