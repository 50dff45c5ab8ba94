import Foundation
import PBTCore
import PBTSystem
import Testing

/// Real workloads through `pbt run`: the mlp on digits, the Python example trainer in both
/// modes, and user programs that fail in every way a program can.
@Suite("workloads end to end", .serialized)
struct WorkloadRunTests {
    @Test("the mlp workload learns the digits inside the pipeline", .timeLimit(.minutes(5)))
    func mlpLearnsDigits() throws {
        let directory = try TemporaryDirectory()
        let base = try String(
            contentsOfFile: PBTBinary.repository + "/topologies/experiments/digits.yml", encoding: .utf8)
        let experiment = try directory.write(
            "digits.yml",
            base
                .replacingOccurrences(of: "max_steps: 1000", with: "max_steps: 600")
                .replacingOccurrences(of: "population: 8", with: "population: 4")
                .replacingOccurrences(
                    of: "kind: mlp", with: "kind: mlp\n  data: \(PBTBinary.repository)/topologies/data/digits.csv"))
        let (_, _, _, best) = try finishedRun(experiment, ["--quiet"], in: directory, within: 240)
        #expect((best["score"] as? Double ?? 0) >= 0.9, "validation accuracy \(best["score"] ?? "?")")
        let metrics = try #require(best["metrics"] as? [String: Any])
        #expect((metrics["test_accuracy"] as? Double ?? 0) >= 0.85, "test accuracy \(metrics["test_accuracy"] ?? "?")")
    }

    /// CartPole through the pipeline with `evaluation: checkpoint`: evaluations take longer than
    /// training, so trained members wait at the evaluator's inlet, several at a time; every one
    /// is scored (none is lost to wait out a lease), and the held-out returns are reported.
    @Test(
        "the a2c workload through the pipeline: every result waiting at a busy evaluator is scored",
        .timeLimit(.minutes(3)))
    func a2cThroughABusyEvaluator() throws {
        let directory = try TemporaryDirectory()
        let base = try String(
            contentsOfFile: PBTBinary.repository + "/topologies/experiments/cartpole.yml", encoding: .utf8)
        let experiment = try directory.write(
            "cartpole.yml",
            base
                .replacingOccurrences(of: "max_steps: 600", with: "max_steps: 60")
                .replacingOccurrences(of: "interval: 25", with: "interval: 3")
                .replacingOccurrences(of: "validation_episodes: 16", with: "validation_episodes: 64"))
        let (_, run, summary, best) = try finishedRun(
            experiment, ["--quiet", "--trainers", "3"], in: directory, within: 150)
        let events = try runEvents(run)
        let expired = events.filter { $0.topic == .leaseExpired }
        #expect(expired.isEmpty, "\(expired.count) leases expired: \(expired.prefix(3))")
        #expect(summary["reason"] as? String == "max_steps")
        let metrics = try #require(best["metrics"] as? [String: Any])
        #expect(metrics["validation_return"] as? Double == best["score"] as? Double)
        #expect((metrics["test_return"] as? Double ?? -1) > 0)
        #expect(events.filter { $0.topic == .memberScored }.count >= 8 * 20)
    }

    /// gymnasium's own CartPole-v1, trained by the Python A2C of topologies/trainers through the
    /// command protocol (pbt_trainer.py): the experiment file as shipped, shortened.
    @Test(
        "the gymnasium trainer learns CartPole end to end",
        .enabled(if: GymnasiumPython.available, GymnasiumPython.reason), .timeLimit(.minutes(4)))
    func gymnasiumCartPole() throws {
        let directory = try TemporaryDirectory()
        let base = try String(
            contentsOfFile: PBTBinary.repository + "/topologies/experiments/cartpole-python.yml", encoding: .utf8)
        let experiment = try directory.write(
            "cartpole-python.yml",
            base
                .replacingOccurrences(of: "population: 8", with: "population: 4")
                .replacingOccurrences(of: "max_steps: 600", with: "max_steps: 150")
                .replacingOccurrences(
                    of: "../trainers/gym_cartpole.py",
                    with: PBTBinary.repository + "/topologies/trainers/gym_cartpole.py")
                // Members that start from settings A2C learns with, so that 150 updates always
                // show learning (from the file's whole space, all four may draw rates too small).
                + "initial:\n"
                + String(repeating: "  - {lr: 0.003, entropy: 0.01, gamma: 0.99, lambda: 0.95}\n", count: 4))
        let (_, run, _, best) = try finishedRun(experiment, ["--quiet"], in: directory, within: 200)
        let events = try runEvents(run)
        let failures = events.filter { $0.topic == .memberFailed }
        #expect(failures.isEmpty, "\(failures)")
        // A policy that has learned nothing balances about 10 steps (greedy, from the held-out starts).
        // From these settings the best member reached 185–500 in six runs.
        #expect((best["score"] as? Double ?? 0) >= 50, "validation return \(best["score"] ?? "?")")
        let metrics = try #require(best["metrics"] as? [String: Any])
        #expect(metrics["test_return"] as? Double != nil)
        #expect(metrics["frames"] as? Double == Double(150 * 128))
        #expect(events.contains { $0.topic == .memberExploited })
    }

