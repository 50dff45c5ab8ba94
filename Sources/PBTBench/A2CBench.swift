import Foundation
import PBTConfig
import PBTCore
import PBTSystem
import PBTWorkloads

/// `pbt bench a2c`: the `a2c` workload's training frames a second on CartPole-v1 beside the
/// same agent in numpy on gymnasium's CartPole-v1 (topologies/trainers/gym_cartpole.py), one
/// core each, in the same invocation.
public struct A2CThroughputBench {
    let repository: String
    let frames: Int

    public init(repository: String, frames: Int) {
        self.repository = repository
        self.frames = frames
    }

    public func run(log: (String) -> Void) throws -> String {
        let swift = try swiftFramesPerSecond()
        log("Swift a2c: \(Int(swift)) frames/s")
        let python = try pythonFramesPerSecond()
        log("numpy + gymnasium: \(python.map { String(Int($0)) } ?? "n/a") frames/s")
        var table = BenchTable([
            "CartPole-v1, 8 environments, 16 steps an update, 64-64 networks", "frames/s (best of 3)",
        ])
        table.add(["Swift: the a2c workload (pbt's CartPole)", String(Int(swift.rounded()))])
        table.add([
            "Python: gym_cartpole.py (numpy, gymnasium's CartPole)",
            python.map { String(Int($0.rounded())) } ?? "n/a (no gymnasium)",
        ])
        if let python { table.add(["Swift ÷ Python", String(format: "%.1f×", swift / python)]) }
        return "Training throughput, \(frames) frames a measurement, one thread each\n" + table.description
    }

    func swiftFramesPerSecond() throws -> Double {
        let experiment = try Experiment.parse(
            yaml: """
                name: bench-a2c
                workload: {kind: a2c, environment: CartPole-v1}
                population: 1
                stop: {max_steps: 1}
                hyperparameters:
                  lr: {log_uniform: [1.0e-4, 1.0e-2]}
                """)
        let workload = try Workloads.make(for: experiment)
        let hyperparameters = Hyperparameters(["lr": .real(0.001)])
        let state = try workload.initialState(member: 0, seed: 1, hyperparameters: hyperparameters)
        let steps = max(1, frames / 128)
        var best = 0.0
        for _ in 0..<3 {
            let started = Clock.monotonic
            _ = try workload.train(
                TrainingRequest(member: 0, step: 0, steps: steps, hyperparameters: hyperparameters, seed: 1),
                from: state
            ) { _ in true }
            best = max(best, Double(steps * 128) / (Clock.monotonic - started))
        }
        return best
    }

    func pythonFramesPerSecond() throws -> Double? {
        var best: Double?
        for _ in 0..<3 {
            let output = NSTemporaryDirectory() + "pbt-bench-a2c-\(getpid()).json"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let process = try ChildProcess(
                executable: "python3",
                arguments: [repository + "/topologies/trainers/gym_cartpole.py", "--benchmark", String(frames)],
                environment: ["OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"], stdin: .null, stdout: .file(output),
                stderr: .inherit)
            guard process.wait(seconds: 600)?.succeeded == true,
                let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output)))
                    as? [String: Any],
                let rate = object["frames_per_second"] as? Double
            else { return nil }
            best = max(best ?? 0, rate)
        }
        return best
    }
}
