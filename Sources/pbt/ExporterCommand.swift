import ArgumentParser
import Foundation
import PBTWatch

/// `pbt exporter`: Prometheus metrics of a running experiment, from its event stream.
struct ExporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve Prometheus metrics (GET /metrics) made from an experiment's event stream.",
        discussion: """
            One scrape target for the whole pipeline: members by state, steps and exploits, best score, \
            turnaround histogram, lease expiries, dropped frames, busy trainers. pbt run starts one on a \
            free port and prints its URL. The README lists every metric.
            """)

    @Option(name: .customLong("events"), help: "The event proxy's subscriber endpoint (env PBT_EVENTS_SUBSCRIBE).")
    var endpoint: String = environment("PBT_EVENTS_SUBSCRIBE") ?? "tcp://127.0.0.1:5557"

    @Option(name: .long, help: "Where to serve HTTP, HOST:PORT (port 0: a free one) (env PBT_METRICS_LISTEN).")
    var listen: String = environment("PBT_METRICS_LISTEN") ?? "127.0.0.1:9464"

    @Option(name: .long, help: "Write the metrics URL as JSON to this file once listening.")
    var readyFile: String?

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try checkEndpoint(endpoint, "--events (or PBT_EVENTS_SUBSCRIBE)", binding: false)
        do {
            _ = try ExporterStage.endpoint(listen: listen)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        try runReportingErrors {
            let logger = logging.bootstrap("pbt.exporter")
            do {
                var options = ExporterStage.Options(events: endpoint, listen: listen, readyFile: readyFile)
                options.security = try security.load(for: .connects, logger: logger)
                return try ExporterStage(options: options, logger: logger).run()
            } catch let error as ExporterError {
                throw UserError(error.description)
            }
        }
    }
}
