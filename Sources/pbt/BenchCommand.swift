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
            QualityBenchCommand.self, RLBenchCommand.self, MLPBenchCommand.self, A2CBenchCommand.self,
            CommandBenchCommand.self,
            CheckpointBenchCommand.self, TransferBenchCommand.self, ScaleBenchCommand.self,
            SimulatedTrainersCommand.self,
            PipelineBenchCommand.self,
            CurveBenchCommand.self, EventsBenchCommand.self, ResourcesBenchCommand.self, StartupBenchCommand.self,
            RawHubCommand.self,
            RawWorkerCommand.self,
        ])
}

/// Where the repository is (for the shipped experiments, data and trainers).
struct RepositoryOption: ParsableArguments {
    @Option(name: .long, help: "The repository root (default: the working directory).")
    var repository: String = FileManager.default.currentDirectoryPath

    func validate() throws {
        guard FileManager.default.fileExists(atPath: repository + "/topologies/experiments/toy.yml") else {
            throw ValidationError(
                "\(repository) is not the pbt repository (no topologies/experiments/toy.yml); run from its root or pass --repository"
            )
        }
    }
}

struct QualityBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "PBT against random search and a grid at equal budgets, over seeds, on toy and digits.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Seeds a method and workload.")
    var seeds = 9

    @Option(name: .long, help: "Workloads: toy, digits (repeatable).")
    var workload: [String] = ["toy", "digits"]

    @Option(name: .long, parsing: .unconditional, help: "Trainers a run.")
    var trainers = 2

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-quality"

    @Option(
        name: .long,
        help:
            "Methods (repeatable): pbt, pbt-async (the file without max_lead, where it has one), ttest, pb2-4, pbt-4, pbt-8, random, grid (default: all)."
    )
    var method: [String] = []

    func validate() throws {
        guard (1...100).contains(seeds) else {
            throw ValidationError("--seeds must be between 1 and 100, got \(seeds)")
        }
        for name in workload where !["toy", "digits"].contains(name) {
            throw ValidationError("--workload must be toy or digits, got '\(name)'")
        }
        for name in method where !QualityBench.methodNames.contains(name) {
            throw ValidationError(
                "--method must be one of \(QualityBench.methodNames.joined(separator: ", ")), got '\(name)'")
        }
    }

    func run() throws {
        let bench = QualityBench(
            options: .init(
                executable: currentExecutablePath, repository: repository.repository, seeds: seeds, workloads: workload,
                trainers: trainers, output: output,
                methods: method))
        try runBench(bench.run)
    }
}

struct MLPBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp", abstract: "The mlp workload's training throughput beside numpy's on the same network.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Minibatches a measurement.")
    var steps = 2000

    func run() throws {
        try runBench(MLPThroughputBench(repository: repository.repository, steps: steps).run)
    }
}

struct RLBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rl",
        abstract:
            "PBT against random search and a grid on CartPole and Acrobot (a2c) at equal frames: held-out test returns, members above a threshold, frames to reach it."
    )

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Seeds a method and task.")
    var seeds = 9

    @Option(name: .long, help: "Tasks: cartpole, acrobot (repeatable).")
    var task: [String] = ["cartpole", "acrobot"]

    @Option(name: .long, help: "Methods (repeatable): pbt, ttest, random, grid, pbt-4, random-4 (default: all).")
    var method: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Trainers a run.")
    var trainers = 2

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-rl"

    func validate() throws {
        guard (1...100).contains(seeds) else {
            throw ValidationError("--seeds must be between 1 and 100, got \(seeds)")
        }
        for name in task where !["cartpole", "acrobot"].contains(name) {
            throw ValidationError("--task must be cartpole or acrobot, got '\(name)'")
        }
        for name in method where !RLQualityBench.methodNames.contains(name) {
            throw ValidationError(
                "--method must be one of \(RLQualityBench.methodNames.joined(separator: ", ")), got '\(name)'")
        }
    }

    func run() throws {
        try runBench(
            RLQualityBench(
                options: .init(
                    executable: currentExecutablePath, repository: repository.repository, seeds: seeds,
                    environments: task, methods: method,
                    trainers: trainers, output: output)
            ).run)
    }
}

struct A2CBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "a2c",
        abstract: "The a2c workload's frames/s on CartPole beside the same agent in numpy on gymnasium's CartPole.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, help: "Frames a measurement.")
    var frames = 100_000

    func validate() throws {
        guard (128...100_000_000).contains(frames) else {
            throw ValidationError("--frames must be between 128 and 100,000,000, got \(frames)")
        }
    }

    func run() throws {
        try runBench(A2CThroughputBench(repository: repository.repository, frames: frames).run)
    }
}

