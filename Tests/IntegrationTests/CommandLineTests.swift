import Foundation
import PBTTestSupport
import Testing

/// Bad command lines and bad experiment files: each fails before anything starts, with a
/// message naming the option or field and the bad value, and exit code 2 (bad input).
@Suite("command line")
struct CommandLineTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let arguments: [String]
        let file: String?
        let exitCode: Int32
        let mentions: [String]
        /// What the run directory (RUN in the arguments) holds before the command runs.
        var run: RunSetup = .nothing

        var testDescription: String { label }
    }

    enum RunSetup: Sendable {
        case nothing
        /// events.jsonl with an event in it, as a run that has started leaves.
        case startedRun
    }

    static let valid = """
        name: cli
        workload: {kind: noop}
        population: 2
        stop: {max_steps: 4}
        hyperparameters:
          x: {uniform: [0, 1]}
        """

    static let cases: [Case] = [
        Case(
            label: "a tap waiting for a topic that does not exist",
            arguments: ["events", "--until", "member.teleported"],
            file: nil, exitCode: 2, mentions: ["--until member.teleported is not a topic", "experiment.finished"]),
        Case(
            label: "a tap filtering on a misspelt prefix", arguments: ["events", "--topic", "membr."], file: nil,
            exitCode: 2, mentions: ["--topic membr. starts no topic", "member.scored"]),
        Case(
            label: "a quality bench with a misspelt method", arguments: ["bench", "quality", "--method", "pbtt"],
            file: nil, exitCode: 2, mentions: ["--method must be one of", "pbt-async", "got 'pbtt'"]),
        Case(
            label: "a pipeline bench against a baseline that is not a program",
            arguments: ["bench", "pipeline", "--baseline", "/nonexistent/pbt"], file: nil, exitCode: 2,
            mentions: ["--baseline /nonexistent/pbt is not an executable file"]),
        Case(
            label: "a pipeline bench of no rounds",
            arguments: ["bench", "pipeline", "--baseline", "/bin/true", "--rounds", "0"], file: nil,
            exitCode: 2, mentions: ["--rounds must be 1 to 100; got 0"]),
        Case(
            label: "a pipeline bench with rounds and no baseline", arguments: ["bench", "pipeline", "--rounds", "5"],
            file: nil, exitCode: 2, mentions: ["--rounds is for --baseline"]),
        Case(
            label: "a pipeline bench against a directory", arguments: ["bench", "pipeline", "--baseline", "/tmp"],
            file: nil, exitCode: 2, mentions: ["--baseline /tmp is not an executable file"]),
        Case(
            label: "a selector bound to a port over 65535 (libzmq would wrap it round)",
            arguments: ["selector", "/dev/null", "--bind", "tcp://*:99999"], file: nil, exitCode: 2,
            mentions: ["--bind (or PBT_WORK_BIND) 'tcp://*:99999'", "from 0 to 65535"]),
        Case(
            label: "a trainer connecting to something that is not an endpoint",
            arguments: ["trainer", "--connect", "notanendpoint"], file: nil, exitCode: 2,
            mentions: ["--connect (or PBT_WORK) 'notanendpoint'", "expected tcp://HOST:PORT"]),
        Case(
            label: "an evaluator connecting to a wildcard port", arguments: ["evaluator", "--connect", "tcp://h:*"],
            file: nil, exitCode: 2, mentions: ["connecting needs a port number"]),
        Case(
            label: "a negative count of trainers (read as a value, not as a flag)",
            arguments: ["run", "/dev/null", "--trainers", "-1"], file: nil, exitCode: 2,
            mentions: ["--trainers must be between 1 and 256, got -1"]),
        Case(
            label: "a negative heartbeat", arguments: ["trainer", "--heartbeat", "-1"], file: nil, exitCode: 2,
            mentions: ["--heartbeat must be between 0 and 60 seconds, got -1.0"]),
        Case(
            label: "a tap's endpoint that is no endpoint", arguments: ["events", "--endpoint", "bogus"], file: nil,
            exitCode: 2, mentions: ["--endpoint (or PBT_EVENTS_SUBSCRIBE) 'bogus'"]),
        Case(
            label: "a tap's port past 65535", arguments: ["events", "--endpoint", "tcp://127.0.0.1:99999"], file: nil,
            exitCode: 2, mentions: ["the port must be a number from 0 to 65535"]),
        Case(
            label: "a tap's negative count", arguments: ["events", "--count", "-1"], file: nil, exitCode: 2,
            mentions: ["--count must be at least 1, got -1"]),
        Case(
            label: "a tap's idle timeout of NaN", arguments: ["events", "--idle-timeout", "nan"], file: nil,
            exitCode: 2,
            mentions: ["--idle-timeout must be more than 0"]),
        Case(
            label: "an exporter's events endpoint that is no endpoint", arguments: ["exporter", "--events", "bogus"],
            file: nil, exitCode: 2, mentions: ["--events (or PBT_EVENTS_SUBSCRIBE) 'bogus'"]),
        Case(
            label: "a live TensorBoard writer's endpoint that is no endpoint",
            arguments: ["tensorboard", "--events", "bogus", "-o", "/tmp/pbt-never-made"], file: nil, exitCode: 2,
            mentions: ["--events 'bogus'"]),
        Case(
            label: "a selector's negative --min-trainers",
            arguments: ["selector", "/dev/null", "--min-trainers", "-1"],
            file: nil, exitCode: 2, mentions: ["--min-trainers must be between 1 and 4096, got -1"]),
        Case(
            label: "a proxy's port past 65535 (libzmq would wrap it)",
            arguments: [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:27759", "--subscribers", "tcp://127.0.0.1:70000",
            ],
            file: nil, exitCode: 2, mentions: ["--subscribers (or PBT_EVENTS_SUBSCRIBE_BIND) 'tcp://127.0.0.1:70000'"]),
        Case(
            label: "a proxy with one endpoint for both sides",
            arguments: [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:27759", "--subscribers", "tcp://127.0.0.1:27759",
            ],
            file: nil, exitCode: 2, mentions: ["are the same endpoint"]),
        Case(
            label: "connecting to a wildcard host", arguments: ["trainer", "--connect", "tcp://*:5555"], file: nil,
            exitCode: 2, mentions: ["a host of * binds every interface; connecting needs the host's address"]),
        Case(
            label: "inproc:// to a command of its own", arguments: ["events", "--endpoint", "inproc://x"], file: nil,
            exitCode: 2, mentions: ["inproc:// reaches only sockets of the same process"]),
        Case(
            label: "a negative cache size (read as a value, not as a flag)",
            arguments: ["trainer", "--cache-size", "-1"],
            file: nil, exitCode: 2, mentions: ["--cache-size (or PBT_CACHE_SIZE) must be a size in bytes"]),
        Case(
            label: "run without a file", arguments: ["run"], file: nil, exitCode: 2,
            mentions: ["experiment file", "--resume"]),
        Case(
            label: "run a missing file", arguments: ["run", "/nonexistent/x.yml"], file: nil, exitCode: 2,
            mentions: ["cannot read experiment file", "/nonexistent/x.yml"]),
        Case(
            label: "zero trainers", arguments: ["run", "FILE", "--trainers", "0"], file: valid, exitCode: 2,
            mentions: ["--trainers", "got 0"]),
        Case(
            label: "trainers not a number", arguments: ["run", "FILE", "--trainers", "two"], file: valid, exitCode: 2,
            mentions: ["two"]),
        Case(
            label: "unknown option", arguments: ["run", "FILE", "--trainer", "2"], file: valid, exitCode: 2,
            mentions: ["--trainer"]),
        Case(
            label: "resume and a file", arguments: ["run", "FILE", "--resume", "/tmp"], file: valid, exitCode: 2,
            mentions: ["not both"]),
        Case(
            label: "resume a non-run", arguments: ["run", "--resume", "/tmp"], file: nil, exitCode: 2,
            mentions: ["not a run directory"]),
        Case(
            label: "one process with CURVE", arguments: ["run", "FILE", "--in-process", "--secure"], file: valid,
            exitCode: 2, mentions: ["--in-process", "no CURVE", "drop --secure"]),
        Case(
            label: "bad log level", arguments: ["run", "FILE", "--log-level", "loud"], file: valid, exitCode: 2,
            mentions: ["--log-level", "loud"]),
        Case(
            label: "negative heartbeat", arguments: ["trainer", "--heartbeat", "-1"], file: nil, exitCode: 2,
            mentions: ["--heartbeat"]),
        Case(label: "unknown subcommand", arguments: ["trainr"], file: nil, exitCode: 2, mentions: ["trainr"]),
        Case(
            label: "population zero", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "population: 2", with: "population: 0"), exitCode: 2,
            mentions: ["population", "0"]),
        Case(
            label: "a typo in a field", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "population: 2", with: "populaton: 2"), exitCode: 2,
            mentions: ["populaton", "unknown field"]),
        Case(
            label: "unknown workload", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "kind: noop", with: "kind: resnet"), exitCode: 2,
            mentions: ["workload.kind", "resnet"]),
        Case(
            label: "bad domain", arguments: ["validate", "FILE"],
            file: valid.replacingOccurrences(of: "[0, 1]", with: "[1, 0]"), exitCode: 2,
            mentions: ["hyperparameters.x.uniform", "[1, 0]"]),
        Case(
            label: "bad duration", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "max_steps: 4", with: "max_steps: 4, time_budget: soon"), exitCode: 2,
            mentions: ["stop.time_budget", "soon"]),
        Case(
            label: "a command whose script is misspelt",
            arguments: ["validate", "FILE"],
            file:
                "name: s\nworkload: {kind: command, command: [python3, -u, trian.py]}\npopulation: 2\nstop: {max_steps: 4}\nhyperparameters:\n  lr: {uniform: [0, 1]}\n",
            exitCode: 2,
            mentions: [
                "workload.command[2]: the script 'trian.py' is neither beside the experiment file",
                "python3 would fail every task",
            ]),
        Case(
            label: "not YAML", arguments: ["run", "FILE"], file: "name: [unclosed\n", exitCode: 2,
            mentions: ["not valid YAML"]),
        Case(
            label: "a directory as the experiment file", arguments: ["validate", "DIR"], file: nil, exitCode: 2,
            mentions: ["is a directory, not an experiment file"]),
        Case(
            label: "a name of 300 characters", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "name: cli", with: "name: " + String(repeating: "n", count: 300)),
            exitCode: 2, mentions: ["name: must be at most 100 characters", "got 300"]),
        Case(
            label: "an output directory under a file", arguments: ["run", "FILE", "--output", "FILE/run"], file: valid,
            exitCode: 2, mentions: ["cannot make the run directory", "experiment.yml is a file, not a directory"]),
        Case(
            label: "an output directory where nobody may write", arguments: ["run", "FILE", "-o", "/sys/pbt-run"],
            file: valid, exitCode: 2, mentions: ["cannot make the run directory /sys/pbt-run", "in /sys"]),
        Case(
            label: "an output directory of 300 characters",
            arguments: ["run", "FILE", "-o", "DIR/" + String(repeating: "r", count: 300)], file: valid, exitCode: 2,
            mentions: ["cannot make the run directory", "File name too long"]),
        Case(
            label: "an output directory that holds a run", arguments: ["run", "FILE", "--output", "RUN"], file: valid,
            exitCode: 2, mentions: ["already holds a run", "--resume"], run: .startedRun),
        Case(
            label: "a program that is not on PATH", arguments: ["validate", "FILE"],
            file: valid.replacingOccurrences(
                of: "{kind: noop}", with: "{kind: command, command: [no-such-program-for-pbt, x]}"), exitCode: 2,
            mentions: ["workload.command[0]", "'no-such-program-for-pbt' is not an executable on PATH"]),
        Case(
            label: "a program beside the experiment that does not exist", arguments: ["run", "FILE"],
            file: valid.replacingOccurrences(of: "{kind: noop}", with: "{kind: command, command: [./missing.sh]}"),
            exitCode: 2, mentions: ["'./missing.sh' does not exist", "beside the experiment file"]),
        Case(
            label: "a program that is not executable", arguments: ["validate", "FILE"],
            file: valid.replacingOccurrences(of: "{kind: noop}", with: "{kind: command, command: [./experiment.yml]}"),
            exitCode: 2, mentions: ["'./experiment.yml' is not executable"]),
        Case(
            label: "more GPU trainers than devices", arguments: ["run", "FILE", "--trainers", "3", "--gpus", "0,1"],
            file: valid + "\nresources: {gpus: 1}\n", exitCode: 2,
            mentions: ["3 trainers × 1 GPU need 3 devices", "share_gpus"]),
        Case(
            label: "GPUs asked for and none given", arguments: ["run", "FILE"],
            file: valid + "\nresources: {gpus: 2}\n", exitCode: 2, mentions: ["resources.gpus", "--gpus 0,1"]),
        Case(
            label: "a device listed twice", arguments: ["run", "FILE", "--gpus", "0,0"], file: valid, exitCode: 2,
            mentions: ["--gpus", "listed twice"]),
        Case(
            label: "a thread budget of zero", arguments: ["validate", "FILE"],
            file: valid + "\nresources: {threads: 0}\n", exitCode: 2, mentions: ["resources.threads", "got 0"]),
        Case(
            label: "a thread budget that is a word", arguments: ["validate", "FILE"],
            file: valid + "\nresources: {threads: many}\n", exitCode: 2,
            mentions: ["resources.threads", "auto, inherit or a number"]),
        Case(
            label: "a trainer's thread budget that is a word", arguments: ["trainer", "--threads", "lots"], file: nil,
            exitCode: 2, mentions: ["--threads", "lots"]),
        Case(
            label: "tensorboard without a run or a stream", arguments: ["tensorboard"], file: nil, exitCode: 2,
            mentions: ["give a run directory", "--events"]),
        Case(
            label: "tensorboard of a directory that is not a run", arguments: ["tensorboard", "DIR"], file: nil,
            exitCode: 2, mentions: ["is not a run directory", "no events.jsonl"]),
        Case(
            label: "tensorboard live without a directory", arguments: ["tensorboard", "--events", "tcp://127.0.0.1:9"],
            file: nil, exitCode: 2, mentions: ["--events needs -o DIR"]),
        Case(
            label: "tensorboard live into a directory nobody may make",
            arguments: ["tensorboard", "--events", "tcp://127.0.0.1:9", "-o", "/sys/pbt-tb"], file: nil, exitCode: 2,
            mentions: ["cannot create /sys/pbt-tb"]),
        Case(
            label: "tensorboard of a run and a stream",
            arguments: ["tensorboard", "DIR", "--events", "tcp://127.0.0.1:9", "-o", "DIR/tb"], file: nil, exitCode: 2,
            mentions: ["not both"]),
        Case(
            label: "selector on a file of another experiment's run",
            arguments: ["selector", "FILE", "--run-dir", "RUN", "--bind", "tcp://127.0.0.1:*", "--events", "none"],
            file: valid, exitCode: 2, mentions: ["holds experiment", "another run directory"]),
    ]

    @Test("bad use fails early and says why", arguments: cases)
    func badUse(_ row: Case) throws {
        let directory = try TemporaryDirectory()
        let run = directory.file("run")
        if row.label.hasPrefix("selector on") {
            // A run directory whose store belongs to another experiment.
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            let other = try directory.write(
                "other.yml", Self.valid.replacingOccurrences(of: "name: cli", with: "name: other"))
            let first = try PBTProcess(
                [
                    "selector", other, "--run-dir", run, "--bind", "tcp://127.0.0.1:*", "--events", "none",
                    "--start-timeout", "0",
                ], output: directory.file("first.txt"))
            // Committed once events reach the log (the experiment's id goes in with the first commit).
            #expect(
                eventually(within: 30) {
                    ((try? FileManager.default.attributesOfItem(atPath: run + "/events.jsonl")[.size] as? Int) ?? 0) > 0
                })
            first.child.send(SIGTERM)
            _ = first.finish(within: 10)
        }
        if case .startedRun = row.run {
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try #"{"event":"experiment.started","seq":1}"#.appending("\n").write(
                toFile: run + "/events.jsonl", atomically: true, encoding: .utf8)
        }
        let file = try row.file.map { try directory.write("experiment.yml", $0) }
        let arguments = row.arguments.map {
            $0.replacingOccurrences(of: "FILE", with: file ?? "").replacingOccurrences(of: "RUN", with: run)
                .replacingOccurrences(of: "DIR", with: directory.path)
        }
        let chooses = arguments.first != "run" || arguments.contains { ["--resume", "--output", "-o"].contains($0) }
        let process = try PBTProcess(
            arguments + (chooses ? [] : ["--output", directory.file("new-run")]), output: directory.file("output.txt"))
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == row.exitCode, "\(end)\n\(process.log)")
        for text in row.mentions {
            #expect(process.log.contains(text), "'\(text)' not in: \(process.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("new-run")), "a run directory was made")
        #expect(!process.log.contains("NSCocoaErrorDomain"), "a raw Foundation error: \(process.log)")
        if case .startedRun = row.run {
            #expect(
                try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8).split(separator: "\n").count == 1,
                "the run was touched")
        }
    }

    @Test(
        "keygen refuses an output without a name and writes nothing",
        arguments: [["--output", ""], ["--output", "keys/"], ["-o", "."], ["-o", "keys/.."]])
    func keygenNeedsAName(arguments: [String]) throws {
        let directory = try TemporaryDirectory()
        let place = directory.file("here")
        try FileManager.default.createDirectory(atPath: place, withIntermediateDirectories: false)
        let result = try MeasuredProcess.run(["keygen"] + arguments, in: directory, workingDirectory: place)
        #expect(result.exitCode == 2, "\(result.description)")
        #expect(result.output.contains("--output"), "\(result.description)")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: place).isEmpty, "keygen wrote files")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
                $0.hasSuffix(".key") || $0.hasSuffix(".pub")
            }.isEmpty)
    }

    @Test(
        "--help and --version exit 0 and print to stdout",
        arguments: [["--help"], ["run", "--help"], ["help", "run"], ["--version"]])
    func helpExitsZero(arguments: [String]) throws {
        let directory = try TemporaryDirectory()
        let result = try MeasuredProcess.run(arguments, in: directory, standardError: .closed)
        #expect(result.exitCode == 0, "\(result.description)")
        #expect(result.output.contains(arguments == ["--version"] ? "0." : "USAGE"), "\(result.description)")
    }
}
