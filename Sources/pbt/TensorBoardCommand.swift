import ArgumentParser
import Foundation
import PBTSystem
import PBTTensorBoard
import PBTWatch

/// `pbt tensorboard`: TensorBoard event files of an experiment, from its run directory's log or
/// live from its event stream.
struct TensorBoardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tensorboard",
        abstract:
            "Write TensorBoard event files: one run a member (score, metrics, the hyperparameter schedule, exploits, HParams).",
        discussion: """
            From a finished or running experiment's log:  pbt tensorboard RUN_DIR [-o DIR]  (default DIR: RUN_DIR/tensorboard)
            Live, from the event stream:                  pbt tensorboard --events ENDPOINT -o DIR  (pbt run --tensorboard DIR starts one)
            Then: tensorboard --logdir DIR
            """)

    @Argument(help: "A run directory (what pbt run wrote): convert its events.jsonl.")
    var runDirectory: String?

    @Option(name: [.short, .long], help: "The TensorBoard log directory to write.")
    var output: String?

    @Option(
        name: .customLong("events"),
        help: "Write live from the event proxy's subscriber endpoint instead, until stopped.")
    var endpoint: String?

    @Option(name: .long, help: "Write this JSON file once subscribed (live).")
    var readyFile: String?

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if output == "" { throw ValidationError("-o takes a directory, got ''") }
        switch (runDirectory, endpoint) {
        case (nil, nil):
            throw ValidationError(
                "give a run directory (pbt tensorboard RUN_DIR) or the event stream (pbt tensorboard --events ENDPOINT -o DIR)"
            )
        case (.some, .some):
            throw ValidationError("give a run directory or --events, not both")
        case (nil, .some) where output == nil:
            throw ValidationError("--events needs -o DIR: where to write")
        default:
            break
        }
        try checkEndpoint(endpoint, "--events", binding: false)
        if endpoint == nil, security.key != nil || security.serverKey != nil || security.authorizedKeys != nil {
            throw ValidationError(
                "--key, --server-key and --authorized-keys go with --events: a run directory is read from disk")
        }
    }

    func run() throws {
        try runReportingErrors {
            if let endpoint, let output {
                let logger = logging.bootstrap("pbt.tensorboard")
                // A directory that cannot be made is bad input (exit 2); a write that fails
                // later is the stage failing (exit 1, its reason on stderr).
                do {
                    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                } catch {
                    throw UserError(
                        "cannot create \(output): \(OutputFile.directoryProblem(output) ?? error.localizedDescription)")
                }
                var options = TensorBoardStage.Options(events: endpoint, output: output, readyFile: readyFile)
                options.security = try security.load(for: .connects, logger: logger)
                return try TensorBoardStage(options: options, logger: logger).run()
            }
            guard let runDirectory else { return PBTCommand.badInput }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw UserError(
                    "\(runDirectory) is not a directory (give the run directory pbt run wrote, e.g. runs/toy-20261126-130501)"
                )
            }
            let events = try RunFiles.eventLog(in: runDirectory)
            let path = output ?? (runDirectory as NSString).appendingPathComponent("tensorboard")
            let existed = FileManager.default.fileExists(atPath: path)
            let outcome: EventLogConversion.Outcome
            do {
                outcome = try EventLogConversion.convert(events: events, output: path) { read in
                    StandardStream.error.write("read \(read) events…\n")
                }
            } catch {
                throw UserError("\(error)")
            }
            // A log without one event is not a run's (pbt report refuses it the same way).
            guard outcome.events > 0 else {
                if !existed { try? FileManager.default.removeItem(atPath: path) }
                throw UserError(
                    "\(events) holds no event"
                        + (outcome.unreadable == 1
                            ? " (its one line is not an event)"
                            : outcome.unreadable > 1 ? " (its \(outcome.unreadable) lines are not events)" : "")
                        + ": is \(runDirectory) a run directory?")
            }
            var line =
                "wrote \(path): \(outcome.runs) runs, \(outcome.records) records (\(outcome.bytes / 1024) KiB) from \(outcome.events) events"
            if outcome.unreadable > 0 {
                line += "; \(outcome.unreadable) lines of \(events) were not events and were skipped"
            }
            print(line)
            print("see them: tensorboard --logdir \(path)")
            return 0
        }
    }
}
