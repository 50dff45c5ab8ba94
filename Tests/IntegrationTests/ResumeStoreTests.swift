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

/// The run's record (`events.jsonl`) against what the store committed to it, and a finished
/// run's outcome: a record with a gap is refused unless the user says to go on, a store
/// damaged in its middle is found before anything starts, and a damaged `summary.json` is
/// written again.
@Suite("resuming a damaged record", .serialized)
struct ResumeRecordTests {
    struct LogDamage: Sendable, CustomTestStringConvertible {
        let label: String
        let damage: @Sendable (_ run: String) throws -> Void
        let mentions: String
        var testDescription: String { label }
    }

    static let damages = [
        LogDamage(
            label: "events.jsonl removed", damage: { try FileManager.default.removeItem(atPath: $0 + "/events.jsonl") },
            mentions: "holds 0 bytes, but the store committed"),
        LogDamage(
            label: "events.jsonl cut by 100 bytes",
            damage: { run in
                let handle = try #require(FileHandle(forUpdatingAtPath: run + "/events.jsonl"))
                try handle.truncate(atOffset: try handle.seekToEnd() - 100)
                try handle.close()
            }, mentions: "but the store committed"),
        LogDamage(
            label: "a line put in the middle of events.jsonl",
            damage: { run in
                var lines = try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8).split(
                    separator: "\n", omittingEmptySubsequences: false)
                lines.insert("a line nobody wrote", at: 2)
                try lines.joined(separator: "\n").write(
                    toFile: run + "/events.jsonl", atomically: true, encoding: .utf8)
            }, mentions: "was changed before the end the store committed"),
        LogDamage(
            label: "a directory where summary.json goes",
            damage: {
                try FileManager.default.createDirectory(
                    atPath: $0 + "/summary.json", withIntermediateDirectories: false)
            },
            mentions: "summary.json is not a regular file"),
        LogDamage(
            label: "checkpoints/ removed",
            damage: { try FileManager.default.removeItem(atPath: $0 + "/checkpoints") },
            mentions: "members still training have no checkpoint in"),
        LogDamage(
            label: "selector.sqlite zeroed from its middle on",
            damage: { run in
                // Its first pages (the schema, the meta table's) read; the pages after are gone.
                let path = run + "/selector.sqlite"
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                let middle = bytes.count / 2 / 4096 * 4096
                bytes.replaceSubrange(middle..<bytes.count, with: Data(count: bytes.count - middle))
                try bytes.write(to: URL(fileURLWithPath: path))
            }, mentions: "Restore selector.sqlite"),
    ]

    @Test("a record with a gap, or a damaged store, is refused before anything starts", arguments: damages)
    func damagedRecordIsRefused(_ damage: LogDamage) throws {
        let directory = try TemporaryDirectory()
        let run = try ResumeStoreTests.interruptedRun(in: directory)
        // The store's pending pages folded into its file (as after a clean stop), then the damage.
        for suffix in ["-wal", "-shm"] {
            #expect(!FileManager.default.fileExists(atPath: run + "/selector.sqlite" + suffix), "\(suffix) left")
        }
        try damage.damage(run)
        let process = try PBTProcess(
            ["run", "--resume", run, "--metrics", "none"], output: directory.file("again.txt"))
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == 2, "\(end)\n\(process.log)")
        #expect(process.log.contains(damage.mentions), "\(process.log)")
        var isDirectory: ObjCBool = false
        let summaryThere = FileManager.default.fileExists(atPath: run + "/summary.json", isDirectory: &isDirectory)
        #expect(!summaryThere || isDirectory.boolValue, "a summary was written")
    }

    @Test("--accept-partial-log goes on with a record that lost its start", .timeLimit(.minutes(2)))
    func partialLogAccepted() throws {
        let directory = try TemporaryDirectory()
        let run = try ResumeStoreTests.interruptedRun(in: directory)
        try FileManager.default.removeItem(atPath: run + "/events.jsonl")
        let process = try PBTProcess(
            ["run", "--resume", run, "--metrics", "none", "--accept-partial-log"], output: directory.file("again.txt"))
        let trained = EventLogFollower(path: run + "/events.jsonl").wait(within: 30) {
            $0.contains { $0.topic == .experimentResumed } && $0.contains { $0.topic == .memberTrained }
        }
        #expect(trained, "\(process.log)")
        process.child.send(SIGTERM)
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == 128 + SIGTERM, "\(end)\n\(process.log)")
    }

    @Test("a finished run's damaged summary.json is written again from the store", .timeLimit(.minutes(2)))
    func damagedSummaryIsWrittenAgain() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "short.yml", noopExperiment(name: "short", population: 2, maxSteps: 6, stepSeconds: 0.001))
        let run = directory.file("run")
        let first = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none"], output: directory.file("first.txt"))
        try #require(try #require(first.finish(within: 60)).succeeded, "\(first.log)")
        let written = try String(contentsOfFile: run + "/summary.json", encoding: .utf8)
        let original = try jsonObject(run + "/summary.json")
        for damaged in [
            String(written.prefix(50)), "{}", #"{"experiment":"short","reason":"max_steps"}"#,
            #"{"experiment":"short","reason":"bogus","steps":1,"members":[]}"#,
        ] {
            try damaged.write(toFile: run + "/summary.json", atomically: true, encoding: .utf8)
            let again = try PBTProcess(
                ["run", "--resume", run, "--metrics", "none"], output: directory.file("again.txt"))
            let end = try #require(again.finish(within: 30))
            #expect(end.exitCode == 0, "\(end)\n\(again.log)")
            #expect(again.log.contains("summary.json written again from the store"), "\(again.log)")
            let summary = try jsonObject(run + "/summary.json")
            #expect(summary["reason"] as? String == "max_steps", "\(summary)")
            // The outcome as it was first written, to its seconds.
            #expect(summary["seconds"] as? Double == original["seconds"] as? Double, "\(summary)\n\(original)")
            #expect(summary["steps"] as? Int == original["steps"] as? Int)
        }
    }
}
