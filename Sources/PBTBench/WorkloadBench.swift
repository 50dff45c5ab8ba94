import Foundation
import PBTCore
import PBTSystem
import PBTWorkloads

/// `pbt bench mlp`: the `mlp` workload's training throughput beside the same network trained
/// with numpy (topologies/trainers/digits_mlp.py), measured in the same invocation.
public struct MLPThroughputBench {
    public struct Case: Sendable {
        public let hidden: [Int]
        public let batch: Int
    }

    public static let cases = [
        Case(hidden: [64], batch: 32), Case(hidden: [128], batch: 32), Case(hidden: [128], batch: 128),
        Case(hidden: [256, 128], batch: 64),
    ]

    let repository: String
    let steps: Int

    public init(repository: String, steps: Int) {
        self.repository = repository
        self.steps = steps
    }

    public func run(log: (String) -> Void) throws -> String {
        let data = repository + "/topologies/data/digits.csv"
        let dataset = try DigitsDataset(path: data, seed: 11)
        var table = BenchTable(["network", "batch", "Swift mlp (samples/s)", "numpy (samples/s)", "Swift / numpy"])
        for testCase in Self.cases {
            let swift = try swiftSamplesPerSecond(dataset: dataset, testCase: testCase)
            let numpy = try numpySamplesPerSecond(data: data, testCase: testCase)
            log(
                "\(testCase.hidden) batch \(testCase.batch): Swift \(Int(swift)) samples/s, numpy \(numpy.map { String(Int($0)) } ?? "n/a")"
            )
            table.add([
                ([64] + testCase.hidden + [10]).map(String.init).joined(separator: "-"), String(testCase.batch),
                String(Int(swift.rounded())),
                numpy.map { String(Int($0.rounded())) } ?? "n/a",
                numpy.map { String(format: "%.2f×", swift / $0) } ?? "-",
            ])
        }
        return table.description
    }

    func swiftSamplesPerSecond(dataset: DigitsDataset, testCase: Case) throws -> Double {
        let workload = MLPWorkload(dataset: dataset, hidden: testCase.hidden)
        let hyperparameters = Hyperparameters([
            "lr": .real(0.05), "momentum": .real(0.9), "weight_decay": .real(1e-5),
            "batch_size": .integer(testCase.batch),
        ])
        let state = try workload.initialState(member: 0, seed: 1, hyperparameters: hyperparameters)
        // Warm up, then measure the best of three.
        _ = try workload.train(
            TrainingRequest(member: 0, step: 0, steps: 50, hyperparameters: hyperparameters, seed: 1), from: state
        ) { _ in true }
        var best = 0.0
        for round in 0..<3 {
            let started = Clock.monotonic
            _ = try workload.train(
                TrainingRequest(
                    member: 0, step: round * steps, steps: steps, hyperparameters: hyperparameters, seed: 1),
                from: state
            ) { _ in true }
            best = max(best, Double(steps * testCase.batch) / (Clock.monotonic - started))
        }
        return best
    }

    func numpySamplesPerSecond(data: String, testCase: Case) throws -> Double? {
        var best: Double?
        for _ in 0..<3 {
            let output = NSTemporaryDirectory() + "pbt-bench-numpy-\(getpid()).json"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let process = try ChildProcess(
                executable: "python3",
                arguments: [
                    repository + "/topologies/trainers/digits_mlp.py", "--data", data, "--hidden",
                    testCase.hidden.map(String.init).joined(separator: ","),
                    "--batch", String(testCase.batch), "--benchmark", String(steps),
                ],
                environment: ["OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"], stdin: .null, stdout: .file(output),
                stderr: .inherit)
            guard process.wait(seconds: 600)?.succeeded == true,
                let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output)))
                    as? [String: Any],
                let rate = object["samples_per_second"] as? Double
            else { return nil }
            best = max(best ?? 0, rate)
        }
        return best
    }
}

/// `pbt bench command`: what a step costs the `command` workload in each mode, with a
/// program that does no work (so the figure is the protocol and process cost alone).
public struct CommandCostBench {
    let requests: Int
    let python: String

    public init(requests: Int, python: String = "python3") {
        self.requests = requests
        self.python = python
    }

    static let program = """
        import sys, json
        for line in sys.stdin:
            request = json.loads(line)
            with open(request["save"], "wb") as f:
                f.write(b"checkpoint")
            print(json.dumps({"score": 1.0, "steps": request["steps"]}), flush=True)
        """

    public func run(log: (String) -> Void) throws -> String {
        var table = BenchTable(["program", "mode", "requests", "ms a step (median)", "p90"])
        for (label, prelude) in [(python, ""), ("\(python) + import numpy", "import numpy\n")] {
            for mode in [CommandWorkload.Mode.once, .persistent] {
                let workload = CommandWorkload(
                    command: [python, "-c", prelude + Self.program], mode: mode, timeout: 60)
                let hyperparameters = Hyperparameters(["x": .real(1)])
                var times: [Double] = []
                let count = mode == .once ? min(requests, 40) : requests
                for index in 0..<count {
                    let started = Clock.monotonic
                    _ = try workload.train(
                        TrainingRequest(member: 0, step: index, steps: 1, hyperparameters: hyperparameters, seed: 1),
                        from: []
                    ) { _ in true }
                    times.append((Clock.monotonic - started) * 1000)
                }
                if mode == .persistent { times.removeFirst() }  // the first request pays the start-up
                log(
                    "\(label), \(mode.rawValue): median \(String(format: "%.2f", Statistics.median(times) ?? 0)) ms a step"
                )
                table.add([
                    label, mode.rawValue, String(times.count), String(format: "%.2f", Statistics.median(times) ?? 0),
                    String(format: "%.2f", Statistics.percentile(times, 0.9) ?? 0),
                ])
            }
        }
        return table.description
    }
}
