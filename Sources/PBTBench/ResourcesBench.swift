import Foundation
import PBTConfig
import PBTSystem

#if canImport(Glibc)
import Glibc
#endif

/// `pbt bench resources`: `digits-python.yml` (numpy trainers) under `pbt run`, with each
/// trainer's thread budget and with the environment left alone (`resources: {threads:
/// inherit}`), alternating, in one invocation. Wall time and the CPU seconds of the whole
/// process tree (`pbt run`, its stages and every Python program they started).
public struct ResourcesBench {
    public struct Options: Sendable {
        public var executable: String
        public var repository: String
        public var output: String
        public var trainers: Int
        /// Runs of each kind, alternating.
        public var rounds: Int

        public init(executable: String, repository: String, output: String, trainers: Int, rounds: Int) {
            self.executable = executable
            self.repository = repository
            self.output = output
            self.trainers = trainers
            self.rounds = rounds
        }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// One run's cost.
    struct Cost {
        var wall: Double
        var cpu: Double
        var score: Double?
    }

    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        let experiments = options.repository + "/topologies/experiments"
        let base = try String(contentsOfFile: experiments + "/digits-python.yml", encoding: .utf8)
        let cores = Cores.usable
        let budget = ThreadBudget.shared(cores: cores, trainers: options.trainers)
        var files: [String: String] = [:]
        for (kind, threads) in [("budget", "auto"), ("inherit", "inherit")] {
            let text = try ExperimentVariant.make(
                from: base,
                [
                    .set("name", yaml: "resources-\(kind)"), .set("directory", yaml: "\"\(experiments)\""),
                    .set("resources", yaml: "{threads: \(threads)}"),
                ])
            let file = "\(options.output)/\(kind).yml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            files[kind] = file
        }
        var costs: [String: [Cost]] = ["budget": [], "inherit": []]
        for round in 1...options.rounds {
            for kind in ["budget", "inherit"] {
                log("round \(round) of \(options.rounds): \(kind)")
                costs[kind, default: []].append(try measure(files[kind]!, name: "\(kind)-\(round)"))
            }
        }
        var table = BenchTable([
            "digits-python, \(options.trainers) trainers", "runs", "wall s (median)", "CPU s (median)",
            "CPU ÷ budgeted", "best score (median)",
        ])
        let reference = Statistics.median(costs["budget"]!.map(\.cpu)) ?? 1
        for (kind, label) in [
            ("budget", "thread budget: \(budget.threads) a trainer (\(budget.source))"),
            ("inherit", "environment left alone (threads: inherit)"),
        ] {
            let runs = costs[kind]!
            let cpu = Statistics.median(runs.map(\.cpu)) ?? 0
            table.add([
                label, String(runs.count), String(format: "%.2f", Statistics.median(runs.map(\.wall)) ?? 0),
                String(format: "%.2f", cpu),
                String(format: "%.2f×", cpu / max(reference, 1e-9)),
                (Statistics.median(runs.compactMap(\.score))).map { String(format: "%.4f", $0) } ?? "-",
            ])
        }
        let every = ["budget", "inherit"].map { kind in
            "\(kind): "
                + costs[kind]!.map { String(format: "%.2f s wall, %.2f s CPU", $0.wall, $0.cpu) }.joined(
                    separator: "; ")
        }.joined(separator: "\n")
        return
            "Resources (pbt run topologies/experiments/digits-python.yml --trainers \(options.trainers); \(cores) cores; CPU: user + system of the whole process tree)\n"
            + table.description + "\nEvery run:\n" + every
    }

    /// Runs `pbt run FILE` and measures its wall time and its process tree's CPU time: the
    /// children's rusage, which holds every descendant that was waited for.
    func measure(_ file: String, name: String) throws -> Cost {
        let before = Self.childrenCPU()
        let start = Clock.monotonic
        let run = "\(options.output)/\(name)"
        try? FileManager.default.removeItem(atPath: run)
        let process = try ChildProcess(
            executable: options.executable,
            arguments: [
                "run", file, "--output", run, "--quiet", "--metrics", "none", "--trainers", String(options.trainers),
            ],
            output: "\(options.output)/\(name).log")
        guard process.wait(seconds: 3600)?.succeeded == true else {
            throw BenchError("pbt run \(file) failed; see \(options.output)/\(name).log")
        }
        let wall = Clock.monotonic - start
        var score: Double?
        if let data = FileManager.default.contents(atPath: run + "/summary.json"),
            let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let best = summary["best"] as? [String: Any]
        {
            score = best["score"] as? Double
        }
        return Cost(wall: wall, cpu: Self.childrenCPU() - before, score: score)
    }

    /// User and system seconds of every child (and their descendants) reaped so far.
    static func childrenCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
