import PBTConfig
import PBTCore
import PBTMonitor
import PBTReport
import PBTWire
import Testing

/// Replay: a member's schedule from the event log, as an experiment file that loads, holds the
/// summary's schedule, and — run through the selector — reaches the member's score again.
@Suite("Replay plan")
struct ReplayPlanTests {
    @Test(arguments: [1, 2, 3, 6])
    func replayingTheBestMemberReachesItsScore(seed: Int) throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText(seed: seed))
        let summary = try JSONValue.parse(run.summary)
        let best = try #require(summary["best"]?["member"]?.int)
        let plan = try ReplayPlan.make(member: best, events: run.events, experiment: run.text, runDirectory: "runs/sim")
        #expect(plan.name == "sim-replay-m\(best)")
        #expect(plan.steps == summary["best"]?["step"]?.int)
        #expect(plan.originalScore == summary["best"]?["score"]?.double)

        let replay = try Experiment.parse(yaml: plan.yaml)
        #expect(replay.population == 1)
        #expect(replay.exploit == .none)
        #expect(replay.explore == .none)
        #expect(replay.stop.maxSteps == plan.steps)
        #expect(replay.seed == run.experiment.seed)
        let entries = try #require(replay.schedule?.entries)
        let rows = try #require(summary["best"]?["schedule"]?.array)
        #expect(entries.count == rows.count)
        for (entry, row) in zip(entries, rows) {
            #expect(entry.fromStep == row["from_step"]?.int)
            #expect(entry.seedOf == row["trained_by"]?.int)
            #expect(entry.hyperparameters.number("lr") == row["hyperparameters"]?["lr"]?.double)
            #expect(
                entry.hyperparameters["depth"]
                    == row["hyperparameters"]?["depth"]?.int.map { HyperparameterValue.integer($0) })
            #expect(
                entry.hyperparameters["batch"]
                    == row["hyperparameters"]?["batch"]?.int.map { HyperparameterValue.integer($0) })
        }
        // Retrain it: the same score, exactly.
        let again = try SimulatedRun.run(plan.yaml)
        #expect(again.finalScore == plan.originalScore)
        #expect(again.experiment.name == "sim-replay-m\(best)")
    }

    @Test func theReplayOfAnExperimentWithTheLongestNameLoads() throws {
        let longest = String(repeating: "n", count: Experiment.maximumNameLength)
        let run = try SimulatedRun.run(
            SimulatedRun.experimentText(seed: 1).replacingOccurrences(of: "name: sim", with: "name: \(longest)"))
        let plan = try ReplayPlan.make(member: 0, events: run.events, experiment: run.text, runDirectory: "runs/long")
        let replay = try Experiment.parse(yaml: plan.yaml)
        #expect(replay.name.count == Experiment.maximumNameLength)
        #expect(replay.name.hasSuffix("-replay-m0"))
    }

    @Test func everyMemberCanBeReplayed() throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText(seed: 9))
        for member in 0..<4 {
            let plan = try ReplayPlan.make(member: member, events: run.events, experiment: run.text, runDirectory: "r")
            #expect(try SimulatedRun.run(plan.yaml).finalScore == plan.originalScore)
        }
    }

    static func failure(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func badRequestsSayWhatIsWrong() throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText())
        #expect(
            Self.failure {
                _ = try ReplayPlan.make(member: 9, events: run.events, experiment: run.text, runDirectory: "r")
            }
                == "there is no member 9 in r: its members are 0 to 3")
        let late = run.events.split(separator: "\n").filter { !$0.contains("\"from_step\":0,") }.joined(separator: "\n")
        #expect(
            Self.failure { _ = try ReplayPlan.make(member: 1, events: late, experiment: run.text, runDirectory: "r") }
                .hasPrefix("the event log of r does not hold member 1's history from step 0"))
        let started = run.events.split(separator: "\n").prefix(1).joined()
        #expect(
            Self.failure {
                _ = try ReplayPlan.make(member: 0, events: started, experiment: run.text, runDirectory: "r")
            }
                == "member 0 never trained in r (no member.trained event for it)")
        #expect(
            Self.failure { _ = try ReplayPlan.make(member: 0, events: "", experiment: run.text, runDirectory: "r") }
                == "r/events.jsonl holds no event")
        #expect(
            Self.failure {
                _ = try ReplayPlan.make(member: 0, events: run.events, experiment: "name: x", runDirectory: "r")
            }
            .hasPrefix("r/experiment.yml: "))
    }
}
