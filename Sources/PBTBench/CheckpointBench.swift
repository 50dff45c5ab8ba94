import Foundation
import PBTConfig
import PBTStore
import PBTCore
import PBTSystem

/// `pbt bench checkpoints`: disk used by checkpoints over a long run, with and without the
/// selector's population-aware garbage collection, on the digits experiment.
public struct CheckpointBench {
    let executable: String
    let repository: String
    let maxSteps: Int
    let output: String

    public init(executable: String, repository: String, maxSteps: Int, output: String) {
        self.executable = executable
        self.repository = repository
        self.maxSteps = maxSteps
        self.output = output
    }

    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let base = try String(contentsOfFile: repository + "/topologies/experiments/digits.yml", encoding: .utf8)
        var table = BenchTable([
            "garbage collection", "checkpoints written", "files at the end", "MB at the end", "peak MB kept", "run (s)",
        ])
        for collect in [false, true] {
            let name = collect ? "with-gc" : "without-gc"
            let text = try ExperimentVariant.make(
                from: base,
                [
                    .set("name", yaml: "digits-\(name)"), .set("stop.max_steps", yaml: String(maxSteps)),
                    .set("leases", yaml: "{timeout: 2s}"),
                    .set("checkpoints", yaml: "{garbage_collection: \(collect), interval: 1s}"),
                ])
            let file = "\(output)/\(name).yml"
            let run = "\(output)/\(name)"
            try? FileManager.default.removeItem(atPath: run)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let started = Clock.monotonic
            let process = try ChildProcess(
                executable: executable, arguments: ["run", file, "--output", run, "--quiet"],
                output: "\(output)/\(name).log")
            guard process.wait(seconds: 3600)?.succeeded == true else {
                throw BenchError("pbt run \(file) failed; see \(output)/\(name).log")
            }
            let seconds = Clock.monotonic - started
            var written = Set<String>()
            var peak: Int64 = 0
            for timed in try BenchEvents.read(run + "/events.jsonl") {
                switch timed.event {
                case .memberTrained(let trained): written.insert(trained.checkpoint)
                case .checkpointsCollected(_, _, _, let kept): peak = max(peak, kept)
                default: break
                }
            }
            let usage = CheckpointCollector(store: try CheckpointStore(directory: run + "/checkpoints")).usage()
            log(
                "\(name): \(written.count) checkpoints written, \(usage.files) files and \(usage.bytes) bytes at the end"
            )
            table.add([
                collect ? "on (every 1 s; grace: lease + 1 s = 3 s)" : "off", String(written.count),
                String(usage.files),
                String(format: "%.1f", Double(usage.bytes) / 1e6),
                collect ? String(format: "%.1f", Double(peak) / 1e6) : "-",
                String(format: "%.1f", seconds),
            ])
        }
        return table.description
    }
}
