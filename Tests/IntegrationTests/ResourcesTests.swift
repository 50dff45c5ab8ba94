import Foundation
import PBTSystem
import Testing

/// What a command program sees of its trainer's resources under `pbt run`: the thread budget
/// in every library's variable, the user's own value kept, a GPU device of its own.
@Suite("trainer resources", .serialized)
struct ResourcesTests {
    /// A trainer that writes the variables it was started with to `ENV_DUMP/PARENT.json`
    /// (PARENT: the pid of the trainer process that started it), then trains nothing.
    static let trainer = """
        import json, os, sys
        names = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "PBT_THREADS", "CUDA_VISIBLE_DEVICES"]
        for line in sys.stdin:
            request = json.loads(line)
            seen = {name: os.environ.get(name) for name in names}
            path = os.path.join(os.environ["ENV_DUMP"], "%d.json" % os.getppid())
            with open(path + ".tmp", "w") as f:
                json.dump(seen, f)
            os.replace(path + ".tmp", path)
            with open(request["save"], "wb") as f:
                f.write(b"step %d" % (request["step"] + request["steps"]))
            print(json.dumps({"score": request["step"] + request["steps"], "steps": request["steps"]}), flush=True)
        """

    static func experiment(
        in directory: TemporaryDirectory, name: String, resources: String, environment: String
    ) throws -> String {
        let program = try directory.write("\(name).py", trainer)
        let dump = directory.file("\(name)-env")
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        return try directory.write(
            "\(name).yml",
            """
            name: \(name)
            workload:
              kind: command
              command: [python3, \(program)]
              mode: persistent
              timeout: 20s
              environment: {ENV_DUMP: "\(dump)"\(environment)}
            population: 2
            interval: 2
            stop: {max_steps: 4}
            hyperparameters:
              x: {uniform: [0, 1]}
            resources: \(resources)
            leases: {max_failures: 1}
            """)
    }

    /// What each trainer's program saw, by the trainer's pid.
    static func seen(in directory: String) throws -> [String: [String: String]] {
        var seen: [String: [String: String]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".json") {
            let object = try jsonObject(directory + "/" + file)
            seen[file] = object.compactMapValues { $0 as? String }
        }
        return seen
    }

    @Test(
        "under pbt run --trainers 2 each program gets the thread budget, the user's own value and a GPU of its own",
        .timeLimit(.minutes(2)))
    func budgetAndDevices() throws {
        let directory = try TemporaryDirectory()
        let file = try Self.experiment(
            in: directory, name: "budget", resources: "{gpus: 1}", environment: #", MKL_NUM_THREADS: "7""#)
        // Both members must be trained at once for both trainers to start the program: two
        // members, two trainers, and nothing else to do.
        let (process, _, _, _) = try finishedRun(
            file, ["--trainers", "2", "--gpus", "4,7", "--metrics", "none"], in: directory)
        let seen = try Self.seen(in: directory.file("budget-env"))
        let cores = min(Cores.available, CPUQuota.current() ?? Int.max)
        let share = String(max(1, cores / 2))
        #expect(process.log.contains("resources: \(share) thread"), "\(process.log)")
        #expect(seen.count == 2, "programs of \(seen.count) trainers: \(seen)")
        for (trainer, variables) in seen {
            for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "PBT_THREADS"] {
                #expect(variables[name] == share, "\(trainer): \(name) = \(variables[name] ?? "unset"), not \(share)")
            }
            #expect(
                variables["MKL_NUM_THREADS"] == "7", "\(trainer): the user's MKL_NUM_THREADS was not kept: \(variables)"
            )
        }
        let devices = seen.values.compactMap { $0["CUDA_VISIBLE_DEVICES"] }.sorted()
        #expect(devices == ["4", "7"], "devices \(devices)")
    }

    @Test("threads: inherit leaves the variables as the trainer's environment has them", .timeLimit(.minutes(2)))
    func inheritLeavesTheEnvironmentAlone() throws {
        let directory = try TemporaryDirectory()
        let file = try Self.experiment(in: directory, name: "inherit", resources: "{threads: inherit}", environment: "")
        _ = try finishedRun(file, ["--trainers", "2", "--metrics", "none"], in: directory)
        let seen = try Self.seen(in: directory.file("inherit-env"))
        #expect(!seen.isEmpty)
        let ours = ProcessInfo.processInfo.environment
        for (trainer, variables) in seen {
            for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PBT_THREADS", "CUDA_VISIBLE_DEVICES"] {
                #expect(
                    variables[name] == ours[name],
                    "\(trainer): \(name) = \(variables[name] ?? "unset"), the test's own is \(ours[name] ?? "unset")")
            }
        }
    }
}
