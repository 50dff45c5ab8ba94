import Foundation
import PBTConfig
import Testing

/// Relative paths in a `command` workload are beside the experiment file: the rule, and the
/// directory `Experiment.load(path:)` records in the text the selector sends to workers.
@Suite("command paths")
struct CommandPathsTests {
    struct Resolution: Sendable, CustomTestStringConvertible {
        let written: [String]
        /// Paths (relative to the directory) that exist.
        let existing: Set<String>
        let resolved: [String]
        var testDescription: String { written.joined(separator: " ") }
    }

    @Test(arguments: [
        Resolution(
            written: ["python3", "../trainers/t.py"], existing: [], resolved: ["python3", "/exp/../trainers/t.py"]),
        Resolution(written: ["./train.sh", "--fast"], existing: [], resolved: ["/exp/./train.sh", "--fast"]),
        Resolution(written: ["bin/train"], existing: [], resolved: ["/exp/bin/train"]),
        Resolution(
            written: ["python3", "trainers/t.py"], existing: ["trainers/t.py"],
            resolved: ["python3", "/exp/trainers/t.py"]),
        Resolution(written: ["python3", "trainers/t.py"], existing: [], resolved: ["python3", "trainers/t.py"]),
        Resolution(
            written: ["python3", "/opt/t.py", "--hidden", "128", "-c", ""], existing: ["128", "-c"],
            resolved: ["python3", "/opt/t.py", "--hidden", "/exp/128", "-c", ""]),
        Resolution(written: ["python3"], existing: ["python3"], resolved: ["python3"]),
    ])
    func theRule(_ row: Resolution) {
        let resolved = Experiment.resolve(
            command: row.written, against: "/exp",
            exists: { path in
                row.existing.contains { "/exp/" + $0 == path }
            })
        #expect(resolved == row.resolved)
    }

    static func experiment(command: String, extra: String = "") -> String {
        """
        name: paths
        workload:
          kind: command
          command: \(command)
        population: 2
        stop: {max_steps: 4}
        hyperparameters:
          x: {uniform: [0, 1]}
        \(extra)
        """
    }

    @Test func loadingRecordsTheDirectoryWhenTheCommandHasRelativePaths() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/e.yml"
        let text = Self.experiment(command: "[python3, ../trainers/t.py, --hidden, \"64\"]")
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        let loaded = try Experiment.load(path: file)
        #expect(loaded.directory == directory)
        #expect(loaded.source.hasPrefix(text))
        #expect(loaded.source.hasSuffix("directory: \"\(directory)\"\n"))
        #expect(loaded.resolvedCommand == ["python3", directory + "/../trainers/t.py", "--hidden", "64"])
        #expect(loaded.writtenCommand == ["python3", "../trainers/t.py", "--hidden", "64"])

        // What a worker reads (the text) resolves the same; a copy of it loads unchanged (pbt run's RUN_DIR/experiment.yml).
        #expect(try Experiment.parse(yaml: loaded.source).resolvedCommand == loaded.resolvedCommand)
        let copy = directory + "/copy.yml"
        try loaded.source.write(toFile: copy, atomically: true, encoding: .utf8)
        #expect(try Experiment.load(path: copy).source == loaded.source)
    }

    @Test(arguments: ["[python3, -c, \"print(1)\"]", "[/usr/bin/env, python3]"])
    func nothingIsRecordedWithoutRelativePaths(command: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/e.yml"
        let text = Self.experiment(command: command)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try Experiment.load(path: file)
        #expect(loaded.directory == nil)
        #expect(loaded.source == text)
    }

    @Test func aFileThatCannotTakeTheRecordSaysSo() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/e.yml"
        try
            "{name: flow, workload: {kind: command, command: [./t.sh]}, population: 2, stop: {max_steps: 4}, hyperparameters: {x: {uniform: [0, 1]}}}"
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            try Experiment.load(path: file)
        } throws: { error in
            "\(error)".contains("directory") && "\(error)".contains("absolute")
        }
    }

    @Test func aDirectoryFieldMustBeAbsolute() {
        #expect {
            try Experiment.parse(yaml: Self.experiment(command: "[./t.sh]", extra: "directory: trainers"))
        } throws: { error in
            "\(error)".contains("directory: must be an absolute path")
        }
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/pbt-config-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
