import PBTSystem
import ArgumentParser
import Foundation
import PBTConfig
import PBTStages
import PBTWatch
import PBTWorkloads

/// `pbt run EXPERIMENT.yml`: the whole pipeline on this machine.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run an experiment end to end on this machine, each stage its own process (--in-process: a thread each).",
        discussion:
            "Writes the run directory (experiment.yml, events.jsonl, summary.json, checkpoints/, logs/) and prints the best member."
    )

    @Argument(help: "The experiment file (YAML).")
    var experiment: String?

    @Option(name: .long, help: "Go on with an interrupted run: its directory (the experiment is the one it holds).")
    var resume: String?

    @Flag(
        name: .long,
        help:
            "With --resume: go on although events.jsonl lost part of what the store committed to it (the record keeps a gap)."
    )
    var acceptPartialLog = false

    // These take a negative number as their value (for the range check to refuse), not as a flag.
    @Option(name: .long, parsing: .unconditional, help: "Trainers to start (processes; threads with --in-process).")
    var trainers: Int = defaultTrainers

    static let defaultTrainers = 2

    @Option(name: .long, parsing: .unconditional, help: "Evaluators to start (processes; threads with --in-process).")
    var evaluators: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "Mutators to start (processes; threads with --in-process).")
    var mutators: Int = 1

    @Option(name: [.short, .long], help: "The run directory (default: runs/NAME-YYYYMMDD-HHMMSS).")
    var output: String?

    @Flag(name: .long, help: "Print only the outcome, no progress.")
    var quiet = false

    @Option(name: .long, help: "Where to serve Prometheus metrics, HOST:PORT (port 0: a free one), or 'none'.")
    var metrics: String = "127.0.0.1:0"

    @Option(
        name: .long,
        help:
            "Write TensorBoard event files into this directory as the run goes (one run a member; then: tensorboard --logdir DIR)."
    )
    var tensorboard: String?

    @Option(name: .long, help: "How the stages talk: ipc (Unix domain sockets) or tcp (loopback).")
    var transport: String = "ipc"

    @Flag(
        name: .long,
        help:
            "CURVE on every socket, with keys made in RUN_DIR/keys (on by itself when the experiment says security: {curve: true})."
    )
    var secure = false

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "GPU devices to deal to the trainers, e.g. 0,1,2,3: resources.gpus each (1 if the experiment asks for none), as CUDA_VISIBLE_DEVICES.",
            valueName: "ids"))
    var gpus: String?

    @Flag(
        name: .long,
        help:
            "Run the event proxy, the selector, the evaluators, the mutators and the trainers as threads of this process, over inproc:// (faster on one machine; no trainer can join from elsewhere, no CURVE)."
    )
    var inProcess = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let gpus, case .failure(let problem) = DeviceAssignment.parse(gpus) {
            throw ValidationError("--gpus: \(problem)")
        }
        switch (experiment, resume) {
        case (nil, nil): throw ValidationError("give an experiment file, or --resume RUN_DIR")
        case (.some, .some): throw ValidationError("give an experiment file or --resume RUN_DIR, not both")
        default: break
        }
        if resume != nil, output != nil {
            throw ValidationError("--resume continues in its own directory; drop --output")
        }
        if acceptPartialLog, resume == nil {
            throw ValidationError("--accept-partial-log goes with --resume RUN_DIR")
        }
        guard ["ipc", "tcp"].contains(transport) else {
            throw ValidationError("--transport must be ipc or tcp, got '\(transport)'")
        }
        guard (1...256).contains(trainers) else {
            throw ValidationError("--trainers must be between 1 and 256, got \(trainers)")
        }
        guard (1...64).contains(evaluators) else {
            throw ValidationError("--evaluators must be between 1 and 64, got \(evaluators)")
        }
        guard (1...64).contains(mutators) else {
            throw ValidationError("--mutators must be between 1 and 64, got \(mutators)")
        }
        if inProcess, secure {
            throw ValidationError(
                "--in-process runs the stages in one process over inproc://, which has no CURVE: drop --secure or --in-process"
            )
        }
        if metrics != "none" {
            do {
                _ = try ExporterStage.endpoint(listen: metrics, flag: "--metrics")
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    func run() throws {
        try runReportingErrors {
            let file = resume.map { $0 + "/experiment.yml" } ?? self.experiment ?? ""
            if let resume, !FileManager.default.fileExists(atPath: file) {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: resume, isDirectory: &isDirectory) else {
                    throw UserError("--resume \(resume): no such directory")
                }
                guard isDirectory.boolValue else { throw UserError("--resume \(resume): not a directory") }
                throw UserError("\(resume) is not a run directory (no experiment.yml in it)")
            }
            let experiment = try loadExperiment(file)
            // An address the exporter cannot listen on is refused before anything starts or
            // the run directory is made (the exporter would stop at once, and the run with it).
            if metrics != "none" {
                let (host, port) = try ExporterStage.endpoint(listen: metrics, flag: "--metrics")
                do {
                    _ = try HTTPResponder(host: host, port: port)
                } catch {
                    throw UserError("--metrics \(metrics): cannot listen there: \(error)")
                }
            }
            do {
                _ = try Workloads.make(for: experiment)
                try Workloads.checkRunnable(experiment)
            } catch {
                throw UserError("\(file): \(error)")
            }
            for warning in experiment.warnings { StandardStream.error.write("warning: \(file): \(warning)\n") }
            let keyVariables = RunSupervisor.clearedKeyVariables.keys.sorted().filter { environment($0) != nil }
            if !keyVariables.isEmpty {
                StandardStream.error.write(
                    "warning: pbt run does not pass \(keyVariables.joined(separator: ", ")) to its stages: --secure makes the run's own keys\n"
                )
            }
            var options = RunSupervisor.Options(
                experiment: experiment, output: resume ?? output, resume: resume != nil, trainers: trainers,
                evaluators: evaluators,
                mutators: mutators, executable: currentExecutablePath, logLevel: logging.logLevel, quiet: quiet,
                metrics: metrics == "none" ? nil : metrics)
            options.transport = transport
            options.secure = secure
            options.tensorboard = tensorboard
            options.gpus = gpus.flatMap { try? DeviceAssignment.parse($0).get() }
            options.inProcess = inProcess
            options.acceptPartialLog = acceptPartialLog
            return try RunSupervisor(options: options).run()
        }
    }
}

