import Foundation
import PBTConfig
import PBTSystem

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

        public init(executable: String, repository: String, seeds: Int, workloads: [String], trainers: Int, output: String) {
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
    }

    static let workloads: [Workload] = [
        Workload(
            name: "toy", file: "topologies/experiments/toy.yml", population: 2, maxSteps: 200, target: 1.19,
            grid: "[{h0: 1, h1: 0}, {h0: 0, h1: 1}]"),
        Workload(
            name: "digits", file: "topologies/experiments/digits.yml", population: 8, maxSteps: 3000, target: 0.96,
            grid: "[" + [0.01, 0.03, 0.1, 0.3].flatMap { lr in [32, 128].map { "{lr: \(lr), batch_size: \($0), momentum: 0.9, weight_decay: 1.0e-4}" } }.joined(separator: ", ") + "]"),
    ]

    enum Method: String, CaseIterable {
        case pbt = "PBT"
        case random = "random search"
        case grid = "grid"
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
        var table = BenchTable(["workload", "method", "runs", "best score: median", "[min, max]", "member-steps (median)", "reached target", "member-steps to target (median)"])
        var medians: [String: [Method: Double]] = [:]
        for workload in Self.workloads where options.workloads.contains(workload.name) {
            let base = try String(contentsOfFile: options.repository + "/" + workload.file, encoding: .utf8)
            for method in Method.allCases {
                var outcomes: [Outcome] = []
                for seed in 1...options.seeds {
                    let outcome = try runOne(workload: workload, base: base, method: method, seed: seed)
                    log(String(format: "%@ %@ seed %d: best %.4f, %d member-steps, %@, %.1f s", workload.name, method.rawValue, seed, outcome.best, outcome.steps,
                               outcome.stepsToTarget.map { "target after \($0)" } ?? "target not reached", outcome.seconds))
                    outcomes.append(outcome)
                }
                let bests = outcomes.map(\.best)
                let reached = outcomes.compactMap(\.stepsToTarget).map(Double.init)
                medians[workload.name, default: [:]][method] = Statistics.median(bests)
                table.add([
                    workload.name, method.rawValue, String(outcomes.count),
                    String(format: "%.4f", Statistics.median(bests) ?? .nan),
                    String(format: "[%.4f, %.4f]", bests.min() ?? .nan, bests.max() ?? .nan),
                    String(Int(Statistics.median(outcomes.map { Double($0.steps) }) ?? 0)),
                    "\(reached.count)/\(outcomes.count) (≥ \(workload.target))",
                    reached.isEmpty ? "-" : String(Int(Statistics.median(reached)!)),
                ])
            }
        }
        var text = table.description
        for (name, byMethod) in medians.sorted(by: { $0.key < $1.key }) {
            if let pbt = byMethod[.pbt], let random = byMethod[.random] {
                text += "\n\(name): PBT's median best \(String(format: "%.4f", pbt)) \(pbt > random ? "beats" : "does not beat") random search's \(String(format: "%.4f", random))"
            }
        }
        return text
    }

    func runOne(workload: Workload, base: String, method: Method, seed: Int) throws -> Outcome {
        var changes: [ExperimentVariant.Change] = [
            .set("name", yaml: "\(workload.name)-\(method == .pbt ? "pbt" : method == .random ? "random" : "grid")-\(seed)"),
            .set("seed", yaml: String(seed)),
            .set("stop.total_steps", yaml: String(workload.population * workload.maxSteps)),
        ]
        switch method {
        case .pbt:
            break
        case .random:
            changes += [.set("exploit", yaml: "{strategy: none}"), .set("explore", yaml: "{strategy: none}"), .remove("initial")]
        case .grid:
            changes += [.set("exploit", yaml: "{strategy: none}"), .set("explore", yaml: "{strategy: none}"), .set("initial", yaml: workload.grid)]
        }
        let text = try ExperimentVariant.make(from: base, changes)
        let name = "\(workload.name)-\(method == .pbt ? "pbt" : method == .random ? "random" : "grid")-\(seed)"
        let file = "\(options.output)/\(name).yml"
        let run = "\(options.output)/\(name)"
        try? FileManager.default.removeItem(atPath: run)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let started = Clock.monotonic
        let process = try ChildProcess(
            executable: options.executable, arguments: ["run", file, "--output", run, "--quiet", "--trainers", String(options.trainers)],
            output: "\(options.output)/\(name).log")
        guard let end = process.wait(seconds: 3600), end.succeeded else {
            throw BenchError("pbt run \(file) failed; see \(options.output)/\(name).log")
        }
        let seconds = Clock.monotonic - started
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any] ?? [:]
        let best = (summary["best"] as? [String: Any])?["score"] as? Double ?? .nan
        let steps = summary["steps"] as? Int ?? 0
        return Outcome(best: best, steps: steps, stepsToTarget: try Self.stepsToTarget(events: run + "/events.jsonl", target: workload.target), seconds: seconds)
    }

    /// Member-steps trained before the first score at or above `target`, from the event log.
    static func stepsToTarget(events: String, target: Double) throws -> Int? {
        let text = try String(contentsOfFile: events, encoding: .utf8)
        var trained = 0
        for line in text.split(separator: "\n") {
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            switch event["event"] as? String {
            case "member.trained":
                trained += (event["step"] as? Int ?? 0) - (event["from_step"] as? Int ?? 0)
            case "member.scored":
                if let score = event["score"] as? Double, score >= target { return trained }
            default:
                break
            }
        }
        return nil
    }
}

/// A bench that could not run.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
