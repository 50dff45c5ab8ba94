import Foundation
import PBTCore
import PBTStages
import PBTSystem
import PBTTestSupport
import Synchronization
import Testing

/// `pbt run` end to end: the paper's toy, the grid-search baseline, processes and signals.
@Suite("pbt run", .serialized)
struct RunCommandTests {
    /// A synchronous run is reproducible whatever the number of trainers (invariant 6):
    /// every decision waits for the whole population, and each draws from a generator derived
    /// from (seed, member, version). So is the shipped toy, whose `max_lead: 0` holds the
    /// member ahead at each ready step for the other: with two members it makes the same
    /// decisions. Both give Q = 1.1961 with 50 exploits every time.
    @Test(
        "the synchronous toy and the shipped toy (max_lead 0) reach the same Q ≥ 1.19 with one trainer and with two, and in one process"
    )
    func synchronousToyIsReproducible() throws {
        let directory = try TemporaryDirectory()
        let shipped = PBTBinary.repository + "/topologies/experiments/toy.yml"
        let toy = try String(contentsOfFile: shipped, encoding: .utf8)
        #expect(toy.contains("\nmax_lead: 0"))
        let synchronous = directory.file("toy-sync.yml")
        let lines = toy.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("max_lead:") }
        try lines.joined(separator: "\n").replacingOccurrences(of: "\nexploit:", with: "\nsynchronous: true\nexploit:")
            .write(toFile: synchronous, atomically: true, encoding: .utf8)
        var outcomes: [String] = []
        // The last: the same with every stage a thread of one process (`--in-process`).
        for (file, arguments) in [
            (synchronous, ["--trainers", "1"]), (synchronous, ["--trainers", "2"]), (shipped, ["--trainers", "1"]),
            (shipped, ["--trainers", "2"]), (shipped, ["--trainers", "2", "--in-process"]),
        ] {
            let (_, _, summary, best) = try finishedRun(file, arguments, in: directory, name: "run\(outcomes.count)")
            let score = try #require(best["score"] as? Double)
            #expect(score >= 1.19, "best Q \(score)")
            outcomes.append(
                "Q \(score), \(summary["exploits"] as? Int ?? -1) exploits, best member \(best["member"] as? Int ?? -1)"
            )
        }
        #expect(Set(outcomes).count == 1, "runs differ: \(outcomes)")
    }

    /// The shipped toy on two trainers: past the grid, both trainers work, and the best
    /// member's schedule and lineage cover every step.
    @Test("the toy with exploit and explore on two trainers gets past the grid, and every trainer works")
    func toyReachesTheTarget() throws {
        let directory = try TemporaryDirectory()
        let (process, run, summary, best) = try finishedRun(
            PBTBinary.repository + "/topologies/experiments/toy.yml", ["--trainers", "2"], in: directory)
        let score = try #require(best["score"] as? Double)
        #expect(score > Toy.pastTheGrid, "best Q \(score)")
        #expect(best["step"] as? Int == 200)
        #expect((summary["exploits"] as? Int ?? 0) > 0)

        // The schedule covers steps 0 to 200 without a gap, and so does the lineage.
        let schedule = try #require(best["schedule"] as? [[String: Any]])
        var next = 0
        for entry in schedule {
            #expect(entry["from_step"] as? Int == next)
            next = entry["to_step"] as? Int ?? -1
        }
        #expect(next == 200)
        let lineage = try #require(best["lineage"] as? [[String: Any]])
        #expect(lineage.first?["from_step"] as? Int == 0 && lineage.last?["to_step"] as? Int == 200)

        let events = try runEvents(run)
        let trainers = Set(
            events.compactMap { $0.trained?.trainer })
        #expect(trainers == ["trainer-1", "trainer-2"], "trainers that did work: \(trainers)")
        #expect(events.contains { $0.topic == .memberExploited })
        #expect(events.last?.topic == .stageStopped)
        #expect(process.log.contains("best: member"))
    }

    /// Several evaluators and mutators: each binds its own inlet, every trainer pushes to all
    /// the evaluators (PUSH spreads over them) and the selector to all the mutators.
    @Test("with two evaluators and two mutators, both of each do work")
    func severalEvaluatorsAndMutators() throws {
        let directory = try TemporaryDirectory()
        let (_, run, summary, best) = try finishedRun(
            PBTBinary.repository + "/topologies/experiments/toy.yml",
            ["--trainers", "2", "--evaluators", "2", "--mutators", "2", "--metrics", "none"],
            in: directory)
        #expect(summary["reason"] as? String == "max_steps")
        #expect((best["score"] as? Double ?? 0) > Toy.pastTheGrid)
        let events = try runEvents(run)
        let evaluators = Set(
            events.filter { $0.topic == .memberScored }.compactMap(\.worker))
        let mutators = Set(
            events.compactMap { $0.exploited?.mutator })
        #expect(evaluators == ["evaluator-1", "evaluator-2"], "evaluators that scored: \(evaluators)")
        #expect(mutators == ["mutator-1", "mutator-2"], "mutators that explored: \(mutators)")
        try checkMemberHistories(events, population: 2, maxSteps: 200)
    }

    /// Starts `pbt run --in-process` on a noop experiment of 40 steps of 10 ms a member
    /// (truncation) and waits until `trained` tasks are trained.
    func startInProcess(
        population: Int, _ arguments: [String], trained: Int, in directory: TemporaryDirectory
    ) throws -> (process: PBTProcess, run: String) {
        let experiment = try directory.write(
            "slow.yml", noopExperiment(population: population, maxSteps: 40, stepSeconds: 0.01, exploit: "truncation"))
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", experiment, "--in-process"] + arguments + ["--output", run], output: directory.file("output.txt"))
        #expect(
            EventLogFollower(path: run + "/events.jsonl").wait(within: 30) {
                $0.filter { $0.topic == .memberTrained }.count >= trained
            })
        return (process, run)
    }

    /// `--in-process`: the stages are threads of `pbt run` over inproc://, only the metrics
    /// exporter a process of its own; every evaluator and mutator still does work, each stage
    /// writes its own log, and every member's history is whole.
    @Test("in one process (--in-process), every stage works, logs to its own file, and only the exporter is a child")
    func stagesInOneProcess() throws {
        let directory = try TemporaryDirectory()
        let (process, run) = try startInProcess(
            population: 6, ["--trainers", "2", "--evaluators", "2", "--mutators", "2"], trained: 1, in: directory)
        // Each stage's thread carries its name, as `top -H` and `perf` show it.
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.child.pid)/task")) ?? []
        let names = Set(
            tasks.compactMap {
                (try? String(contentsOfFile: "/proc/\(process.child.pid)/task/\($0)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            })
        #expect(
            names.isSuperset(of: ["events", "selector", "pbt-store-write", "evaluator-2", "mutator-2", "trainer-2"]),
            "thread names: \(names.sorted())")
        let running = children(of: process.child.pid)
        #expect(
            running.count == 1 && running.allSatisfy { $0.command.contains(" exporter ") },
            "children: \(running.map(\.command))")
        let termination = try #require(process.finish(within: 60))
        #expect(termination.succeeded, "\(process.log)")
        #expect(process.log.contains("stages: threads of this process"))
        let events = try runEvents(run)
        let trainers = Set(events.compactMap { $0.trained?.trainer })
        let evaluators = Set(events.filter { $0.topic == .memberScored }.compactMap(\.worker))
        let mutators = Set(events.compactMap { $0.exploited?.mutator })
        #expect(trainers == ["trainer-1", "trainer-2"], "trainers that trained: \(trainers)")
        #expect(evaluators == ["evaluator-1", "evaluator-2"], "evaluators that scored: \(evaluators)")
        #expect(mutators == ["mutator-1", "mutator-2"], "mutators that explored: \(mutators)")
        #expect(try checkMemberHistories(events, population: 6, maxSteps: 40) == 6)
        for stage in [
            "events", "selector", "evaluator-1", "evaluator-2", "mutator-1", "mutator-2", "trainer-1", "trainer-2",
        ] {
            let log = (try? String(contentsOfFile: "\(run)/logs/\(stage).log", encoding: .utf8)) ?? ""
            #expect(log.contains(" pbt.\(stage): "), "logs/\(stage).log: \(log.prefix(300))")
        }
    }

    /// SIGTERM to `pbt run --in-process` stops every stage's thread (its state in the store),
    /// and `--resume` finishes the run with every member at `max_steps`.
    @Test("in one process, SIGTERM stops the run and --resume finishes it")
    func inProcessStopsAndResumes() throws {
        let directory = try TemporaryDirectory()
        let (process, run) = try startInProcess(
            population: 4, ["--trainers", "2", "--metrics", "none"], trained: 8, in: directory)
        process.child.send(SIGTERM)
        let termination = try #require(process.finish(within: 30))
        #expect(termination.exitCode == 128 + SIGTERM, "\(process.log)")
        #expect(!FileManager.default.fileExists(atPath: run + "/summary.json"))
        let resumed = try PBTProcess(
            ["run", "--resume", run, "--in-process", "--trainers", "2", "--metrics", "none"],
            output: directory.file("resumed.txt"))
        let finished = try #require(resumed.finish(within: 60))
        #expect(finished.succeeded, "\(resumed.log)")
        let summary = try jsonObject(run + "/summary.json")
        #expect(summary["reason"] as? String == "max_steps")
        let members = try #require(summary["members"] as? [[String: Any]])
        #expect(members.count == 4 && members.allSatisfy { $0["step"] as? Int == 40 }, "\(members)")
    }

    /// Ctrl-C in a terminal is SIGINT to the whole foreground process group. The stages have
    /// groups of their own, so only `pbt run` gets it and stops them in order: the trainer
    /// first, whose hand-back and goodbye reach a selector still running. (When the stages
    /// shared the group, every one stopped at once and the hand-backs were lost.)
    /// The same for the terminal closing (SIGHUP to the group), which killed the run with no
    /// hand-back, and Ctrl-\\ (SIGQUIT), which froze it in the runtime's crash report.
    @Test(
        "Ctrl-C, Ctrl-\\ and a closed terminal (a signal to pbt run's process group) stop the stages in order: the trainer's hand-back reaches the selector",
        arguments: [SIGINT, SIGQUIT, SIGHUP])
    func terminalSignalsStopTheStagesInOrder(_ signal: Int32) throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "long.yml", noopExperiment(name: "long", population: 2, interval: 1_000, maxSteps: 2_000, stepSeconds: 0.02)
        )
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none"], output: directory.file("run.txt"),
            ownProcessGroup: true)
        let follower = EventLogFollower(path: run + "/events.jsonl")
        try #require(
            follower.wait(within: 30) { $0.contains { $0.topic == .memberAssigned && $0.role == .trainer } },
            "\(process.log)")
        #expect(kill(-process.child.pid, signal) == 0)
        let end = try #require(process.finish(within: 60))
        #expect(end.exitCode == 128 + signal, "\(end)\n\(process.log)")
        let selector = (try? String(contentsOfFile: run + "/logs/selector.log", encoding: .utf8)) ?? ""
        #expect(!selector.contains("stopping on signal \(signal) "), "\(selector)")
        let events = follower.refresh()
        let handedBack = events.contains {
            ($0.topic == .memberTrained && $0.trained?.interrupted == true) || $0.topic == .leaseReleased
        }
        let saidGoodbye = events.contains { $0.topic == .trainerLeft && $0.reason == "goodbye" }
        #expect(handedBack && saidGoodbye, "\(events.suffix(8).map(\.event))\n\(selector)")
    }

    /// A trainer in the middle of a step longer than the stop's grace is killed, and `pbt run`
    /// says so (it said nothing, so the lost steps went unexplained).
    @Test("a stage that does not stop within the grace is named when it is killed")
    func aStageKilledAtTheStopIsNamed() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "slow.yml", noopExperiment(name: "slow", population: 1, interval: 10, maxSteps: 20, stepSeconds: 60))
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", file, "--output", run, "--trainers", "1", "--metrics", "none", "--quiet"],
            output: directory.file("run.txt"))
        try #require(
            EventLogFollower(path: run + "/events.jsonl").wait(within: 30) {
                $0.contains { $0.topic == .memberAssigned && $0.role == .trainer }
            }, "\(process.log)")
        process.child.send(SIGTERM)
        let end = try #require(process.finish(within: 60))
        #expect(end.exitCode == 128 + SIGTERM, "\(process.log)")
        #expect(
            process.log.contains("trainer-1 (pid ") && process.log.contains("did not stop within 5 s and was killed"),
            "\(process.log)")
    }

    /// Runs of one experiment started together, without --output, each get a directory of
    /// their own (the name has the second it started in; the first to make it has it, the others
    /// take `-2`, `-3`): each finishes, none writes into another's.
    @Test("runs started in the same second get a run directory each")
    func runsStartedTogetherGetADirectoryEach() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("same.yml", noopExperiment(name: "same", population: 2, maxSteps: 4))
        let runs = try (0..<3).map { index in
            try PBTProcess(
                [
                    "-c",
                    "cd '\(directory.path)' && exec '\(PBTBinary.path)' run '\(file)' --in-process --metrics none --quiet",
                ], output: directory.file("run-\(index).txt"), executable: "/bin/sh")
        }
        for run in runs {
            let end = try #require(run.finish(within: 60))
            #expect(end.succeeded, "\(run.log)")
        }
        let made = try FileManager.default.contentsOfDirectory(atPath: directory.file("runs")).filter {
            $0.hasPrefix("same-")
        }
        #expect(made.count == 3, "\(made)")
        for name in made {
            #expect(FileManager.default.fileExists(atPath: directory.file("runs/\(name)/summary.json")), "\(name)")
        }
    }

    /// The claim itself: many at once, each gets a directory that no other got.
    @Test func runDirectoriesClaimedAtOnceAreEachMadeOnce() throws {
        let directory = try TemporaryDirectory()
        let parent = directory.file("runs")
        let claimed = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let path = try? RunSupervisor.claimRunDirectory(for: "same", in: parent) {
                claimed.withLock { $0.append(path) }
            }
        }
        let paths = claimed.withLock { $0 }
        #expect(paths.count == 16 && Set(paths).count == 16, "\(paths.sorted())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).count == 16)
    }

    /// One selector a run directory: a second `pbt run --resume` of a run that is still going
    /// is refused (exit 2) naming the process that holds it, and the first goes on to the end.
    @Test("a run directory whose selector runs cannot be resumed a second time")
    func oneSelectorARunDirectory() throws {
        let directory = try TemporaryDirectory()
        let (process, run) = try startInProcess(
            population: 4, ["--trainers", "2", "--metrics", "none"], trained: 1, in: directory)
        let second = try PBTProcess(
            ["run", "--resume", run, "--metrics", "none"], output: directory.file("second.txt"))
        let refused = try #require(second.finish(within: 30))
        #expect(refused.exitCode == 2, "\(second.log)")
        #expect(second.log.contains("is in use by another selector (pid \(process.child.pid))"), "\(second.log)")
        let finished = try #require(process.finish(within: 60))
        #expect(finished.succeeded, "\(process.log)")
        #expect(try jsonObject(run + "/summary.json")["reason"] as? String == "max_steps")
    }

    /// A persistent Python trainer that runs `work` (one line of Python; `request` is the
    /// request) before it saves a checkpoint and answers with its step as the score, and an
    /// experiment of `population` members on it, ready every step, with neither exploit nor
    /// explore. Returns the experiment file.
    static func commandExperiment(
        in directory: TemporaryDirectory, name: String, work: String, population: Int, maxSteps: Int
    ) throws -> String {
        let program = try directory.write(
            "\(name).py",
            """
            import json, sys, time
            for line in sys.stdin:
                request = json.loads(line)
                \(work)
                with open(request["save"], "wb") as f:
                    f.write(b"step %d" % (request["step"] + request["steps"]))
                print(json.dumps({"score": request["step"] + request["steps"]}), flush=True)
            """)
        return try directory.write(
            "\(name).yml",
            """
            name: \(name)
            workload: {kind: command, command: [python3, \(program)], mode: persistent}
            population: \(population)
            interval: 1
            stop: {max_steps: \(maxSteps)}
            exploit: {strategy: none}
            explore: {strategy: none}
            hyperparameters:
              x: {uniform: [0, 1]}
            """)
    }

    /// A command program is started through `pbt exec-program`, which asks for the parent-death
    /// signal and then becomes the program: one that ignores SIGTERM still dies with its
    /// trainer when the trainer is killed with SIGKILL. The trainer's scratch directory, which it
    /// had no chance to remove, is swept by the next one once it has settled.
    @Test("a command program that ignores SIGTERM dies with its trainer, even one killed with SIGKILL")
    func programsDieWithTheirTrainer() throws {
        let directory = try TemporaryDirectory()
        let scratch = directory.file("tmp")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let program = try directory.write(
            "stubborn.py",
            """
            import sys, time, signal
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for line in sys.stdin:
                time.sleep(600)
            """)
        let experiment = try directory.write(
            "stubborn.yml",
            """
            name: stubborn
            workload: {kind: command, command: [python3, \(program)], mode: persistent, timeout: 10m}
            population: 1
            interval: 1
            stop: {max_steps: 2}
            exploit: {strategy: none}
            explore: {strategy: none}
            hyperparameters:
              x: {uniform: [0, 1]}
            """)
        let process = try PBTProcess(
            ["run", experiment, "--trainers", "1", "--metrics", "none", "--output", directory.file("run")],
            output: directory.file("output.txt"), environment: ["TMPDIR": scratch])
        var trainer: pid_t = 0
        var programs: [(pid: pid_t, command: String)] = []
        #expect(
            eventually(within: 30) {
                trainer = children(of: process.child.pid).first { $0.command.contains(" trainer ") }?.pid ?? 0
                programs = trainer == 0 ? [] : children(of: trainer).filter { $0.command.contains("stubborn.py") }
                return !programs.isEmpty
            }, "no program under the trainer")
        kill(trainer, SIGKILL)
        #expect(
            eventually(within: 10) { programs.allSatisfy { !isAlive($0.pid) } },
            "still alive after its trainer: \(programs.filter { isAlive($0.pid) }.map(\.command))")
        process.child.send(SIGTERM)
        _ = process.finish(within: 30)
        // The killed trainer's scratch is left, its lock let go by the kernel: a sweep takes it
        // once it is older than `settled` (here: asked as if that time had passed).
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch).filter {
            $0.hasPrefix("pbt-command-\(trainer)-")
        }
        #expect(left.count == 1, "\(left)")
        let swept = ScratchDirectory.sweep(
            parent: scratch, prefix: "pbt-command-", now: Date().addingTimeInterval(ScratchDirectory.settled + 1))
        #expect(Set(left.map { scratch + "/" + $0 }).isSubset(of: swept), "swept \(swept)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).allSatisfy { !left.contains($0) })
    }

    /// A trainer stopped in order (SIGTERM to `pbt run`) removes its scratch directory before
    /// it exits, however its work thread and its loop hand the workload over at the end.
    @Test("SIGTERM mid-task leaves no scratch directory of a command trainer", arguments: [false, true])
    func orderlyStopRemovesScratch(inProcess: Bool) throws {
        let directory = try TemporaryDirectory()
        let scratch = directory.file("tmp")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let experiment = try Self.commandExperiment(
            in: directory, name: "slow", work: "time.sleep(0.3)", population: 4, maxSteps: 1000)
        let process = try PBTProcess(
            ["run", experiment, "--trainers", "3", "--metrics", "none", "--output", directory.file("run")]
                + (inProcess ? ["--in-process"] : []),
            output: directory.file("output.txt"), environment: ["TMPDIR": scratch])
        let follower = EventLogFollower(path: directory.file("run") + "/events.jsonl")
        // Every trainer has finished a task and is in the middle of another.
        #expect(
            follower.wait(within: 60) { events in
                Set(events.compactMap { $0.topic == .memberTrained ? $0.worker : nil }).count == 3
            }, "\(process.log)")
        let made = try FileManager.default.contentsOfDirectory(atPath: scratch).filter { $0.hasPrefix("pbt-command-") }
        #expect(made.count >= 3, "\(made)")
        process.child.send(SIGTERM)
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == 143, "\(end)\n\(process.log)")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch).filter { $0.hasPrefix("pbt-command-") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// A trainer that is a thread has no stderr of its own: its command program's stderr goes
    /// to the trainer's log in the run directory, as a process stage's would, not to the console.
    @Test("in one process, a command program's stderr goes to its trainer's log, not to pbt run's output")
    func inProcessProgramLogs() throws {
        let directory = try TemporaryDirectory()
        let experiment = try Self.commandExperiment(
            in: directory, name: "program",
            work: #"print("program-stderr-line member %d" % request["member"], file=sys.stderr, flush=True)"#,
            population: 2, maxSteps: 3)
        let (process, run, _, _) = try finishedRun(
            experiment, ["--in-process", "--trainers", "2", "--metrics", "none"], in: directory)
        #expect(!process.log.contains("program-stderr-line"), "\(process.log)")
        let logs = ["trainer-1", "trainer-2"].map {
            (try? String(contentsOfFile: "\(run)/logs/\($0).log", encoding: .utf8)) ?? ""
        }
        let lines = logs.joined().components(separatedBy: "program-stderr-line").count - 1
        #expect(lines == 6, "program lines in the trainers' logs: \(lines)")
        #expect(logs.allSatisfy { $0.contains(" pbt.trainer-") }, "the trainers' own lines are there too")
    }

    @Test("the toy without exploit and explore (the paper's grid search) stays at Q = 0.39")
    func gridSearchPlateaus() throws {
        let directory = try TemporaryDirectory()
        let (_, _, summary, best) = try finishedRun(
            PBTBinary.repository + "/topologies/experiments/toy-grid.yml", ["--quiet"], in: directory)
        let score = try #require(best["score"] as? Double)
        #expect(abs(score - 0.39) < 0.005, "best Q \(score)")
        #expect(summary["exploits"] as? Int == 0)
    }

    @Test("every stage is its own process, and SIGTERM to pbt run leaves none behind")
    func stagesAreProcessesAndSigtermStopsThemAll() throws {
        let directory = try TemporaryDirectory()
        let experiment = try directory.write(
            "slow.yml", noopExperiment(population: 4, maxSteps: 1000, stepSeconds: 0.05))
        let process = try PBTProcess(
            ["run", experiment, "--trainers", "3", "--output", directory.file("run")],
            output: directory.file("output.txt"))
        var stages: [(pid: pid_t, command: String)] = []
        let allUp = eventually(within: 30) {
            stages = children(of: process.child.pid)
            // events, exporter, selector, evaluator, mutator, 3 trainers (a child may show a moment before its exec)
            return ["events proxy", "exporter", "selector", "evaluator", "mutator"].allSatisfy { role in
                stages.contains { $0.command.contains(" \(role) ") }
            }
                && stages.filter { $0.command.contains(" trainer ") }.count == 3
        }
        #expect(allUp, "children: \(stages.map(\.command))")
        for role in ["events proxy", "exporter", "selector", "evaluator", "mutator", "trainer"] {
            #expect(
                stages.contains { $0.command.contains(" \(role) ") },
                "no '\(role)' process among \(stages.map(\.command))")
        }
        #expect(stages.filter { $0.command.contains(" trainer ") }.count == 3)
        // Wait for training to be under way, then interrupt.
        #expect(
            EventLogFollower(path: directory.file("run/events.jsonl")).wait(within: 30) {
                $0.contains { $0.topic == .memberTrained }
            })
        process.child.send(SIGTERM)
        let termination = try #require(process.finish(within: 30))
        #expect(termination.exitCode == 128 + SIGTERM)
        #expect(
            eventually(within: 10) { stages.allSatisfy { !isAlive($0.pid) } },
            "still alive: \(stages.filter { isAlive($0.pid) }.map(\.command))")
    }

    @Test("SIGKILL to pbt run takes every stage with it")
    func sigkillTakesEveryStage() throws {
        let directory = try TemporaryDirectory()
        let experiment = try directory.write(
            "slow.yml", noopExperiment(population: 4, maxSteps: 1000, stepSeconds: 0.05))
        let process = try PBTProcess(
            ["run", experiment, "--trainers", "2", "--output", directory.file("run")],
            output: directory.file("output.txt"))
        var stages: [(pid: pid_t, command: String)] = []
        #expect(
            eventually(within: 30) {
                stages = children(of: process.child.pid)
                return ["events proxy", "exporter", "selector", "evaluator", "mutator"].allSatisfy { role in
                    stages.contains { $0.command.contains(" \(role) ") }
                }
                    && stages.filter { $0.command.contains(" trainer ") }.count == 2
            })
        process.child.send(SIGKILL)
        _ = process.finish(within: 10)
        #expect(
            eventually(within: 10) { stages.allSatisfy { !isAlive($0.pid) } },
            "still alive: \(stages.filter { isAlive($0.pid) }.map(\.command))")
    }

    @Test("a wrong experiment file fails before anything starts, naming the field and the value")
    func badFileFailsEarly() throws {
        let directory = try TemporaryDirectory()
        let bad = try directory.write(
            "bad.yml",
            noopExperiment(population: 4, maxSteps: 10).replacingOccurrences(
                of: "strategy: none", with: "strategy: truncation\n  fraction: 0.7"))
        let process = try PBTProcess(
            ["run", bad, "--output", directory.file("run")], output: directory.file("output.txt"))
        let termination = try #require(process.finish(within: 30))
        #expect(termination.exitCode == 2)
        #expect(process.log.contains("exploit.fraction"), "\(process.log)")
        #expect(process.log.contains("0.7"), "\(process.log)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("run")))
    }
}

/// What `pbt run` prints of a stage that stopped.
@Suite("a stage's log tail")
struct StageLogTailTests {
    @Test func aCrashSaysWhyBeforeItsRegisterDump() throws {
        let directory = try TemporaryDirectory()
        let dump = (0..<40).map { "  #\($0) 0x00007f0000000000 in image \($0)" }
        let log = try directory.write(
            "mutator-1.log",
            (["info: started", "Swift runtime failure: arithmetic overflow", "💣 Program crashed"] + dump)
                .joined(separator: "\n"))
        let tail = RunSupervisor.tail(of: log)
        #expect(tail.hasPrefix("it crashed: Swift runtime failure: arithmetic overflow\n"), "\(tail)")
        #expect(tail.contains("#39 0x00007f0000000000"))
        // A log whose last lines say it all gets nothing more.
        let plain = try directory.write("trainer-1.log", "info: started\nFatal error: boom\n")
        #expect(RunSupervisor.tail(of: plain).hasPrefix("last lines of "))
    }
}