struct CommandBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "What a step costs the command workload, once and persistent, with a program that does no work.")

    @Option(name: .long, parsing: .unconditional, help: "Requests a measurement.")
    var requests = 200

    @Option(name: .long, help: "The Python interpreter to start.")
    var python = "python3"

    func run() throws {
        try runBench(CommandCostBench(requests: requests, python: python).run)
    }
}

struct CheckpointBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "Disk used by checkpoints over a long digits run, with and without garbage collection.")

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Minibatches a member.")
    var maxSteps = 6000

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-checkpoints"

    func run() throws {
        try runBench(
            CheckpointBench(
                executable: currentExecutablePath, repository: repository.repository, maxSteps: maxSteps, output: output
            ).run)
    }
}

/// A comma-separated list of whole numbers, each within a range (`10,100,1000`); nil when any is not.
enum CountList {
    static func parse(_ text: String, in range: ClosedRange<Int>) -> [Int]? {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map(range.contains) ?? false }) else { return nil }
        return values.compactMap { $0 }
    }
}

struct TransferBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract:
            "Checkpoints stored at and fetched from the selector's checkpoint service, beside a file copy and a raw ZeroMQ transfer of the same bytes."
    )

    @Option(name: .long, help: "Checkpoint sizes in MiB, comma-separated.")
    var sizes = "1,100,1024"

    @Option(name: .long, help: "Where the files go.")
    var output = "runs/bench-transfer"

    func validate() throws {
        guard CountList.parse(sizes, in: 1...(64 * 1024)) != nil else {
            throw ValidationError(
                "--sizes must be sizes in MiB from 1 to 65536, comma-separated, got '\(sizes.prefix(40))'")
        }
    }

    func run() throws {
        let bytes = (CountList.parse(sizes, in: 1...(64 * 1024)) ?? []).map { $0 << 20 }
        try runBench(TransferBench(executable: currentExecutablePath, output: output, sizes: bytes).run)
    }
}

struct ScaleBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract:
            "One selector and 10, 100, 1,000 simulated trainers (steps of 10–100 ms): decisions/s, turnaround, the selector's CPU and memory."
    )

    @Option(name: .long, parsing: .unconditional, help: "Trainer counts, comma-separated.")
    var trainers = "10,100,1000"

    @Option(name: .long, parsing: .unconditional, help: "Seconds each count runs.")
    var seconds = 20.0

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-scale"

    func validate() throws {
        guard CountList.parse(trainers, in: 1...10_000) != nil else {
            throw ValidationError(
                "--trainers must be counts from 1 to 10000, comma-separated, got '\(trainers.prefix(40))'")
        }
        guard seconds >= 2 && seconds <= 3600 else { throw ValidationError("--seconds must be from 2 to 3600") }
    }

    func run() throws {
        let counts = CountList.parse(trainers, in: 1...10_000) ?? []
        try runBench(
            ScaleBench(executable: currentExecutablePath, output: output, counts: counts, seconds: seconds).run)
    }
}

struct SimulatedTrainersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim-trainers", abstract: "Simulated trainers for pbt bench scale.", shouldDisplay: false)

    @Option var connect: String
    @Option(parsing: .unconditional) var count: Int
    @Option var checkpoints: String
    @Option(parsing: .unconditional) var seconds: Double
    @Option var output: String
    @Option var prefix: String

    func run() throws {
        try runReportingErrors {
            try SimulatedTrainers(
                connect: connect, count: count, stepRange: 0.01...0.1, checkpoints: checkpoints, seconds: seconds,
                output: output, prefix: prefix
            ).run()
            return 0
        }
    }
}

struct PipelineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "The pipeline beside raw ZeroMQ: throughput, turnaround, utilisation, selector scale, growth.")

    @Flag(name: .long, help: "Small sizes: check that every part runs and prints its table.")
    var smoke = false

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-pipeline"

    @Option(
        name: .long,
        help:
            "Another build's pbt (an earlier commit, say): the throughput experiment runs on it and on this build, in rounds that take turns."
    )
    var baseline: String?

    @Option(name: .long, parsing: .unconditional, help: "Rounds of the --baseline comparison (1 to 100; default 3).")
    var rounds: Int?

    func validate() throws {
        if let rounds {
            guard baseline != nil else { throw ValidationError("--rounds is for --baseline: give both, or neither") }
            guard rounds >= 1 && rounds <= 100 else {
                throw ValidationError("--rounds must be 1 to 100; got \(rounds)")
            }
        }
        var directory: ObjCBool = false
        if let baseline,
            !FileManager.default.isExecutableFile(atPath: baseline)
                || (FileManager.default.fileExists(atPath: baseline, isDirectory: &directory) && directory.boolValue)
        {
            throw ValidationError(
                "--baseline \(baseline) is not an executable file: give the path of another build's pbt")
        }
    }

    func run() throws {
        try runBench(
            PipelineBench(
                options: .init(
                    executable: currentExecutablePath, output: output, smoke: smoke,
                    baseline: baseline.map {
                        $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0
                    },
                    rounds: rounds ?? 3)
            ).run)
    }
}

