import Foundation
import PBTConfig
import PBTCore
import PBTSystem
import PBTWire

/// `pbt bench quality`: PBT against random search and a grid of fixed hyperparameters, at
/// the same budget of training steps, over several seeds, on the toy and on digits.
///
/// Each run is a real `pbt run` of a variant of a shipped experiment file; only the seed,
/// the budget and the search method change between variants.
public struct QualityBench {
    public struct Options: Sendable {
        public var executable: String
        public var repository: String
        public var seeds: Int
        public var workloads: [String]
        public var trainers: Int
        public var output: String
        /// Method names to run (see `Method.all`); empty: all.
        public var methods: [String]

        public init(
            executable: String, repository: String, seeds: Int, workloads: [String], trainers: Int, output: String,
            methods: [String] = []
        ) {
            self.methods = methods
            self.executable = executable
            self.repository = repository
            self.seeds = seeds
            self.workloads = workloads
            self.trainers = trainers
            self.output = output
        }
    }

    /// One workload's setup: its shipped file, its target, and its grid.
    struct Workload {
        let name: String
        let file: String
        let population: Int
        let maxSteps: Int
        let target: Double
        /// Fixed hyperparameters, one entry a member, as YAML.
        let grid: String
        /// The file's own starting points (toy: h = (1, 0) and (0, 1)), as YAML entries.
        var starts: [String] = []

        func initial(_ population: Int) -> String {
            "[" + starts.prefix(population).joined(separator: ", ") + "]"
        }
    }

    static let workloads: [Workload] = [
        Workload(
            name: "toy", file: "topologies/experiments/toy.yml", population: 2, maxSteps: 200, target: 1.19,
            grid: "[{h0: 1, h1: 0}, {h0: 0, h1: 1}]", starts: ["{h0: 1, h1: 0}", "{h0: 0, h1: 1}"]),
        Workload(
            name: "digits", file: "topologies/experiments/digits.yml", population: 8, maxSteps: 3000, target: 0.96,
            grid: "["
                + [0.01, 0.03, 0.1, 0.3].flatMap { lr in
                    [32, 128].map { "{lr: \(lr), batch_size: \($0), momentum: 0.9, weight_decay: 1.0e-4}" }
                }.joined(separator: ", ") + "]"),
    ]

    /// The names `--method` takes, in the table's order.
    public static var methodNames: [String] { Method.all.map(\.name) }

    /// A search method: how it changes the shipped experiment.
    struct Method: Sendable {
        let name: String
        let label: String
        /// nil: the experiment's own population.
        let population: Int?
        let exploit: String?
        let explore: String?
        let fixed: Bool
        let sampled: Bool
        /// A top-level setting this method takes out of the file; it runs only on workloads
        /// whose file has it.
        var removes: String? = nil

        static let all: [Method] = [
            Method(
                name: "pbt", label: "PBT (truncation)", population: nil, exploit: nil, explore: nil, fixed: false,
                sampled: false),
            Method(
                name: "pbt-async", label: "PBT, no max_lead", population: nil, exploit: nil, explore: nil,
                fixed: false, sampled: false, removes: "max_lead"),
            Method(
                name: "ttest", label: "PBT (t-test)", population: nil,
                exploit: "{strategy: t_test, window: 4, p_value: 0.1}", explore: nil, fixed: false, sampled: false),
            Method(
                name: "pb2-4", label: "PB2, population 4", population: 4, exploit: nil, explore: "{strategy: pb2}",
                fixed: false, sampled: false),
            Method(
                name: "pbt-4", label: "PBT, population 4", population: 4, exploit: nil, explore: nil, fixed: false,
                sampled: false),
            Method(
                name: "pbt-8", label: "PBT, population 8", population: 8, exploit: nil, explore: nil, fixed: false,
                sampled: false),
            Method(
                name: "random", label: "random search", population: nil, exploit: "{strategy: none}",
                explore: "{strategy: none}", fixed: false, sampled: true),
            Method(
                name: "grid", label: "grid", population: nil, exploit: "{strategy: none}", explore: "{strategy: none}",
                fixed: true, sampled: false),
        ]
    }

