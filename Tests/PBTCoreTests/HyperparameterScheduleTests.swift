import PBTCore
import Testing

private typealias F = Fixture

/// An experiment's `schedule`: which entry is in force, where tasks stop, and what the
/// selector machine sends trainers under it.
@Suite("Hyperparameter schedule")
struct HyperparameterScheduleTests {
    static let schedule = HyperparameterSchedule([
        .init(fromStep: 6, hyperparameters: F.hyperparameters(0.5), seedOf: 2),
        .init(fromStep: 0, hyperparameters: F.hyperparameters(0.1)),
        .init(fromStep: 10, hyperparameters: F.hyperparameters(0.9), seedOf: 4),
    ])

    @Test(
        "the entry in force and the next boundary",
        arguments: [
            (0, 0.1, 6 as Int?), (5, 0.1, 6), (6, 0.5, 10), (9, 0.5, 10), (10, 0.9, nil), (400, 0.9, nil),
        ])
    func entryAndBoundary(step: Int, lr: Double, boundary: Int?) {
        #expect(Self.schedule.entry(at: step)?.hyperparameters == F.hyperparameters(lr))
        #expect(Self.schedule.boundary(after: step) == boundary)
    }

    @Test func entriesAreSortedByStep() {
        #expect(Self.schedule.entries.map(\.fromStep) == [0, 6, 10])
    }

    @Test(
        "a task stops at the next ready step or the next schedule entry, whichever comes first",
        arguments: [
            (0, 4), (4, 6), (6, 8), (8, 10), (10, 12),
        ])
    func readyStepsStopAtBoundaries(step: Int, next: Int) {
        var settings = F.settings(interval: 4, maxSteps: 12, exploit: .none)
        settings.schedule = Self.schedule
        #expect(settings.nextReadyStep(after: step) == next)
        settings.schedule = nil
        #expect(settings.nextReadyStep(after: step) == min((step / 4 + 1) * 4, 12))
    }

    /// One member trained to the end under the schedule: every train task carries the
    /// scheduled values and seed, and the lineage records them.
    @Test func trainTasksFollowTheSchedule() throws {
        var settings = F.settings(interval: 4, maxSteps: 12, exploit: .none)
        settings.schedule = Self.schedule
        var simulation = Simulation(settings: settings, initial: F.initial(1), trainers: [F.trainer])
        simulation.run()
        let tasks = simulation.log.trainTasks.map(\.task)
        #expect(tasks.map(\.step) == [0, 4, 6, 8, 10])
        #expect(tasks.map(\.steps) == [4, 2, 2, 2, 2])
        #expect(tasks.map { $0.hyperparameters.number("lr") } == [0.1, 0.1, 0.5, 0.5, 0.9])
        let own = simulation.machine.members[0].seed
        #expect(
            tasks.map(\.seed) == [own, own, SplitMix64.derive(1, 2), SplitMix64.derive(1, 2), SplitMix64.derive(1, 4)])
        let best = try #require(simulation.log.summaries.first?.best)
        #expect(best.schedule.map(\.fromStep) == [0, 6, 10])
        #expect(best.schedule.map { $0.hyperparameters.number("lr") } == [0.1, 0.5, 0.9])
        #expect(simulation.log.trained.map { $0.hyperparameters.number("lr") } == [0.1, 0.1, 0.5, 0.5, 0.9])
    }

    @Test func withoutAScheduleTasksCarryTheMembersOwnValues() {
        var simulation = Simulation(settings: F.settings(exploit: .none), initial: F.initial(1), trainers: [F.trainer])
        simulation.run()
        let tasks = simulation.log.trainTasks.map(\.task)
        #expect(
            tasks.allSatisfy { $0.hyperparameters == F.initial(1)[0] && $0.seed == simulation.machine.members[0].seed })
        #expect(tasks.map(\.steps) == [4, 4, 4])
    }
}
