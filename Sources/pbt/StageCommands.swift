import PBTSystem
import ArgumentParser
import Foundation
import PBTConfig
import PBTCore
import PBTStages
import PBTStore

/// `pbt selector`: the stateful stage.
struct SelectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selector",
        abstract: "Run the selector: the population table, leases and exploit decisions. Binds the work endpoint.")

    @Argument(help: "The experiment file (YAML).")
    var experiment: String

    @Option(name: .long, help: "The run directory (env PBT_RUN_DIR).")
    var runDir: String = environment("PBT_RUN_DIR") ?? "run"

    @Option(
        name: .long,
        help:
            "Where to bind the work endpoint: trainers' credits and tasks, every worker's heartbeats (env PBT_WORK_BIND)."
    )
    var bind: String = environment("PBT_WORK_BIND") ?? "tcp://*:5555"

    @Option(
        name: .long,
        help:
            "Where to bind the inlet evaluators and mutators push scores and explored hyperparameters to (env PBT_INLET_BIND; default: beside the work endpoint, its port + 3, e.g. tcp://*:5558)."
    )
    var inletBind: String?

    @Option(
        name: .long,
        help:
            "Where to bind the checkpoint service, for workers that share no disk with the selector (env PBT_STORE_BIND; default: beside the work endpoint, its port + 4, e.g. tcp://*:5559)."
    )
    var storeBind: String?

    @OptionGroup var events: EventsOption

    @Option(
        name: .long, parsing: .unconditional,
        help: "Start training once this many trainers are connected (1 to 4096)...")
    var minTrainers: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "...or once this many seconds have passed (0 to 86400).")
    var startTimeout: Double = 10

    @Option(name: .long, help: "Write the bound endpoint as JSON to this file once listening.")
    var readyFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Before starting the experiment, wait (10 s at most) for this file, e.g. a subscriber's ready file; repeatable.",
            valueName: "file"))
    var awaitFile: [String] = []

    @Flag(
        name: .long,
        help:
            "Go on from the store although events.jsonl lost part of what it committed to it (the record keeps a gap).")
    var acceptPartialLog = false

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...4096).contains(minTrainers) else {
            throw ValidationError("--min-trainers must be between 1 and 4096, got \(minTrainers)")
        }
        guard startTimeout >= 0 && startTimeout <= 86_400 else {
            throw ValidationError("--start-timeout must be between 0 and 86400 seconds, got \(startTimeout)")
        }
        try checkEndpoint(bind, "--bind (or PBT_WORK_BIND)", binding: true)
        try checkEndpoint(inletBind, "--inlet-bind", binding: true)
        try checkEndpoint(storeBind, "--store-bind", binding: true)
    }

    func run() throws {
        try runReportingErrors {
            let logger = logging.bootstrap("pbt.selector")
            let loaded = try loadExperiment(experiment)
            for warning in loaded.warnings { logger.warning("\(experiment): \(warning)") }
            // A run directory that cannot be made, or whose store would make the stage start its
            // experiment over or belongs to another: bad input, refused before anything starts.
            let run = RunDirectory(path: runDir)
            do {
                try run.create()
                try SelectorDatabase.validateForResume(
                    run: run, experimentID: loaded.id, acceptPartialLog: acceptPartialLog)
            } catch {
                throw UserError("\(error)")
            }
            var options = SelectorStage.Options(
                experiment: loaded, runDirectory: run, bind: bind,
                inletBind: inletBind ?? environment("PBT_INLET_BIND") ?? InletAddress.selector(work: bind),
                events: events.value,
                minTrainers: minTrainers, startTimeout: startTimeout, readyFile: readyFile)
            options.awaitFiles = awaitFile
            options.storeBind = storeBind ?? environment("PBT_STORE_BIND")
            options.security = try security.load(for: events.value == nil ? .binds : .both, logger: logger)
            if loaded.requiresCurve && options.security == nil {
                throw UserError(
                    "\(experiment) says security: {curve: true}: give the selector --key, --server-key and --authorized-keys (pbt keygen writes them), or use pbt run --secure"
                )
            }
            let stage = SelectorStage(options: options, logger: logger)
            return try stage.run()
        }
    }
}