struct ResourcesBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resources",
        abstract:
            "digits-python (numpy trainers) with each trainer's thread budget and with the environment left alone: wall time and CPU of the whole process tree."
    )

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Trainers a run.")
    var trainers = 2

    @Option(name: .long, parsing: .unconditional, help: "Runs of each kind, alternating.")
    var rounds = 3

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-resources"

    func validate() throws {
        guard (1...64).contains(trainers) else {
            throw ValidationError("--trainers must be between 1 and 64, got \(trainers)")
        }
        guard (1...20).contains(rounds) else {
            throw ValidationError("--rounds must be between 1 and 20, got \(rounds)")
        }
    }

    func run() throws {
        try runBench(
            ResourcesBench(
                options: .init(
                    executable: currentExecutablePath, repository: repository.repository, output: output,
                    trainers: trainers, rounds: rounds)
            ).run)
    }
}

struct StartupBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup",
        abstract:
            "What starting and stopping the stages costs: pbt run of the toy, from the command to the first training task and from the last result to exit."
    )

    @OptionGroup var repository: RepositoryOption

    @Option(name: .long, parsing: .unconditional, help: "Runs to take the median of.")
    var runs = 7

    @Option(
        name: .long, help: "Also measure this pbt executable (an earlier build), its runs alternating with this one's.")
    var baseline: String?

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-startup"

    @Argument(parsing: .postTerminator, help: "Extra pbt run arguments, after --, e.g. -- --transport tcp.")
    var arguments: [String] = []

    func validate() throws {
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be between 1 and 100, got \(runs)") }
        if let baseline {
            guard FileManager.default.isExecutableFile(atPath: baseline) else {
                throw ValidationError("--baseline: \(baseline) is not an executable")
            }
        }
    }

    func run() throws {
        try runBench(
            StartupBench(
                options: .init(
                    executable: currentExecutablePath, repository: repository.repository, output: output, runs: runs,
                    arguments: arguments, baseline: baseline)
            ).run)
    }
}

struct EventsBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract:
            "What reading the event stream costs a subscriber (the exporter), beside JSONSerialization and the pipeline's event rate."
    )

    @Option(
        name: .long,
        help: "An events.jsonl to read (default: make one with a no-op run of population 64 on 4 trainers).")
    var events: String?

    @Option(name: .long, parsing: .unconditional, help: "Seconds each measurement runs.")
    var seconds = 2.0

    @Option(name: .long, help: "Where the run goes.")
    var output = "runs/bench-events"

    func validate() throws {
        guard seconds > 0 && seconds <= 600 else {
            throw ValidationError("--seconds must be between 0 and 600, got \(seconds)")
        }
        if let events, !FileManager.default.fileExists(atPath: events) {
            throw ValidationError("--events: no file at \(events)")
        }
    }

    func run() throws {
        try runBench(
            EventsBench(
                options: .init(executable: currentExecutablePath, output: output, events: events, seconds: seconds)
            ).run)
    }
}

struct CurveBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve",
        abstract: "What CURVE costs: the pipeline and a socket pair with and without it, in one invocation.")

    @Option(name: .long, parsing: .unconditional, help: "Rounds; each measures with and without CURVE back to back.")
    var rounds = 3

    @Flag(name: .long, help: "Small sizes: check that every part runs and prints its table.")
    var smoke = false

    @Option(name: .long, help: "Where the runs go.")
    var output = "runs/bench-curve"

    func validate() throws {
        guard (1...50).contains(rounds) else {
            throw ValidationError("--rounds must be between 1 and 50, got \(rounds)")
        }
    }

    func run() throws {
        try runBench(
            CurveBench(options: .init(executable: currentExecutablePath, output: output, rounds: rounds, smoke: smoke))
                .run)
    }
}

