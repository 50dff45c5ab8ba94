import Foundation
import PBTConfig
import PBTSystem

/// `pbt bench rl`: PBT against random search and a small grid on CartPole-v1 and Acrobot-v1
/// with the `a2c` workload, at equal frames, over several seeds. What it reports is what the
/// outside checks asked to see with held-out episodes: the best member's *test* return (start
/// states no decision used), how many members end above a threshold, and how many frames the
/// population trained before the first member's validation return crossed it.
public struct RLQualityBench {
    public struct Options: Sendable {
        public var executable: String
        public var repository: String
        public var seeds: Int
        public var environments: [String]
        public var methods: [String]
        public var trainers: Int
        public var output: String

        public init(
            executable: String, repository: String, seeds: Int, environments: [String], methods: [String],
            trainers: Int,
            output: String
        ) {
            self.executable = executable
            self.repository = repository
            self.seeds = seeds
            self.environments = environments
            self.methods = methods
            self.trainers = trainers
            self.output = output
        }
    }

    struct Task {
        let name: String
        let file: String
        let population: Int
        let maxSteps: Int
        let threshold: Double
    }

    static let tasks = [
        Task(
            name: "cartpole", file: "topologies/experiments/cartpole.yml", population: 8, maxSteps: 600, threshold: 475),
        Task(
            name: "acrobot", file: "topologies/experiments/acrobot.yml", population: 8, maxSteps: 1500, threshold: -100),
    ]

    /// The names `--method` takes, in the table's order.
    public static var methodNames: [String] { Method.all.map(\.name) }

    /// A search method: how it changes the shipped experiment.
    struct Method {
        let name: String
        let label: String
        let population: Int?
        let changes: [ExperimentVariant.Change]

        /// lr ∈ {1e-4, 3e-4, 1e-3, 3e-3} × entropy ∈ {0.001, 0.01}, γ = 0.99, λ = 0.95.
        static let grid =
            "["
            + [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3].flatMap { lr in
                [0.001, 0.01].map { "{lr: \(lr), entropy: \($0), gamma: 0.99, lambda: 0.95}" }
            }.joined(separator: ", ") + "]"
        static let frozen: [ExperimentVariant.Change] = [
            .set("exploit", yaml: "{strategy: none}"), .set("explore", yaml: "{strategy: none}"),
        ]

        static let all = [
            Method(name: "pbt", label: "PBT (truncation)", population: nil, changes: []),
            Method(
                name: "ttest", label: "PBT (t-test)", population: nil,
                // The strategy only: the task's other exploit settings (burn_in, lineage_cap) stay.
                changes: [
                    .set("exploit.strategy", yaml: "t_test"), .remove("exploit.fraction"),
                    .set("exploit.window", yaml: "4"), .set("exploit.p_value", yaml: "0.1"),
                ]),
            Method(name: "random", label: "random search", population: nil, changes: frozen),
            Method(
                name: "grid", label: "grid (4 lr × 2 entropy)", population: nil,
                changes: frozen + [.set("initial", yaml: grid)]),
            Method(name: "pbt-4", label: "PBT, population 4", population: 4, changes: []),
            Method(name: "random-4", label: "random search, population 4", population: 4, changes: frozen),
        ]
    }

