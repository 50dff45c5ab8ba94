import Foundation
import PBTCore
import Testing

/// invariants 1 and 2, measured on a real run: no barrier, no idle trainer while a
/// member waits.
@Suite("pipeline invariants", .serialized)
struct InvariantTests {
    @Test("a slow member holds up nobody: the others finish on the free trainer before its first step ends")
    func slowMemberBlocksNobody() throws {
        let directory = try TemporaryDirectory()
        // Member 0's steps take 2 s; the others' 5 ms. Two trainers.
        let experiment = try directory.write(
            "slow.yml",
            noopExperiment(
                population: 4, interval: 1, maxSteps: 3, stepSeconds: 0.005, slowMembers: [0], slowStepSeconds: 2))
        let (_, run, _, _) = try finishedRun(experiment, ["--trainers", "2", "--quiet"], in: directory)

        let log = try runEvents(run)
        let firstSlowStep = try #require(
            log.firstIndex { $0.topic == .memberTrained && $0.member == 0 })
        let slowTrainer = try #require(log[firstSlowStep].worker)
        for member in 1..<4 {
            let finished = log.firstIndex {
                $0.topic == .memberFinished && $0.member == member
            }
            #expect(
                finished.map { $0 < firstSlowStep } ?? false,
                "member \(member) finished after the slow member's first step")
        }
        // While the slow member trained, none of the others was given to its trainer.
        let slowAssigned = try #require(
            log.firstIndex {
                $0.topic == .memberAssigned && $0.member == 0
                    && $0.role == .trainer
            })
        for event in log[(slowAssigned + 1)..<firstSlowStep]
        where event.topic == .memberAssigned && event.role == .trainer {
            #expect(
                event.worker != slowTrainer,
                "member \(event.member ?? -1) was queued on the busy trainer")
        }
    }
}
