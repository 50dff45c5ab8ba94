import ArgumentParser
import Foundation
import PBTBench
import PBTSystem

/// `pbt bench`: benchmarks that print tables, each figure beside a baseline measured in the
/// same invocation. Build with `-c release` for meaningful figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks: search quality, workload throughput, command-workload cost.",
        subcommands: [
            QualityBenchCommand.self, MLPBenchCommand.self, CommandBenchCommand.self, CheckpointBenchCommand.self, PipelineBenchCommand.self,
            CurveBenchCommand.self, EventsBenchCommand.self, RawHubCommand.self, RawWorkerCommand.self,
        ])
}

/// Where the repository is (for the shipped experiments, data and trainers).
struct RepositoryOption: ParsableArguments {
    @Option(name: .long, help: "The repository root (default: the working directory).")
    var repository: String = FileManager.default.currentDirectoryPath

    func validate() throws {
        guard FileManager.default.fileExists(atPath: repository + "/topologies/experiments/toy.yml") else {
            throw ValidationError("\(repository) is not the pbt repository (no topologies/experiments/toy.yml); run from its root or pass --repository")
        }
    }
}

struct QualityBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality", abstract: "PBT against random search and a grid at equal budgets, over seeds, on toy and digits.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, help: "Seeds a method and workload.")
    var seeds = 9

    @Option(name: .long, help: "Workloads: toy, digits (repeatable).")
    var workload: [String] = ["toy", "digits"]

    @Option(name: .long, help: "Trainers a run.")
    var trainers = 2

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-quality"

    @Option(name: .long, help: "Methods (repeatable): pbt, ttest, pb2-4, pbt-4, pbt-8, random, grid (default: all).")
    var method: [String] = []

    func validate() throws {
        guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be between 1 and 100, got \(seeds)") }
        for name in workload where !["toy", "digits"].contains(name) { throw ValidationError("--workload must be toy or digits, got '\(name)'") }
    }

    func run() throws {
        let bench = QualityBench(options: .init(
            executable: currentExecutablePath, repository: repository.repository, seeds: seeds, workloads: workload, trainers: trainers, output: output,
            methods: method))
        try runBench(bench.run)
    }
}

struct MLPBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp", abstract: "The mlp workload's training throughput beside numpy's on the same network.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, help: "Minibatches a measurement.")
    var steps = 2000

    func run() throws {
        try runBench(MLPThroughputBench(repository: repository.repository, steps: steps).run)
    }
}

struct CommandBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command", abstract: "What a step costs the command workload, once and persistent, with a program that does no work.")

    @Option(name: .long, help: "Requests a measurement.")
    var requests = 200

    @Option(name: .long, help: "The Python interpreter to start.")
    var python = "python3"

    func run() throws {
        try runBench(CommandCostBench(requests: requests, python: python).run)
    }
}

struct CheckpointBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints", abstract: "Disk used by checkpoints over a long digits run, with and without garbage collection.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, help: "Minibatches a member.")
    var maxSteps = 6000

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-checkpoints"

    func run() throws {
        try runBench(CheckpointBench(executable: currentExecutablePath, repository: repository.repository, maxSteps: maxSteps, output: output).run)
    }
}

struct PipelineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "The pipeline beside raw ZeroMQ: throughput, turnaround, utilisation, selector scale, growth.")

    @Flag(name: .long, help: "Small sizes: check that every part runs and prints its table.")
    var smoke = false

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-pipeline"

    func run() throws {
        try runBench(PipelineBench(options: .init(executable: currentExecutablePath, output: output, smoke: smoke)).run)
    }
}

struct EventsBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "What reading the event stream costs a subscriber (the exporter), beside JSONSerialization and the pipeline's event rate.")

    @Option(name: .long, help: "An events.jsonl to read (default: make one with a no-op run of population 64 on 4 trainers).")
    var events: String?

    @Option(name: .long, help: "Seconds each measurement runs.")
    var seconds = 2.0

    @Option(name: .long, help: "Where the run goes.")
    var output = "runs/bench-events"

    func validate() throws {
        guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds must be between 0 and 600, got \(seconds)") }
        if let events, !FileManager.default.fileExists(atPath: events) { throw ValidationError("--events: no file at \(events)") }
    }

    func run() throws {
        try runBench(EventsBench(options: .init(executable: currentExecutablePath, output: output, events: events, seconds: seconds)).run)
    }
}

struct CurveBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve", abstract: "What CURVE costs: the pipeline and a socket pair with and without it, in one invocation.")

    @Option(name: .long, help: "Rounds; each measures with and without CURVE back to back.")
    var rounds = 3

    @Flag(name: .long, help: "Small sizes: check that every part runs and prints its table.")
    var smoke = false

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-curve"

    func validate() throws {
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds must be between 1 and 50, got \(rounds)") }
    }

    func run() throws {
        try runBench(CurveBench(options: .init(executable: currentExecutablePath, output: output, rounds: rounds, smoke: smoke)).run)
    }
}

struct RawHubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "raw-hub", abstract: "The raw ZeroMQ baseline's hub.", shouldDisplay: false)

    @Option var bind = "tcp://127.0.0.1:*"
    @Option var trainers = 4
    @Option var evaluators = 1
    @Option var inFlight = 64
    @Option var size = 120
    @Option var seconds = 3.0
    @Option(help: "Messages a trainer may hold at once (default: unbounded).") var trainerWindow: Int?
    @Option(help: "Messages an evaluator may hold at once (default: unbounded).") var evaluatorWindow: Int?
    @Option var readyFile: String?

    func validate() throws {
        for (name, window) in [("--trainer-window", trainerWindow), ("--evaluator-window", evaluatorWindow)] {
            if let window, window < 1 { throw ValidationError("\(name) must be at least 1, got \(window)") }
        }
        guard trainers >= 1, evaluators >= 1, inFlight >= 1 else { throw ValidationError("--trainers, --evaluators and --in-flight must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            try RawRing.hub(bind: bind, trainers: trainers, evaluators: evaluators, inFlight: inFlight, size: size, seconds: seconds,
                windows: .init(trainer: trainerWindow, evaluator: evaluatorWindow), readyFile: readyFile)
            return 0
        }
    }
}

struct RawWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "raw-worker", abstract: "The raw ZeroMQ baseline's worker.", shouldDisplay: false)

    @Option var connect: String
    @Flag var evaluator = false
    @Option var turnaroundLog: String?

    func run() throws {
        try runReportingErrors {
            try RawRing.worker(connect: connect, trainer: !evaluator, turnaroundLog: turnaroundLog)
            return 0
        }
    }
}

/// Runs a bench: its progress lines go to stderr, its tables to stdout, and its errors are
/// reported as every command reports them.
func runBench(_ bench: (_ log: (String) -> Void) throws -> String) throws {
    try runReportingErrors {
        print(try bench { StandardStream.error.write($0 + "\n") })
        return 0
    }
}