/// Options shared by trainers, evaluators and mutators.
struct WorkerOptions: ParsableArguments {
    @Option(name: .long, help: "The selector's work endpoint (env PBT_WORK).")
    var connect: String = environment("PBT_WORK") ?? "tcp://127.0.0.1:5555"

    @OptionGroup var events: EventsOption

    @Option(name: .long, help: "This worker's name in events and logs (default: ROLE-HOST-PID).")
    var name: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: "Seconds between heartbeats to the selector (ready while idle, progress while busy).")
    var heartbeat: Double = 1

    @Option(
        name: .long,
        help:
            "Evaluators and mutators: where to bind the inlet (env PBT_INLET_BIND; default: a free port, on loopback when the selector is on this machine, told to the selector)."
    )
    var inletBind: String?

    @Option(
        name: .long,
        help:
            "Evaluators and mutators: the inlet's address as other machines reach it, when not the bound one (env PBT_ADVERTISE). A wildcard host is filled in with the address the selector sees."
    )
    var advertise: String?

    @Flag(name: .long, help: "Serve the next experiment instead of exiting when one finishes.")
    var keepRunning = false

    @Option(
        name: .long,
        help: "The event proxy's subscriber endpoint; a PB2 mutator learns from it (env PBT_EVENTS_SUBSCRIBE).")
    var eventsSubscribe: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A program (argv[0] as the experiment writes it, e.g. python3) a command workload sent by the selector may run; repeatable, * for any. Without it, no command workload runs here (env PBT_ALLOW_COMMANDS, comma-separated).",
            valueName: "program"))
    var allowCommand: [String] =
        environment("PBT_ALLOW_COMMANDS").map {
            $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        } ?? []

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Threads a trainer's (or evaluator's) training may use: a number, auto (the cgroup's CPU quota, else the cores) or inherit (leave OMP_NUM_THREADS and the like alone). The experiment's resources.threads wins when set (env PBT_THREADS).",
            valueName: "n|auto|inherit"))
    var threads: String = environment("PBT_THREADS") ?? "auto"

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "GPU devices this worker's programs get as CUDA_VISIBLE_DEVICES, e.g. 0 or 2,3 (env PBT_GPUS).",
            valueName: "ids"))
    var gpus: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Trainers and evaluators that fetch checkpoints over ZeroMQ: the most their cache holds, in bytes or with k, m, g (env PBT_CACHE_SIZE; default 4g).",
            valueName: "size"))
    var cacheSize: String = environment("PBT_CACHE_SIZE") ?? "4g"

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try checkEndpoint(connect, "--connect (or PBT_WORK)", binding: false)
        try checkEndpoint(inletBind, "--inlet-bind", binding: true)
        guard ResourceSettings.Threads(threads) != nil else {
            throw ValidationError(
                "--threads (or PBT_THREADS) must be auto, inherit or a number from 1 to \(ResourceSettings.maximumThreads), got '\(threads.prefix(40))'"
            )
        }
        if let gpus = gpus ?? environment("PBT_GPUS"), case .failure(let problem) = DeviceAssignment.parse(gpus) {
            throw ValidationError("--gpus (or PBT_GPUS): \(problem)")
        }
        guard ByteSize.parse(cacheSize) != nil else {
            throw ValidationError(
                "--cache-size (or PBT_CACHE_SIZE) must be a size in bytes, or with k, m or g (e.g. 512m), got '\(cacheSize.prefix(40))'"
            )
        }
        guard heartbeat > 0 && heartbeat <= 60 else {
            throw ValidationError("--heartbeat must be between 0 and 60 seconds, got \(heartbeat)")
        }
        if let name {
            guard !name.isEmpty, name.utf8.count <= 128,
                name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw ValidationError(
                    "--name must be 1 to 128 bytes of printable text (it names the worker in events and logs), got '\(name.prefix(40))\(name.count > 40 ? "…" : "")'"
                )
            }
        }
    }

    func run(_ role: WorkerRole, checkpoints: String? = nil) throws {
        try runReportingErrors {
            let workerName = name ?? "\(role)-\(ProcessInfo.processInfo.hostName)-\(getpid())"
            let logger = logging.bootstrap("pbt.\(role)")
            var options = WorkerStage.Options(
                role: role, connect: connect, events: events.value, name: workerName, checkpoints: checkpoints,
                heartbeat: heartbeat, keepRunning: keepRunning,
                eventsSubscribe: eventsSubscribe ?? environment("PBT_EVENTS_SUBSCRIBE"))
            // Evaluators and mutators bind an inlet: with CURVE, they serve as well as connect.
            options.security = try security.load(for: role == .trainer ? .connects : .both, logger: logger)
            options.allowedCommands = allowCommand.filter { !$0.isEmpty }
            options.programLauncher = ProgramLauncher.prefix(executable: currentExecutablePath)
            options.bind =
                inletBind ?? environment("PBT_INLET_BIND") ?? InletAddress.worker(connect: connect, name: workerName)
            options.advertise = advertise ?? environment("PBT_ADVERTISE")
            options.threads = ResourceSettings.Threads(threads)
            options.cacheBytes = ByteSize.parse(cacheSize) ?? options.cacheBytes
            if let gpus = gpus ?? environment("PBT_GPUS") { options.devices = try? DeviceAssignment.parse(gpus).get() }
            let stage = WorkerStage(options: options, logger: logger)
            guard role == .trainer, let directory = environment("PBT_TURNAROUND_LOG_DIR") else {
                return try stage.run()
            }
            // `pbt bench pipeline`: each turnaround of this trainer, written where the bench reads them.
            let log = TurnaroundLog(path: "\(directory)/\(workerName).turnaround")
            stage.turnaroundObserver = { log.record($0) }
            defer { log.write() }
            return try stage.run()
        }
    }
}