/// `pbt bench raw-hub`: the raw ZeroMQ ring's hub (see `RawRing`), which `pbt bench pipeline`
/// starts before its evaluators and trainers.
struct RawHubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-hub",
        abstract: "The raw ZeroMQ baseline's hub: messages go hub → trainer → evaluator → hub, the pipeline's path.",
        discussion: """
            Start the hub first, then the evaluators (pbt bench raw-worker --evaluator --connect INLET), then the \
            trainers (pbt bench raw-worker --connect WORK --evaluators E1,E2 --flow-control on|off, the same as \
            the hub's). The hub prints {"laps": …, "seconds": …, "dropped": …} and tells the workers to quit.
            """,
        shouldDisplay: false)

    @Option(
        help: "Where the hub binds its work socket: ROUTER (credits in, messages out) with flow control, PUSH without.")
    var bind = "tcp://127.0.0.1:*"
    @Option(help: "Where the hub binds its PULL, which takes messages back from the evaluators.")
    var inlet = "tcp://127.0.0.1:*"
    @Option(parsing: .unconditional, help: "Trainers to wait for.") var trainers = 4
    @Option(parsing: .unconditional, help: "Evaluators to wait for.") var evaluators = 1
    @Option(parsing: .unconditional, help: "Messages going round at once.") var inFlight = 64
    @Option(parsing: .unconditional, help: "Bytes a message.") var size = 120
    @Option(parsing: .unconditional, help: "Seconds to count laps, after a half-second warm-up.") var seconds = 3.0
    @Option(
        help: """
            on: a message waits at the hub until a trainer asks for it (the pipeline's flow control); off: PUSH/PULL \
            on every leg, messages dealt round robin and queued at the trainers. Evaluators have no window either \
            way: they PULL.
            """)
    var flowControl = "on"
    @Option(
        parsing: .unconditional,
        help: "With flow control: messages a trainer may hold at once (the pipeline's trainers hold 1).")
    var trainerWindow = 1
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("No longer applies: evaluators PULL, so there is no window to set.", visibility: .hidden))
    var evaluatorWindow: Int?
    @Option(help: #"Where to write {"endpoints": {"work": …, "inlet": …}} once bound."#) var readyFile: String?

    func validate() throws {
        guard ["on", "off"].contains(flowControl) else {
            throw ValidationError("--flow-control must be on or off, got '\(flowControl)'")
        }
        guard trainerWindow >= 1 else {
            throw ValidationError("--trainer-window must be at least 1, got \(trainerWindow)")
        }
        if evaluatorWindow != nil {
            throw ValidationError(
                "--evaluator-window no longer applies: evaluators PULL their messages, so they have no window; use --flow-control on|off"
            )
        }
        guard trainers >= 1, evaluators >= 1, inFlight >= 1 else {
            throw ValidationError("--trainers, --evaluators and --in-flight must be at least 1")
        }
        guard size >= 1 else { throw ValidationError("--size must be at least 1 byte, got \(size)") }
        guard seconds > 0 && seconds <= 3600 else {
            throw ValidationError("--seconds must be between 0 and 3600, got \(seconds)")
        }
    }

    func run() throws {
        try runReportingErrors {
            try RawRing.hub(
                work: bind, inlet: inlet, trainers: trainers, evaluators: evaluators, inFlight: inFlight, size: size,
                seconds: seconds,
                flowControl: flowControl == "on" ? .credits(window: trainerWindow) : .unbounded, readyFile: readyFile)
            return 0
        }
    }
}

/// `pbt bench raw-worker`: a trainer or an evaluator of the raw ZeroMQ ring (see `RawRing`).
struct RawWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-worker", abstract: "The raw ZeroMQ baseline's trainer (default) or evaluator.",
        shouldDisplay: false)

    @Option(help: "A trainer: the hub's work endpoint. An evaluator: the hub's inlet.") var connect: String
    @Flag(help: "Be an evaluator: bind a PULL, push every message on to the hub's inlet.") var evaluator = false
    @Option(help: "A trainer: the evaluators' endpoints, comma-separated; it pushes to them round robin.")
    var evaluators: String?
    @Option(help: "A trainer: on (a DEALER that asks the hub for each message) or off (a PULL), as the hub's.")
    var flowControl = "on"
    @Option(help: "An evaluator: where it binds its PULL.") var bind = "tcp://127.0.0.1:*"
    @Option(help: #"An evaluator: where to write {"endpoints": {"inlet": …}} once bound."#) var readyFile: String?
    @Option(help: "The name it stamps on the hub's join probes (default: role and process id).") var name: String?
    @Option(help: "A trainer: where to write its turnarounds, in seconds, one a line.") var turnaroundLog: String?

    var evaluatorEndpoints: [String] { (evaluators ?? "").split(separator: ",").map { String($0) } }

    func validate() throws {
        guard ["on", "off"].contains(flowControl) else {
            throw ValidationError("--flow-control must be on or off, got '\(flowControl)'")
        }
        if !evaluator && evaluatorEndpoints.isEmpty {
            throw ValidationError("a trainer needs --evaluators: the endpoints the evaluators bound")
        }
    }

    func run() throws {
        try runReportingErrors {
            if evaluator {
                try RawRing.evaluator(
                    bind: bind, connect: connect, name: name ?? "evaluator-\(getpid())", readyFile: readyFile)
            } else {
                try RawRing.trainer(
                    connect: connect, evaluators: evaluatorEndpoints, asksForMessages: flowControl == "on",
                    name: name ?? "trainer-\(getpid())", turnaroundLog: turnaroundLog)
            }
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