    struct Outcome {
        /// The best member's (by validation) test return.
        let test: Double
        let validation: Double
        /// The test return of the best score ever reached (by validation, at any step: the
        /// checkpoint `summary.json`'s `best_ever` keeps).
        let bestEverTest: Double
        /// Members whose last validation return is at or above the threshold.
        let above: Int
        /// Frames the population trained before a validation return first reached the threshold.
        let framesToThreshold: Int?
        let seconds: Double
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        var table = BenchTable([
            "task", "method", "runs", "best member's test return: median", "[min, max]",
            "best ever's test return: median", "[min, max]", "members ≥ threshold: median", "[min, max]",
            "runs reaching it", "frames to first (median)",
        ])
        for task in Self.tasks where options.environments.contains(task.name) {
            let base = try String(contentsOfFile: options.repository + "/" + task.file, encoding: .utf8)
            for method in Method.all where options.methods.isEmpty || options.methods.contains(method.name) {
                var outcomes: [Outcome] = []
                for seed in 1...options.seeds {
                    let outcome = try runOne(task: task, base: base, method: method, seed: seed)
                    log(
                        String(
                            format:
                                "%@ %@ seed %d: test %.1f (validation %.1f; best ever's test %.1f), %d members ≥ %.0f, %@, %.1f s",
                            task.name, method.label, seed, outcome.test, outcome.validation, outcome.bestEverTest,
                            outcome.above, task.threshold,
                            outcome.framesToThreshold.map { "first after \($0) frames" } ?? "never reached",
                            outcome.seconds))
                    outcomes.append(outcome)
                }
                let tests = outcomes.map(\.test)
                let bestEver = outcomes.map(\.bestEverTest)
                let above = outcomes.map { Double($0.above) }
                let reached = outcomes.compactMap(\.framesToThreshold).map(Double.init)
                table.add([
                    task.name, method.label, String(outcomes.count),
                    String(format: "%.1f", Statistics.median(tests) ?? .nan),
                    String(format: "[%.1f, %.1f]", tests.min() ?? .nan, tests.max() ?? .nan),
                    String(format: "%.1f", Statistics.median(bestEver) ?? .nan),
                    String(format: "[%.1f, %.1f]", bestEver.min() ?? .nan, bestEver.max() ?? .nan),
                    String(format: "%.1f", Statistics.median(above) ?? .nan),
                    String(format: "[%.0f, %.0f]", above.min() ?? .nan, above.max() ?? .nan),
                    "\(reached.count)/\(outcomes.count) (≥ \(Int(task.threshold)))",
                    reached.isEmpty ? "-" : String(Int(Statistics.median(reached)!)),
                ])
            }
        }
        return
            "Reinforcement learning at equal frames (a2c, \(options.seeds) seeds a method; population 8 unless said; "
            + "thresholds: CartPole 475, Acrobot −100)\n" + table.description
    }

    /// A number from `summary.json` (whole ones read as Int), NaN when absent.
    static func number(_ value: Any?) -> Double {
        (value as? Double) ?? (value as? Int).map(Double.init) ?? .nan
    }

    func runOne(task: Task, base: String, method: Method, seed: Int) throws -> Outcome {
        let population = method.population ?? task.population
        let frames = task.population * task.maxSteps
        let name = "\(task.name)-\(method.name)-\(seed)"
        let experiments = options.repository + "/topologies/experiments"
        let changes: [ExperimentVariant.Change] =
            [
                .set("name", yaml: name), .set("seed", yaml: String(seed)),
                .set("population", yaml: String(population)),
                .set("stop.max_steps", yaml: String(frames / population)),
                .set("directory", yaml: "\"\(experiments)\""),
            ] + method.changes
        let (run, summary, seconds) = try QualityBench.runVariant(
            of: base, changes, name: name, executable: options.executable, output: options.output,
            arguments: ["--metrics", "none", "--trainers", String(options.trainers)])
        let best = summary["best"] as? [String: Any] ?? [:]
        let metrics = best["metrics"] as? [String: Any] ?? [:]
        let bestEverMetrics = (summary["best_ever"] as? [String: Any])?["metrics"] as? [String: Any] ?? [:]
        let members = summary["members"] as? [[String: Any]] ?? []
        let above = members.filter { ($0["score"] as? Double ?? -.infinity) >= task.threshold }.count
        return Outcome(
            test: Self.number(metrics["test_return"]), validation: Self.number(best["score"]),
            bestEverTest: Self.number(bestEverMetrics["test_return"]), above: above,
            framesToThreshold: try QualityBench.stepsToTarget(events: run + "/events.jsonl", target: task.threshold).map
            { $0 * 128 },
            seconds: seconds)
    }
}