/// The help of a trainer's and an evaluator's `--checkpoints`.
enum CheckpointsHelp {
    static let text =
        "Where the selector's checkpoint directory is mounted here, if not where the selector says; or, on a machine that does not see it, this worker's cache of checkpoints fetched over ZeroMQ (env PBT_CHECKPOINTS; default: the selector's directory if seen here, else a cache in the temporary directory)."
}

/// A size in bytes as people write it: `4096`, `512k`, `512m`, `4g` (binary multiples).
enum ByteSize {
    static func parse(_ text: String) -> Int64? {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)]
        var digits = lowered
        var multiplier: Int64 = 1
        for (suffix, factor) in units where lowered.hasSuffix(suffix) || lowered.hasSuffix(suffix + "b") {
            digits = String(lowered.dropLast(lowered.hasSuffix("b") ? 2 : 1))
            multiplier = factor
        }
        guard let number = Int64(digits), number > 0 else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }
}

/// A trainer's turnarounds for `pbt bench pipeline`: kept in memory, written once at exit.
final class TurnaroundLog {
    let path: String
    private var seconds: [Double] = []

    init(path: String) {
        self.path = path
    }

    func record(_ value: Double) { seconds.append(value) }

    func write() {
        guard !seconds.isEmpty else { return }
        try? OutputFile.write(seconds.map { String($0) }.joined(separator: "\n"), to: path)
    }
}

/// `pbt trainer`.
struct TrainerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer", abstract: "Run a trainer: trains one member at a time, asking for work when free.")

    @OptionGroup var worker: WorkerOptions

    @Option(name: .long, help: ArgumentHelp(CheckpointsHelp.text, valueName: "dir"))
    var checkpoints: String?

    func run() throws { try worker.run(.trainer, checkpoints: checkpoints ?? environment("PBT_CHECKPOINTS")) }
}

/// `pbt evaluator`.
struct EvaluatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluator", abstract: "Run an evaluator: turns trained members into scores.")

    @OptionGroup var worker: WorkerOptions

    @Option(name: .long, help: ArgumentHelp(CheckpointsHelp.text, valueName: "dir"))
    var checkpoints: String?

    func run() throws { try worker.run(.evaluator, checkpoints: checkpoints ?? environment("PBT_CHECKPOINTS")) }
}

/// `pbt mutator`.
struct MutatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mutator", abstract: "Run a mutator: explores the hyperparameters of members that exploited.")

    @OptionGroup var worker: WorkerOptions

    func run() throws { try worker.run(.mutator) }
}

