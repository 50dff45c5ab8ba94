import Foundation
import Logging
import PBTCore
import PBTMonitor
import PBTSecurity
import PBTStageLoop
import PBTSystem
import PBTWire
import Prometheus
import ZeroMQ

/// `pbt exporter`: subscribes to the event stream and serves Prometheus metrics over HTTP.
///
///     event proxy ── SUB ──▶ PopulationModel + PBTMetrics ──▶ GET /metrics ◀── Prometheus
///
/// One thread owns both sockets (the SUB and the HTTP listener, a plain TCP socket) and
/// polls them together in one `zmq_poll`. The stages themselves stay free of HTTP, there is one scrape target
/// however many workers run, and workers in other containers count as soon as their events
/// reach the proxy.
public final class ExporterStage {
    public struct Options: Sendable {
        /// The event proxy's subscriber endpoint.
        public var events: String
        /// Where to serve HTTP: `HOST:PORT` (port 0 picks a free one).
        public var listen: String
        /// Write the metrics URL as JSON here once listening (`pbt run` reads it).
        public var readyFile: String?
        /// CURVE: subscribe to the proxy as a client with these keys.
        public var security: CurveSecurity? = nil

        public init(events: String, listen: String, readyFile: String? = nil) {
            self.events = events
            self.listen = listen
            self.readyFile = readyFile
        }
    }

    /// Milliseconds one poll waits when nothing arrives: how often the exporter looks at its
    /// connection to the proxy and the stop flag.
    static let pollMilliseconds = 200
    /// Milliseconds the exporter lets events gather in its socket before reading them again
    /// (a scrape is answered at once all the same).
    static let gatherMilliseconds = 20
    /// Events read at most in one turn, before the exporter answers scrapes or gathers.
    static let eventsPerTurn = 10_000

    private let options: Options
    private let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// `HOST:PORT` (or `tcp://HOST:PORT`, `http://HOST:PORT`, `[IPv6]:PORT`, or a bare port)
    /// as the host and port to listen on; `localhost` or no host is 127.0.0.1, port 0 or `*`
    /// picks a free one.
    /// `flag` names the option in messages (`pbt run` takes it as `--metrics`).
    public static func endpoint(listen: String, flag: String = "--listen") throws -> (host: String, port: Int) {
        var text = listen
        for scheme in ["tcp://", "http://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        if !text.contains(":") { text = "127.0.0.1:" + text }
        guard let colon = text.lastIndex(of: ":") else {
            throw ExporterError("\(flag) must be HOST:PORT, got '\(listen)'")
        }
        var host = String(text[..<colon])
        let port = String(text[text.index(after: colon)...])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "localhost" { host = "127.0.0.1" }
        guard let number = port == "*" ? 0 : Int(port), (0...65535).contains(number) else {
            throw ExporterError("\(flag) must be HOST:PORT with a port from 0 to 65535, got '\(listen)'")
        }
        return (host, number)
    }

    /// Serves until a signal stops it; returns 0.
    public func run() throws -> Int32 {
        let (host, port) = try Self.endpoint(listen: options.listen)
        let context = try ZMQContext()
        let stream = try StreamSubscriber(
            context: context, endpoint: options.events, security: options.security, logger: logger)
        let (subscriber, keeper) = (stream.socket, stream.keeper)
        let http: HTTPResponder
        do {
            http = try HTTPResponder(host: host, port: port)
        } catch {
            throw ExporterError("cannot listen on \(options.listen): \(error)")
        }
        let shownHost =
            host == "0.0.0.0" || host == "*" || host == "::" ? "127.0.0.1" : host.contains(":") ? "[\(host)]" : host
        let url = "http://\(shownHost):\(http.port)/metrics"
        logger.info("serving metrics", metadata: ["pbt.url": "\(url)", "pbt.events": "\(options.events)"])
        if let readyFile = options.readyFile {
            let json = "{\"stage\":\"exporter\",\"endpoints\":{\"metrics\":\"\(url)\"}}"
            do {
                try OutputFile.write(json, to: readyFile)
            } catch {
                throw ExporterError("cannot write the ready file \(readyFile): \(error)")
            }
        }

        let registry = PrometheusCollectorRegistry()
        let metrics = PBTMetrics(factory: DescribedMetricsFactory(registry: registry))
        var model = PopulationModel(options: .init(trackLineage: false))  // bounded memory for a long-lived exporter
        var unreadable = 0
        // What a turn saw: events read (HTTP is served at the end of the turn, after the turn's
        // events, so that a scrape sees every event that arrived before it).
        var readEvents = false
        // The next turn lets events gather: it polls only the HTTP descriptors, for a moment.
        var gathering = false
        func answer(method: String, path: String) -> HTTPResponder.Response {
            switch path {
            case "/metrics":
                metrics.refresh(from: model, now: Clock.wall)
                return HTTPResponder.Response(
                    contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
            case "/":
                let page =
                    "<!doctype html><title>pbt exporter</title><p>pbt exporter: <a href=\"/metrics\">/metrics</a> (events from \(options.events))</p>\n"
                return HTTPResponder.Response(contentType: "text/html; charset=utf-8", body: Array(page.utf8))
            default:
                return .text(404, "Not Found", "not found: \(path) (metrics are at /metrics)\n")
            }
        }
        // Metrics need not be fresher than a scrape: after a turn that read events and had no
        // HTTP to serve, the next turn lets events gather in the socket for a moment rather than
        // wake for each one (a busy pipeline publishes tens of thousands a second), while a
        // scrape still ends that turn at once; the turn after it reads the events, then answers.
        //
        //     turn: poll both ──▶ events ──▶ serve HTTP ──▶ (nothing served and events? gather next)
        //     gather: poll HTTP only, gatherMilliseconds ──▶ (requests wait for the next turn)
        // The signal that stopped it, if one did: the exit code is then 128 + it.
        var stoppedBy: Int32?
        try StageLoop.run(
            sockets: { gathering ? [] : [subscriber] },
            descriptors: { http.pollDescriptors },
            pollMilliseconds: { gathering ? Self.gatherMilliseconds : Self.pollMilliseconds },
            messagesPerTurn: Self.eventsPerTurn
        ) { input in
            switch input {
            case .message(_, let frames):
                readEvents = true
                guard frames.count == 2, let event = try? EventJSON.decode(frames[1]) else {
                    unreadable += 1
                    return true
                }
                let observations = model.apply(event)
                metrics.record(event, observations: observations)
                return true
            case .turn(let now):
                if gathering {
                    gathering = false
                    return true
                }
                keeper.check()
                if !http.serve(now: now, answer) && readEvents {
                    gathering = true
                }
                readEvents = false
                return true
            case .stop(let signal):
                stoppedBy = signal
                return false
            }
        }
        logger.info(
            "exporter stopping; \(model.eventsSeen) events, \(unreadable) unreadable, \(http.served) requests served, \(http.abandoned) connections closed without a whole request"
        )
        return stoppedBy.map { 128 + $0 } ?? 0
    }
}

/// A problem the exporter reports to the user.
public struct ExporterError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
