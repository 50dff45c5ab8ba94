import PBTSystem
import ArgumentParser
import Foundation
import PBTWatch

/// `pbt monitor`: a live view of a running experiment from its event stream.
struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract:
            "Watch an experiment live: members, trainers, throughput, exploits, best score (from the event stream).",
        discussion: """
            Attaches to the event proxy of an experiment started anywhere (pbt run prints the endpoint), \
            and stays attached when the experiment finishes or a new one starts. Ctrl-C quits. On a \
            terminal it redraws in place; piped, it prints a plain frame every --interval seconds.
            """)

    @Option(name: .customLong("events"), help: "The event proxy's subscriber endpoint (env PBT_EVENTS_SUBSCRIBE).")
    var endpoint: String = environment("PBT_EVENTS_SUBSCRIBE") ?? "tcp://127.0.0.1:5557"

    @Option(
        name: .long, parsing: .unconditional, help: "Seconds between frames (default 0.25 on a terminal, 5 otherwise).")
    var interval: Double?

    @Flag(name: .long, help: "Print plain frames even on a terminal.")
    var plain = false

    @Flag(name: .long, help: "Exit once the experiment finishes (after showing it).")
    var exitWhenFinished = false

    @OptionGroup var security: SecurityOptions

    func validate() throws {
        if let interval, !(0.05...3600).contains(interval) {
            throw ValidationError("--interval must be between 0.05 and 3600 seconds, got \(interval)")
        }
        guard endpoint.contains("://") else {
            throw ValidationError("--events must be a ZeroMQ endpoint such as tcp://127.0.0.1:5557, got '\(endpoint)'")
        }
        try checkEndpoint(endpoint, "--events (or PBT_EVENTS_SUBSCRIBE)", binding: false)
    }

    func run() throws {
        try runReportingErrors {
            var options = MonitorStage.Options(
                endpoint: endpoint, interval: interval, plain: plain, exitWhenFinished: exitWhenFinished)
            options.security = try security.load(for: .connects)
            let stage = MonitorStage(options: options)
            do {
                return try stage.run { text in StandardStream.output.write(text) }
            } catch {
                throw UserError("cannot watch \(endpoint): \(error)")
            }
        }
    }
}
