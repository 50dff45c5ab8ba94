import Foundation
import PBTCore
import PBTSystem
import PBTTestSupport
import Testing

/// A `command` workload as a user writes one: paths relative to the experiment file, a program
/// that wants a 32-bit seed, and `pbt run` allowing its workers that program and no other.
@Suite("command workload paths", .serialized)
struct CommandWorkloadPathsTests {
    /// A trainer that fails unless the request has a 32-bit `seed32` folded from `seed` (when
    /// its first argument is --check-seed32).
    static let trainer = """
        import json, sys
        for line in sys.stdin:
            request = json.loads(line)
            seed, seed32 = request["seed"], request.get("seed32")
            if sys.argv[1:] == ["--check-seed32"] and not (isinstance(seed32, int) and 0 <= seed32 < 2**32 and seed32 == (seed ^ (seed >> 32)) & 0xFFFFFFFF):
                print(f"bad seed32 {seed32!r} for seed {seed}", file=sys.stderr, flush=True)
                sys.exit(3)
            with open(request["save"], "wb") as f:
                f.write(b"step %d" % (request["step"] + request["steps"]))
            print(json.dumps({"score": request["step"] + request["steps"], "steps": request["steps"]}), flush=True)
        """

    /// DIRECTORY/experiments/NAME.yml running `python3 ../trainers/seeded.py --check-seed32`
    /// (`python3 DIRECTORY/trainers/seeded.py` when not `relative`), and the trainer.
    static func layout(
        in directory: TemporaryDirectory, name: String, maxSteps: Int, relative: Bool = true
    ) throws -> String {
        for folder in ["experiments", "trainers"] {
            try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true)
        }
        _ = try directory.write("trainers/seeded.py", trainer)
        return try directory.write(
            "experiments/\(name).yml",
            """
            name: \(name)
            seed: 3
            workload:
              kind: command
              command: \(relative ? "[python3, ../trainers/seeded.py, --check-seed32]" : "[python3, \(directory.file("trainers/seeded.py"))]")
              mode: persistent
              timeout: 10s
            population: 2
            interval: 2
            stop: {max_steps: \(maxSteps)}
            hyperparameters:
              x: {uniform: [0, 1]}
            leases: {max_failures: 1}
            """)
    }

    @Test(
        "relative paths in command are beside the experiment file, and the program gets seed32", .timeLimit(.minutes(2))
    )
    func relativePathsAndSeed32() throws {
        let directory = try TemporaryDirectory()
        let file = try Self.layout(in: directory, name: "beside", maxSteps: 4)
        // pbt runs in the test's directory, not the experiment's.
        #expect(FileManager.default.currentDirectoryPath != directory.file("experiments"))
        let (_, run, summary, _) = try finishedRun(file, ["--trainers", "1", "--metrics", "none"], in: directory)
        let events = try runEvents(run)
        let failures = events.filter { $0.topic == .memberFailed }
        #expect(failures.isEmpty, "\(failures)")
        #expect((summary["members"] as? [[String: Any]])?.allSatisfy { $0["step"] as? Int == 4 } == true, "\(summary)")
        let copied = try String(contentsOfFile: run + "/experiment.yml", encoding: .utf8)
        #expect(copied.hasSuffix("directory: \"\(directory.file("experiments"))\"\n"), "\(copied)")
    }

    @Test("pbt run lets its workers run the experiment's program and no other", .timeLimit(.minutes(2)))
    func workersAllowExactlyTheProgram() throws {
        let directory = try TemporaryDirectory()
        let file = try Self.layout(in: directory, name: "allowed", maxSteps: 100_000, relative: false)
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none"], output: directory.file("run.txt"))
        let trained = EventLogFollower(path: run + "/events.jsonl").wait(within: 30) {
            $0.contains { $0.topic == .memberTrained }
        }
        #expect(trained, "\(process.log)")
        let workers = children(of: process.child.pid).filter {
            $0.command.contains(" trainer ") || $0.command.contains(" evaluator ")
        }
        #expect(workers.count == 2, "\(children(of: process.child.pid))")
        for worker in workers {
            #expect(worker.command.contains(" --allow-command python3 "), "\(worker.command)")
            #expect(!worker.command.contains("*"), "\(worker.command)")
        }
        #expect(
            process.log.contains("--allow-command python3"),
            "the hand-started trainer's command lacks it: \(process.log)")
        process.child.send(SIGTERM)
        _ = process.finish(within: 30)
    }
}
