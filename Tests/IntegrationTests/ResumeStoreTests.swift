import Foundation
import PBTCore
import PBTSystem
import PBTTestSupport
import PBTWire
import Testing

/// Going on with a run whose store is damaged: refused before anything starts, the run's
/// events and results untouched, instead of the experiment silently starting over.
@Suite("resuming a damaged store", .serialized)
struct ResumeStoreTests {
    /// A run stopped with SIGTERM after some training: events.jsonl and selector.sqlite, no summary.
    static func interruptedRun(in directory: TemporaryDirectory) throws -> String {
        let file = try directory.write(
            "endless.yml", noopExperiment(name: "endless", population: 2, maxSteps: 100_000, stepSeconds: 0.02))
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none"], output: directory.file("first.txt"))
        let trained = EventLogFollower(path: run + "/events.jsonl").wait(within: 30) {
            $0.contains { $0.topic == .memberTrained }
        }
        try #require(trained, "\(process.log)")
        process.child.send(SIGTERM)
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == 128 + SIGTERM, "\(end)\n\(process.log)")
        return run
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        let label: String
        /// What the store's file holds afterwards (its -wal and -shm are removed).
        let bytes: [UInt8]
        /// What the message must say.
        let mentions: String
        var testDescription: String { label }
    }

    @Test(
        "pbt run --resume and pbt selector refuse a store that is empty or not a store, and change nothing",
        .timeLimit(.minutes(2)),
        arguments: [
            Damage(label: "zero-length selector.sqlite", bytes: [], mentions: "selector.sqlite is empty (0 bytes)"),
            Damage(
                label: "selector.sqlite that is not SQLite",
                bytes: Array(String(repeating: "not a database ", count: 300).utf8),
                mentions: "is not a selector store that can be read"),
        ])
    func damagedStoreIsRefused(_ damage: Damage) throws {
        let directory = try TemporaryDirectory()
        let run = try Self.interruptedRun(in: directory)
        for suffix in ["-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: run + "/selector.sqlite" + suffix)
        }
        try Data(damage.bytes).write(to: URL(fileURLWithPath: run + "/selector.sqlite"))
        let events = try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8)
        #expect(EventLog(text: events).events.filter { $0.topic == .experimentStarted }.count == 1)

        let commands = [
            ["run", "--resume", run],
            [
                "selector", run + "/experiment.yml", "--run-dir", run, "--bind", "tcp://127.0.0.1:*", "--events",
                "none", "--start-timeout", "0",
            ],
        ]
        for (index, arguments) in commands.enumerated() {
            let process = try PBTProcess(arguments, output: directory.file("again-\(index).txt"))
            let end = try #require(process.finish(within: 20))
            #expect(end.exitCode == 2, "pbt \(arguments[0]): \(end)\n\(process.log)")
            #expect(process.log.contains(damage.mentions), "pbt \(arguments[0]): \(process.log)")
            #expect(process.log.contains("start afresh in another directory"), "pbt \(arguments[0]): \(process.log)")
            #expect(
                try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8) == events,
                "pbt \(arguments[0]) changed events.jsonl")
            #expect(
                !FileManager.default.fileExists(atPath: run + "/summary.json"), "pbt \(arguments[0]) wrote a summary")
        }
    }
}
