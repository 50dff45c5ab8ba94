import PBTSystem
import Foundation
import PBTStages
import PBTTestSupport
import Testing
import ZeroMQ

/// The `pbt` binary built next to the test bundle (or `PBT_BINARY`).
enum PBTBinary {
    static var path: String {
        if let override = ProcessInfo.processInfo.environment["PBT_BINARY"] { return override }
        let directory = URL(fileURLWithPath: currentExecutablePath).deletingLastPathComponent()
        return directory.appendingPathComponent("pbt").path
    }

    /// The repository root, for the experiment files under topologies/.
    static var repository: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }
}

/// A fresh directory under /tmp, removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/pbt-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ text: String) throws -> String {
        let file = file(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A `pbt` process started by a test, its output in a file; killed when the test ends.
final class PBTProcess {
    let child: ChildProcess
    let output: String

    init(
        _ arguments: [String], output: String, executable: String = PBTBinary.path, environment: [String: String] = [:],
        ownProcessGroup: Bool = false
    ) throws {
        self.output = output
        child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment, output: output,
            ownProcessGroup: ownProcessGroup)
    }

    /// Waits for the process to end, failing the test after `seconds`.
    func finish(within seconds: Double, sourceLocation: SourceLocation = #_sourceLocation) -> ChildProcess.Termination?
    {
        guard let termination = child.wait(seconds: seconds) else {
            Issue.record(
                "pbt \(child.arguments.first ?? "") did not finish within \(seconds) s\n\(log)",
                sourceLocation: sourceLocation)
            child.stop(grace: 1)
            return nil
        }
        return termination
    }

    var log: String {
        (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    deinit {
        child.stop(grace: 2)
    }
}

/// Polls `condition` until it holds or `seconds` pass. Returns whether it held.
/// What an asynchronous run of the two-member toy can be asked for.
enum Toy {
    /// A best score only exploit and explore get past: alone, each member plateaus at
    /// Q = 0.3897 (the grid). How far past is up to timing: a toy step takes microseconds, so
    /// the order in which results reach the selector decides who is compared with whom, and on
    /// a loaded machine one member can finish before the other starts (measured with two CPU
    /// hogs beside it: Q 0.90–1.199 over 30 runs, 4–50 exploits). Quality is asserted on the
    /// synchronous toy, which is deterministic (`synchronousToyIsReproducible`).
    static let pastTheGrid = 0.6
}

/// Reads the endpoints a stage wrote to its ready file, waiting up to `seconds`.
func readyEndpoints(_ file: String, within seconds: Double = 30) throws -> [String: String] {
    var endpoints: [String: String]?
    _ = eventually(within: seconds) {
        guard let data = FileManager.default.contents(atPath: file),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return false }
        endpoints = object["endpoints"] as? [String: String]
        return endpoints != nil
    }
    return try #require(endpoints, "no endpoints in \(file)")
}

/// Every line of a JSON-lines file as an object.
func jsonLines(_ file: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: file, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
    }
}

/// `pbt run FILE ARGUMENTS --output DIRECTORY/NAME`, waited for and required to succeed: the
/// process, the run directory, its summary and the summary's best member.
func finishedRun(
    _ file: String, _ arguments: [String] = [], in directory: TemporaryDirectory, name: String = "run",
    within seconds: Double = 120,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> (process: PBTProcess, run: String, summary: [String: Any], best: [String: Any]) {
    let run = directory.file(name)
    let process = try PBTProcess(["run", file] + arguments + ["--output", run], output: directory.file("\(name).txt"))
    let termination = try #require(process.finish(within: seconds), sourceLocation: sourceLocation)
    #expect(termination.succeeded, "\(process.log)", sourceLocation: sourceLocation)
    let summary = try jsonObject(run + "/summary.json")
    let best = try #require(summary["best"] as? [String: Any], sourceLocation: sourceLocation)
    return (process, run, summary, best)
}

func jsonObject(_ file: String) throws -> [String: Any] {
    let data = try #require(FileManager.default.contents(atPath: file), "missing \(file)")
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// The pids of the living children of `pid` (from /proc), with their command lines.
func children(of pid: pid_t) -> [(pid: pid_t, command: String)] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var found: [(pid_t, String)] = []
    for entry in entries {
        guard let child = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)
        else { continue }
        // Fields after the command (which is in parentheses): state, ppid, …
        guard let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", pid_t(fields[1]) == pid else { continue }
        let command =
            (try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8))?.replacingOccurrences(
                of: "\0", with: " ") ?? ""
        found.append((child, command))
    }
    return found
}

/// Whether a process exists and is not a zombie.
func isAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].split(separator: " ").first
    return state != "Z" && state != "X"
}

/// An experiment on the noop workload, for tests that need control over step times.
func noopExperiment(
    name: String = "noop", population: Int, interval: Int = 1, maxSteps: Int, stepSeconds: Double = 0,
    slowMembers: [Int] = [], slowStepSeconds: Double = 0, exploit: String = "none", extra: String = ""
) -> String {
    """
    name: \(name)
    seed: 3
    workload:
      kind: noop
      step_seconds: \(stepSeconds)
      slow_members: [\(slowMembers.map(String.init).joined(separator: ", "))]
      slow_step_seconds: \(slowStepSeconds)
    population: \(population)
    interval: \(interval)
    stop:
      max_steps: \(maxSteps)
    exploit:
      strategy: \(exploit)
    explore:
      strategy: perturb
    hyperparameters:
      x: {uniform: [0, 1]}
    \(extra)
    """
}
