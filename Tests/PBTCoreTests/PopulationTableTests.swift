import Testing

@testable import PBTCore

/// The population table's indices that `max_lead` reads: the slowest live member's step and a
/// training queue whose head can be held back.
@Suite("PopulationTable")
struct PopulationTableTests {
    static func table(_ count: Int) -> PopulationTable {
        PopulationTable(
            (0..<count).map { Member(id: $0, seed: 0, hyperparameters: Hyperparameters([:])) }, boundsLead: true)
    }

    @Test func theSlowestLiveStepFollowsStepsAndLeavesWithMembersDone() {
        var table = Self.table(3)
        #expect(table.slowestLiveStep() == 0)
        table.update(0) { $0.step = 8 }
        table.update(1) { $0.step = 4 }
        #expect(table.slowestLiveStep() == 0)
        table.update(2) { $0.step = 12 }
        #expect(table.slowestLiveStep() == 4)
        // An exploit copies an earlier step: the slowest can go back.
        table.update(0) { $0.step = 2 }
        #expect(table.slowestLiveStep() == 2)
        // A member finished or given up is not waited for.
        table.setPhase(0, .failed)
        #expect(table.slowestLiveStep() == 4)
        table.setPhase(1, .finished)
        #expect(table.slowestLiveStep() == 12)
        table.setPhase(2, .finished)
        #expect(table.slowestLiveStep() == nil)
        // A phase change that keeps the member live moves nothing.
        var other = Self.table(2)
        other.update(1) { $0.step = 4 }
        other.setPhase(0, .waiting)
        other.setPhase(0, .queued(.trainer))
        #expect(other.slowestLiveStep() == 0)
    }

    @Test func theTrainingQueueHoldsItsHeadBeyondALimit() {
        var table = Self.table(2)
        table.setPhase(0, .scoring)
        table.update(0) { $0.step = 8 }
        table.setPhase(0, .queued(.trainer))
        // Member 1 (step 0) is first; then member 0 (step 8) is held at a limit of 4.
        var has = table.hasNextForTraining(atMost: 4)
        #expect(has)
        #expect(table.nextForTraining(atMost: 4) == 1)
        has = table.hasNextForTraining(atMost: 4)
        #expect(!has)
        #expect(table.nextForTraining(atMost: 4) == nil)
        has = table.hasNextForTraining()
        #expect(has)
        #expect(table.nextForTraining(atMost: 8) == 0)
        has = table.hasNextForTraining()
        #expect(!has)
    }

    @Test func waitingMembersComeOutFurthestBehindFirstAndOnlyWithinTheLimit() {
        var table = Self.table(3)
        for (member, step) in [(0, 12), (1, 8), (2, 4)] {
            table.setPhase(member, .scoring)
            table.update(member) { $0.step = step }
            table.setPhase(member, .waiting)
        }
        #expect(table.nextWaiting(atMost: 3) == nil)
        #expect(table.nextWaiting(atMost: 8) == 2)
        #expect(table.nextWaiting(atMost: 8) == 1)
        #expect(table.nextWaiting(atMost: 8) == nil)
        // Taken but not decided: it can wait again; one that moved on is skipped.
        table.wait(1)
        table.setPhase(0, .queued(.trainer))
        #expect(table.nextWaiting(atMost: 100) == 1)
        #expect(table.nextWaiting(atMost: 100) == nil)
        // A table that does not bound the lead keeps no waiting queue and no slowest step.
        var unbounded = PopulationTable(
            (0..<2).map { Member(id: $0, seed: 0, hyperparameters: Hyperparameters([:])) })
        unbounded.setPhase(0, .waiting)
        #expect(unbounded.nextWaiting(atMost: 100) == nil)
        #expect(unbounded.slowestLiveStep() == nil)
    }
}