/// `pbt events`: tap the stream (default) or run the proxy.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print the event stream as JSON lines, or run the event proxy.",
        subcommands: [EventsTapCommand.self, EventsProxyCommand.self], defaultSubcommand: EventsTapCommand.self)
}

struct EventsTapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap", abstract: "Print events from a running experiment, one JSON object a line (jq-friendly).")

    @Option(name: .long, help: "The event proxy's subscriber endpoint (env PBT_EVENTS_SUBSCRIBE).")
    var endpoint: String = environment("PBT_EVENTS_SUBSCRIBE") ?? "tcp://127.0.0.1:5557"

    @Option(name: .long, help: "Only events whose topic starts with this (repeatable), e.g. member. or trainer.joined.")
    var topic: [String] = []

    // These take a negative number as their value (for the range check to refuse), not as a flag.
    @Option(name: .long, parsing: .unconditional, help: "Exit after this many events (at least 1).")
    var count: Int?

    @Option(
        name: .long,
        help: "Exit after an event with this topic, e.g. experiment.finished (whether --topic prints it or not).")
    var until: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: "Exit with status 1 when no event arrives for this many seconds (more than 0, at most 86400).")
    var idleTimeout: Double?

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try checkEndpoint(endpoint, "--endpoint (or PBT_EVENTS_SUBSCRIBE)", binding: false)
        if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if let idleTimeout, !(idleTimeout > 0 && idleTimeout <= 86_400) {
            throw ValidationError("--idle-timeout must be more than 0 and at most 86400 seconds, got \(idleTimeout)")
        }
        // A misspelt topic would wait for ever, or print nothing: say so now.
        let topics = PBTEvent.Topic.allCases.map(\.rawValue)
        if let until, !topics.contains(until) {
            throw ValidationError(
                "--until \(until) is not a topic; the topics are \(topics.joined(separator: ", "))")
        }
        for prefix in topic where !topics.contains(where: { $0.hasPrefix(prefix) }) {
            throw ValidationError(
                "--topic \(prefix) starts no topic; the topics are \(topics.joined(separator: ", "))")
        }
    }

    func run() throws {
        try runReportingErrors {
            let logger = logging.bootstrap("pbt.events")
            var options = EventTap.Options(
                endpoint: endpoint, topics: topic, count: count, until: until, idleTimeout: idleTimeout)
            options.security = try security.load(for: .connects, logger: logger)
            options.output = .output
            return try EventTap(options: options).run(
                output: { line in
                    StandardStream.output.write(line + "\n")
                }, logger: logger)
        }
    }
}

struct EventsProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy", abstract: "Run the event proxy: stages publish into it, monitors subscribe to it.")

    @Option(name: .long, help: "Where stages connect to publish (env PBT_EVENTS_PUBLISH_BIND).")
    var publishers: String = environment("PBT_EVENTS_PUBLISH_BIND") ?? "tcp://*:5556"

    @Option(name: .long, help: "Where subscribers connect (env PBT_EVENTS_SUBSCRIBE_BIND).")
    var subscribers: String = environment("PBT_EVENTS_SUBSCRIBE_BIND") ?? "tcp://*:5557"

    @Option(name: .long, help: "Write the bound endpoints as JSON to this file once listening.")
    var readyFile: String?

    @OptionGroup var security: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try checkEndpoint(publishers, "--publishers (or PBT_EVENTS_PUBLISH_BIND)", binding: true)
        try checkEndpoint(subscribers, "--subscribers (or PBT_EVENTS_SUBSCRIBE_BIND)", binding: true)
        if publishers == subscribers, !publishers.hasSuffix(":*") {
            throw ValidationError("--publishers and --subscribers are the same endpoint, \(publishers): give two")
        }
    }

    func run() throws {
        try runReportingErrors {
            let logger = logging.bootstrap("pbt.events")
            var options = EventProxyStage.Options(
                publishers: publishers, subscribers: subscribers, readyFile: readyFile)
            options.security = try security.load(for: .binds, logger: logger)
            return try EventProxyStage(options: options, logger: logger).run()
        }
    }
}
