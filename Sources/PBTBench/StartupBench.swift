import Foundation
import PBTCore
import PBTSystem

/// `pbt bench startup`: what starting and stopping the stages costs a short run. `pbt run
/// topologies/experiments/toy.yml` as a user types it, several times: from the command to the
/// first training task, and from the last result to the command's exit; beside them the
/// training in between, and the whole wall time.
public struct StartupBench {
    public struct Options: Sendable {
        public var executable: String
        public var repository: String
        public var output: String
        public var runs: Int
        /// Extra `pbt run` arguments (`--transport tcp`, `--metrics none` …).
        public var arguments: [String]
        /// Another `pbt` executable (an earlier build) measured in the same invocation.
        public var baseline: String?

        public init(
            executable: String, repository: String, output: String, runs: Int, arguments: [String] = [],
            baseline: String? = nil
        ) {
            self.baseline = baseline
            self.executable = executable
            self.repository = repository
            self.output = output
            self.runs = runs
            self.arguments = arguments
        }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// One run, in seconds.
    struct Phases {
        /// From starting `pbt run` to `experiment.started`.
        var toExperiment: Double
        /// From starting `pbt run` to the first training task (a trainer's `member.assigned`).
        var toFirstTask: Double
        /// From the first training task to the last result (`member.trained`).
        var training: Double
        /// From the last result to `pbt run`'s exit.
        var fromLastResult: Double
        var wall: Double
    }

    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        let file = options.repository + "/topologies/experiments/toy.yml"
        var runs: [Phases] = []
        var baselineRuns: [Phases] = []
        for index in 1...options.runs {
            log("run \(index) of \(options.runs)")
            runs.append(try measure(file, name: "toy-\(index)", executable: options.executable))
            if let baseline = options.baseline {
                baselineRuns.append(try measure(file, name: "baseline-\(index)", executable: baseline))
            }
        }
        let command =
            "pbt run toy.yml" + (options.arguments.isEmpty ? "" : " " + options.arguments.joined(separator: " "))
        var table = BenchTable(
            options.baseline == nil
                ? [command, "median ms", "min ms", "max ms"]
                : [
                    command, "median ms", "min ms", "max ms", "baseline median ms", "baseline min ms",
                    "baseline max ms",
                ])
        let rows: [(String, KeyPath<Phases, Double>)] = [
            ("start: command → experiment.started", \.toExperiment),
            ("start: command → first training task", \.toFirstTask),
            ("training: first task → last result", \.training), ("stop: last result → exit", \.fromLastResult),
            ("wall", \.wall),
        ]
        func cells(_ runs: [Phases], _ path: KeyPath<Phases, Double>) -> [String] {
            let values = runs.map { $0[keyPath: path] * 1000 }
            return [Statistics.median(values) ?? 0, values.min() ?? 0, values.max() ?? 0].map {
                String(format: "%.0f", $0)
            }
        }
        for (label, path) in rows {
            table.add([label] + cells(runs, path) + (options.baseline == nil ? [] : cells(baselineRuns, path)))
        }
        let baseline = options.baseline.map { "; baseline: \($0), its runs alternating with these" } ?? ""
        return
            "Start-up and shutdown (\(options.runs) runs of pbt run topologies/experiments/toy.yml, 2 trainers; times from the event log and the command's own clock\(baseline))\n"
            + table.description
    }

    func measure(_ file: String, name: String, executable: String) throws -> Phases {
        let run = "\(options.output)/\(name)"
        try? FileManager.default.removeItem(atPath: run)
        let launched = Date().timeIntervalSince1970
        let start = Clock.monotonic
        let process = try ChildProcess(
            executable: executable, arguments: ["run", file, "--output", run, "--quiet"] + options.arguments,
            output: "\(options.output)/\(name).log")
        guard process.wait(seconds: 600)?.succeeded == true else {
            throw BenchError("pbt run \(file) failed; see \(options.output)/\(name).log")
        }
        let wall = Clock.monotonic - start
        let exited = launched + wall
        var started = Double.infinity
        var firstTask = Double.infinity
        var lastResult = 0.0
        for timed in try BenchEvents.read(run + "/events.jsonl") {
            switch timed.event {
            case .experimentStarted: started = min(started, timed.time)
            case .memberAssigned(_, _, .trainer, _, _): firstTask = min(firstTask, timed.time)
            case .memberTrained: lastResult = max(lastResult, timed.time)
            default: break
            }
        }
        guard started.isFinite, firstTask.isFinite, lastResult > 0 else {
            throw BenchError("\(run)/events.jsonl has no experiment.started, training task or result")
        }
        return Phases(
            toExperiment: started - launched, toFirstTask: firstTask - launched, training: lastResult - firstTask,
            fromLastResult: exited - lastResult, wall: wall)
    }
}
