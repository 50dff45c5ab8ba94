import Foundation
import PBTCore
import PBTSystem
import PBTTestSupport
import Testing

/// `pbt run`'s Unix domain sockets: their endpoint is printed for trainers started by hand,
/// and the directory of a run killed with SIGKILL does not stay in /tmp for ever.
@Suite("pbt run's sockets", .serialized)
struct RunSocketDirectoryTests {
    /// An experiment that trains until it is stopped.
    static let endless = noopExperiment(name: "endless", population: 2, maxSteps: 100_000, stepSeconds: 0.05)

    /// `pbt run` of `endless` in `directory`, once its selector is ready: the process, the run
    /// directory and the work endpoint the selector reported.
    static func startedRun(in directory: TemporaryDirectory) throws -> (process: PBTProcess, run: String, work: String)
    {
        let file = try directory.write("endless.yml", endless)
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none"], output: directory.file("run.txt"))
        let work = try #require(try readyEndpoints(run + "/.ready/selector.json")["work"], "\(process.log)")
        #expect(eventually(within: 20) { process.log.contains("stages: ") }, "\(process.log)")
        return (process, run, work)
    }

    @Test("the startup lines give the work endpoint and a trainer command that joins the run", .timeLimit(.minutes(3)))
    func workEndpointIsPrinted() throws {
        let directory = try TemporaryDirectory()
        let (process, run, work) = try Self.startedRun(in: directory)
        let line = try #require(
            process.log.split(separator: "\n").first { $0.hasPrefix("work: ") }, "no work line in: \(process.log)")
        #expect(line.hasPrefix("work: \(work) "), "\(line)")
        let command = try #require(
            line.components(separatedBy: "add a trainer: ").last?.split(separator: " ").map(String.init))
        #expect(command.first == "pbt")
        let trainer = try PBTProcess(
            Array(command.dropFirst()) + ["--name", "by-hand"], output: directory.file("by-hand.txt"))
        let joined = EventLogFollower(path: run + "/events.jsonl").wait(within: 20) {
            $0.contains { $0.worker == "by-hand" }
        }
        #expect(joined, "the trainer started by hand did not join: \(trainer.log)")
        process.child.send(SIGTERM)
        _ = process.finish(within: 30)
    }

    @Test("the socket directory of a run killed with SIGKILL is removed by the next run", .timeLimit(.minutes(2)))
    func abandonedSocketDirectoryIsRemoved() throws {
        let directory = try TemporaryDirectory()
        let (process, _, work) = try Self.startedRun(in: directory)
        #expect(work.hasPrefix("ipc:///tmp/pbt-"), "\(work)")
        let sockets = String(work.dropFirst("ipc://".count)).components(separatedBy: "/").dropLast().joined(
            separator: "/")
        // Other tests' runs, started in parallel, sweep abandoned directories too: while the owner
        // file is away, they leave this one alone (a directory without one may be being made),
        // so what the check below sees is what the killed run left.
        let owner = sockets + "/owner"
        let identity = try String(contentsOfFile: owner, encoding: .utf8)
        try FileManager.default.removeItem(atPath: owner)
        process.child.send(SIGKILL)
        _ = process.finish(within: 10)
        #expect(FileManager.default.fileExists(atPath: sockets), "SIGKILL gives pbt run no chance to remove \(sockets)")
        try identity.write(toFile: owner, atomically: true, encoding: .utf8)

        let next = try directory.write("short.yml", noopExperiment(name: "short", population: 2, maxSteps: 2))
        _ = try finishedRun(next, ["--trainers", "1", "--metrics", "none"], in: directory, name: "next")
        #expect(!FileManager.default.fileExists(atPath: sockets), "\(sockets) is still there")
    }
}