    @Test("the Python example trainer runs end to end", arguments: ["persistent", "once"])
    func pythonExample(mode: String) throws {
        let directory = try TemporaryDirectory()
        let base = try String(
            contentsOfFile: PBTBinary.repository + "/topologies/experiments/digits-python.yml", encoding: .utf8)
        let experiment = try directory.write(
            "python.yml",
            base
                .replacingOccurrences(of: "mode: persistent", with: "mode: \(mode)")
                .replacingOccurrences(of: "max_steps: 1000", with: "max_steps: 300")
                .replacingOccurrences(
                    of: "../trainers/digits_mlp.py, --data, ../data/digits.csv",
                    with: PBTBinary.repository
                        + "/topologies/trainers/digits_mlp.py, --data, \(PBTBinary.repository)/topologies/data/digits.csv"
                ))
        let (_, run, _, best) = try finishedRun(experiment, ["--quiet"], in: directory, within: 240)
        #expect((best["score"] as? Double ?? 0) >= 0.85, "validation accuracy \(best["score"] ?? "?")")
        #expect(((best["metrics"] as? [String: Any])?["test_accuracy"] as? Double) != nil)
        let events = try runEvents(run)
        #expect(
            !events.contains { $0.topic == .memberFailed },
            "\(events.filter { $0.topic == .memberFailed })")
        #expect(events.filter { $0.topic == .memberTrained }.count >= 12)
    }

    @Test("a user program that fails, hangs or talks nonsense never stops the experiment")
    func failingProgramsAreContained() throws {
        let directory = try TemporaryDirectory()
        // Member 0 trains properly; 1 exits with an error; 2 answers garbage; 3 hangs past the timeout.
        let program = try directory.write(
            "trainer.py",
            """
            import json, sys, time
            for line in sys.stdin:
                request = json.loads(line)
                member = request["member"]
                if member == 1:
                    print("member 1 always fails", file=sys.stderr)
                    sys.exit(3)
                if member == 2:
                    print("this is not json", flush=True)
                    continue
                if member == 3:
                    time.sleep(30)
                with open(request["save"], "wb") as f:
                    f.write(b"step %d" % (request["step"] + request["steps"]))
                print(json.dumps({"score": request["step"] + request["steps"], "steps": request["steps"]}), flush=True)
            """)
        let experiment = try directory.write(
            "failing.yml",
            """
            name: failing
            workload:
              kind: command
              command: [python3, \(program)]
              mode: persistent
              timeout: 1s
            population: 4
            interval: 2
            stop: {max_steps: 6}
            exploit: {strategy: none}
            explore: {strategy: none}
            hyperparameters:
              x: {uniform: [0, 1]}
            leases: {max_failures: 1}
            """)
        let run = directory.file("run")
        let process = try PBTProcess(
            ["run", experiment, "--output", run, "--trainers", "2"], output: directory.file("output.txt"))
        let termination = try #require(process.finish(within: 120))
        #expect(termination.succeeded, "\(process.log)")
        let events = try runEvents(run)
        let failures = events.filter { $0.topic == .memberFailed }
        for member in 1...3 {
            let own = failures.filter { $0.member == member }
            #expect(own.count == 2, "member \(member) failed \(own.count) times: \(own)")
            #expect(own.last?.givenUp == true)
        }
        #expect(failures.contains { ($0.reason ?? "").contains("exited with exit code 3") })
        #expect(failures.contains { ($0.reason ?? "").contains("not a JSON object") })
        #expect(failures.contains { ($0.reason ?? "").contains("did not answer within 1 s") })
        #expect(events.contains { $0.topic == .memberFinished && $0.member == 0 })
        let members = try #require(try jsonObject(run + "/summary.json")["members"] as? [[String: Any]])
        #expect(members.map { $0["failed"] as? Bool } == [false, true, true, true])
        #expect(members.first?["step"] as? Int == 6)
        #expect(process.log.contains("member 1 failed"))
    }
}

/// Whether `python3` can import gymnasium and numpy (`.ci/run` installs them from PyPI).
enum GymnasiumPython {
    static let available: Bool = {
        guard let python = ExternalTool.path("python3"), let directory = try? TemporaryDirectory() else { return false }
        return
            (try? ExternalTool.run(python, ["-c", "import gymnasium, numpy"], within: 60, in: directory).0?.succeeded)
            == true
    }()

    static let reason: Comment =
        "python3 cannot import gymnasium (python3 -m pip install gymnasium; .ci/run installs it)"
}