/// `pbt validate EXPERIMENT.yml`: checks a file without running it.
extension ValidateCommand {
    /// The thread budget and GPUs the file asks for, and what they come to on this machine.
    static func describe(_ resources: ResourceSettings) -> String {
        let threads: String
        switch resources.threads {
        case .inherit: threads = "threads inherit (OMP_NUM_THREADS and the like left as they are)"
        case .count(let count): threads = "threads \(count) a trainer"
        case .auto:
            let share = ThreadBudget.shared(cores: Cores.usable, trainers: RunCommand.defaultTrainers)
            threads =
                "threads auto (here, pbt run with \(RunCommand.defaultTrainers) trainers: \(share.threads) a trainer, \(share.source))"
        }
        let gpus =
            resources.gpus == 0
            ? "no GPUs"
            : "\(resources.gpus) GPU\(resources.gpus == 1 ? "" : "s") a trainer\(resources.shareGPUs ? ", shared when too few" : "")"
        return threads + "; " + gpus
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check an experiment file and print what it describes.")

    @Argument(help: "The experiment file (YAML).")
    var experiment: String

    func run() throws {
        try runReportingErrors {
            let loaded = try loadExperiment(experiment)
            do {
                _ = try Workloads.make(for: loaded)
                try Workloads.checkRunnable(loaded)
            } catch {
                throw UserError("\(experiment): \(error)")
            }
            print("\(experiment): ok")
            for line in loaded.settingsDescription { print("  " + line) }
            for parameter in loaded.space.parameters {
                print("  hyperparameter \(parameter.name): \(parameter.domain.described)")
            }
            print("  resources: " + Self.describe(loaded.resources))
            for warning in loaded.warnings { print("  warning: " + warning) }
            return 0
        }
    }
}