    struct Outcome {
        let best: Double
        let steps: Int
        let stepsToTarget: Int?
        let seconds: Double
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Runs every variant and prints the table. Returns the table's text.
    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        var table = BenchTable([
            "workload", "method", "runs", "best score: median", "mean ± sd", "[min, max]", "member-steps (median)",
            "reached target", "member-steps to target (median)",
        ])
        var medians: [String: [String: Double]] = [:]
        for workload in Self.workloads where options.workloads.contains(workload.name) {
            let base = try String(contentsOfFile: options.repository + "/" + workload.file, encoding: .utf8)
            for method in Method.all where options.methods.isEmpty || options.methods.contains(method.name) {
                if let setting = method.removes, !base.contains("\n\(setting):") { continue }
                var outcomes: [Outcome] = []
                for seed in 1...options.seeds {
                    let outcome = try runOne(workload: workload, base: base, method: method, seed: seed)
                    log(
                        String(
                            format: "%@ %@ seed %d: best %.4f, %d member-steps, %@, %.1f s", workload.name,
                            method.label, seed, outcome.best, outcome.steps,
                            outcome.stepsToTarget.map { "target after \($0)" } ?? "target not reached", outcome.seconds)
                    )
                    outcomes.append(outcome)
                }
                let bests = outcomes.map(\.best)
                let reached = outcomes.compactMap(\.stepsToTarget).map(Double.init)
                medians[workload.name, default: [:]][method.name] = Statistics.median(bests)
                table.add([
                    workload.name, method.label, String(outcomes.count),
                    String(format: "%.4f", Statistics.median(bests) ?? .nan),
                    String(format: "%.4f ± %.4f", Statistics.mean(bests), Statistics.standardDeviation(bests)),
                    String(format: "[%.4f, %.4f]", bests.min() ?? .nan, bests.max() ?? .nan),
                    String(Int(Statistics.median(outcomes.map { Double($0.steps) }) ?? 0)),
                    "\(reached.count)/\(outcomes.count) (≥ \(workload.target))",
                    reached.isEmpty ? "-" : String(Int(Statistics.median(reached)!)),
                ])
            }
        }
        var text = table.description
        for (name, byMethod) in medians.sorted(by: { $0.key < $1.key }) {
            if let pbt = byMethod["pbt"], let random = byMethod["random"] {
                text +=
                    "\n\(name): PBT's median best \(String(format: "%.4f", pbt)) \(pbt > random ? "beats" : "does not beat") random search's \(String(format: "%.4f", random))"
            }
        }
        return text
    }

    func runOne(workload: Workload, base: String, method: Method, seed: Int) throws -> Outcome {
        let population = method.population ?? workload.population
        let name = "\(workload.name)-\(method.name)-\(seed)"
        var changes: [ExperimentVariant.Change] = [
            .set("name", yaml: name),
            .set("seed", yaml: String(seed)),
            .set("population", yaml: String(population)),
            .set("stop.total_steps", yaml: String(population * workload.maxSteps)),
        ]
        if let exploit = method.exploit { changes.append(.set("exploit", yaml: exploit)) }
        if let explore = method.explore { changes.append(.set("explore", yaml: explore)) }
        if method.sampled { changes.append(.remove("initial")) }
        if let setting = method.removes { changes.append(.remove(setting)) }
        if method.fixed { changes.append(.set("initial", yaml: workload.grid)) }
        if population < workload.population, !method.sampled, !method.fixed, base.contains("initial:") {
            // Keep as many of the file's starting points as there are members.
            changes.append(.set("initial", yaml: workload.initial(population)))
        }
        let (run, summary, seconds) = try Self.runVariant(
            of: base, changes, name: name, executable: options.executable, output: options.output,
            arguments: ["--trainers", String(options.trainers)])
        let best = (summary["best"] as? [String: Any])?["score"] as? Double ?? .nan
        let steps = summary["steps"] as? Int ?? 0
        return Outcome(
            best: best, steps: steps,
            stepsToTarget: try Self.stepsToTarget(events: run + "/events.jsonl", target: workload.target),
            seconds: seconds)
    }

    /// Writes the variant `changes` make of the experiment text `base` as OUTPUT/NAME.yml, runs
    /// it with `pbt run` into OUTPUT/NAME (log: OUTPUT/NAME.log), and returns the run
    /// directory, its `summary.json` and the seconds it took.
    static func runVariant(
        of base: String, _ changes: [ExperimentVariant.Change], name: String, executable: String, output: String,
        arguments: [String]
    ) throws -> (run: String, summary: [String: Any], seconds: Double) {
        let file = "\(output)/\(name).yml"
        let run = "\(output)/\(name)"
        try? FileManager.default.removeItem(atPath: run)
        try ExperimentVariant.make(from: base, changes).write(toFile: file, atomically: true, encoding: .utf8)
        let started = Clock.monotonic
        let process = try ChildProcess(
            executable: executable, arguments: ["run", file, "--output", run, "--quiet"] + arguments,
            output: "\(output)/\(name).log")
        guard let end = process.wait(seconds: 3600), end.succeeded else {
            throw BenchError("pbt run \(file) failed; see \(output)/\(name).log")
        }
        let seconds = Clock.monotonic - started
        let summary =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json")))
            as? [String: Any] ?? [:]
        return (run, summary, seconds)
    }

    /// Member-steps trained before the first score at or above `target`, from the event log.
    static func stepsToTarget(events: String, target: Double) throws -> Int? {
        var trained = 0
        for timed in try BenchEvents.read(events) {
            switch timed.event {
            case .memberTrained(let event): trained += event.stepsTrained
            case .memberScored(_, _, _, let score, _) where score >= target: return trained
            default: break
            }
        }
        return nil
    }
}

/// A run's event log, read through the event contract.
enum BenchEvents {
    /// The events of the `events.jsonl` at `path` (lines that are not events are skipped).
    static func read(_ path: String) throws -> [TimedEvent] {
        EventLog(text: try String(contentsOfFile: path, encoding: .utf8)).events
    }
}

/// A bench that could not run.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
