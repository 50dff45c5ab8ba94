import Logging
import PBTSecurity
import PBTStageLoop
import PBTSystem
import ZeroMQ

/// `pbt events`: prints events from a running experiment, one JSON object a line.
public final class EventTap {
    public struct Options: Sendable {
        /// The proxy's subscriber endpoint.
        public var endpoint: String
        /// Topic prefixes to receive (empty: everything).
        public var topics: [String]
        /// Exit after this many events.
        public var count: Int?
        /// Exit after an event with this topic.
        public var until: String?
        /// Exit with status 1 if nothing arrives for this many seconds.
        public var idleTimeout: Double?
        /// CURVE: connect to the proxy as a client with these keys.
        public var security: CurveSecurity? = nil
        /// The stream the events go to: when it is a pipe whose reader goes away, the tap stops
        /// (exit 0) at once, even with no event to write.
        public var output: StandardStream? = nil

        public init(
            endpoint: String, topics: [String], count: Int? = nil, until: String? = nil, idleTimeout: Double? = nil
        ) {
            self.endpoint = endpoint
            self.topics = topics
            self.count = count
            self.until = until
            self.idleTimeout = idleTimeout
        }

        /// The prefixes to subscribe to: the topics asked for, and the `until` topic when they
        /// do not cover it (else the tap would never see the event it waits for). `[""]`: all.
        public var subscriptions: [String] {
            if topics.isEmpty { return [""] }
            guard let until, !topics.contains(where: { until.hasPrefix($0) }) else { return topics }
            return topics + [until]
        }

        /// Whether an event of `topic` is printed: only those the topics asked for.
        public func prints(topic: String) -> Bool {
            topics.isEmpty || topics.contains { topic.hasPrefix($0) }
        }
    }

    /// Milliseconds one poll waits when nothing arrives: how often the tap looks at its
    /// connection to the proxy, the idle timeout and the stop flag.
    static let pollMilliseconds = 100
    /// Seconds without any event after which the tap says (once, on stderr) that it waits.
    static let waitingNotice = 5.0

    private let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Prints events with `output` until told to stop, or until `output` says it cannot write
    /// (its reader has gone: `pbt events | head -1`; exit 0). Returns the exit code.
    public func run(output: (String) -> Bool, logger: Logger = Logger(label: "pbt.events")) throws -> Int32 {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .sub)
        try socket.setReceiveHighWaterMark(StageTiming.highWaterMark)
        try socket.setMaximumMessageSize(Int64(EventProxyStage.maximumEventBytes) * 2)
        for prefix in options.subscriptions { try socket.subscribe(Array(prefix.utf8)) }
        let keeper = try socket.connect(
            options.endpoint, peer: "the event proxy", security: options.security, context: context, logger: logger)
        var printed = 0
        var lastEvent = Clock.monotonic
        var heardThisTurn = false
        var heardAny = false
        var saidWaiting = false
        let started = Clock.monotonic
        var exitCode: Int32 = 0
        // A pipe's write end is watched for its reader's going (poll reports it with no event asked).
        let watched =
            options.output.flatMap { $0.isPipe ? [ZMQPollDescriptor(fd: $0.rawValue, readable: false)] : nil } ?? []
        try StageLoop.run(
            sockets: { [socket] }, descriptors: { watched }, pollMilliseconds: { Self.pollMilliseconds }
        ) { input in
            switch input {
            case .message(_, let frames):
                lastEvent = Clock.monotonic
                heardThisTurn = true
                heardAny = true
                guard frames.count == 2, let json = String(validating: frames[1], as: UTF8.self) else { return true }
                let topic = String(decoding: frames[0], as: UTF8.self)
                if options.prints(topic: topic) {
                    guard output(json) else {
                        logger.debug("standard output is closed; stopping")
                        return false
                    }
                    printed += 1
                    if let count = options.count, printed >= count { return false }
                }
                if let until = options.until, topic == until { return false }
                return true
            case .turn(let now):
                if !watched.isEmpty, options.output?.readerHasGone == true {
                    logger.debug("the reader of standard output has gone; stopping")
                    return false
                }
                keeper.check()
                defer { heardThisTurn = false }
                if !heardThisTurn, let limit = options.idleTimeout, now - lastEvent > limit {
                    logger.error(
                        "no event for \(limit) s from \(options.endpoint) (--idle-timeout); stopping with exit code 1")
                    exitCode = 1
                    return false
                }
                if !saidWaiting, printed == 0, !heardAny, now - started >= Self.waitingNotice {
                    saidWaiting = true
                    logger.info(
                        "no event yet from \(options.endpoint) after \(Int(Self.waitingNotice)) s; still waiting (is an event proxy there, with an experiment publishing? pbt health \(options.endpoint) checks)"
                    )
                }
                return true
            case .stop(let signal):
                exitCode = 128 + signal
                return false
            }
        }
        return exitCode
    }
}
