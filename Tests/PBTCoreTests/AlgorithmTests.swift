import Testing

@testable import PBTCore

/// Welch's t-test against scipy's figures, the t-test exploit strategy, and synchronous mode.
@Suite("t-test and synchronous mode")
struct AlgorithmTests {
    /// (a, b, scipy.stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
    static let welch: [([Double], [Double], Double)] = [
        ([1, 2, 3, 4, 5], [2, 3, 4, 5, 6], 0.8267032464563329),
        ([10, 11, 12, 13, 11], [1, 2, 3, 2, 1], 4.1283548983522364e-07),
        ([0.5, 0.52, 0.49, 0.51], [0.5, 0.49, 0.51, 0.48, 0.52, 0.5], 0.29086520024966195),
        ([1, 1.1, 0.9], [1.05, 1.0, 0.95, 1.02, 0.98, 1.01, 0.99], 0.5),
    ]

    @Test(arguments: welch)
    func welchMatchesScipy(a: [Double], b: [Double], expected: Double) throws {
        let p = try #require(WelchTTest.pValue(a, greaterThan: b))
        #expect(abs(p - expected) < 1e-9 * max(1, expected) + 1e-12, "p \(p), scipy \(expected)")
    }

    @Test(arguments: [(2.0, 10.0, 0.9633059826146299), (-1.3, 3.7, 0.13433336208631375), (0.4, 55.5, 0.65465403408141)])
    func studentTMatchesScipy(t: Double, degrees: Double, expected: Double) {
        #expect(abs(StudentT.cdf(t, degreesOfFreedom: degrees) - expected) < 1e-10)
    }

    @Test func welchNeedsTwoValuesAndHandlesNoSpread() {
        #expect(WelchTTest.pValue([1], greaterThan: [0, 0]) == nil)
        #expect(WelchTTest.pValue([2, 2, 2], greaterThan: [1, 1]) == 0)
        #expect(WelchTTest.pValue([1, 1], greaterThan: [1, 1]) == 1)
    }

    @Test func theTTestCopiesOnlyASignificantlyBetterMember() {
        let cohort = [Standing(member: 1, fitness: 0.9), Standing(member: 0, fitness: 0.5)]
        let strategy = ExploitStrategy.tTest(window: 5, pValue: 0.05)
        var random = SplitMix64(seed: 1)
        // Clearly better over its last five scores: copy it.
        let clear = strategy.decide(
            member: 0, cohort: cohort,
            recent: { $0 == 1 ? [0.9, 0.91, 0.89, 0.9, 0.92] : [0.5, 0.51, 0.49, 0.5, 0.5] }, using: &random)
        #expect(clear == .exploit(donor: 1))
        // Better now, but noisy: no significant difference, keep.
        let noisy = strategy.decide(
            member: 0, cohort: cohort, recent: { $0 == 1 ? [0.1, 0.9, 0.2, 0.95, 0.9] : [0.5, 0.6, 0.4, 0.55, 0.5] },
            using: &random)
        #expect(noisy == .keep)
        // Not enough history yet.
        let short = strategy.decide(member: 0, cohort: cohort, recent: { _ in [0.5] }, using: &random)
        #expect(short == .notEnoughData)
        // The better member never copies the worse one.
        let better = strategy.decide(
            member: 1, cohort: cohort, recent: { $0 == 1 ? [0.9, 0.91, 0.89] : [0.5, 0.51, 0.49] }, using: &random)
        #expect(better == .keep)
    }

    typealias F = Fixture

    @Test func synchronousModeWaitsForTheWholePopulationThenDecidesBestFirst() throws {
        var settings = F.settings(interval: 2, maxSteps: 4, exploit: .truncation(fraction: 0.5))
        settings.synchronous = true
        var machine = SelectorMachine(settings: settings, name: "exp", initial: F.initial(3))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        let t = [WorkerID([1]), WorkerID([2]), WorkerID([3])]
        var tasks: [Int: TrainTask] = [:]
        for (index, worker) in t.enumerated() {
            let actions = machine.handle(F.ready(.trainer, name: "t\(index)"), from: worker, now: 0)
            for task in actions.trainTasks { tasks[task.task.member] = task.task }
        }
        #expect(tasks.count == 3)
        // Members 0 and 1 reach step 2 and are scored; nothing is decided: member 2 is still training.
        var decided: [PBTEvent] = []
        for member in [0, 1] {
            let task = try #require(tasks[member])
            let credit = machine.handle(
                F.handedOn(task, received: 1, name: "t\(member)", routes: machine.evaluatorRoutes.generation),
                from: t[member], now: 1)
            let scored = machine.handle(
                F.scored(task, checkpoint: F.checkpoint(member), score: Double(member)), from: F.evaluator, now: 1)
            decided += scored.events.filter { if case .memberDecided = $0 { true } else { false } }
            #expect(machine.members[member].phase == .waiting)
            #expect((credit + scored).trainTasks.isEmpty, "no trainer gets work before the barrier")
        }
        #expect(decided.isEmpty)
        // The last member arrives: all three are decided, best first, and the worst copies the best.
        let released = machine.handle(
            F.scored(try #require(tasks[2]), checkpoint: F.checkpoint(2), score: 5), from: F.evaluator, now: 2)
        let order = released.events.compactMap { event -> Int? in
            if case .memberDecided(let member, _, _, _, _, _) = event { return member }
            return nil
        }
        #expect(order == [2, 1, 0])
        #expect(
            released.events.contains {
                if case .memberDecided(0, 2, 2, .exploit(donor: 2), 3, 2) = $0 { true } else { false }
            })
        #expect(machine.members.allSatisfy { $0.phase != .waiting })
    }

    @Test func aMemberGivenUpDoesNotHoldTheBarrier() throws {
        var settings = F.settings(interval: 2, maxSteps: 4, exploit: .truncation(fraction: 0.5), maxFailures: 0)
        settings.synchronous = true
        var machine = SelectorMachine(settings: settings, name: "exp", initial: F.initial(2))
        _ = machine.start(now: 0)
        _ = machine.handle(F.ready(.evaluator, name: "e"), from: F.evaluator, now: 0)
        let t0 = WorkerID([1])
        let t1 = WorkerID([2])
        let first = machine.handle(F.ready(.trainer, name: "t0"), from: t0, now: 0)
        let second = machine.handle(F.ready(.trainer, name: "t1"), from: t1, now: 0)
        let task0 = try #require(first.trainTasks.first?.task)
        let task1 = try #require(second.trainTasks.first?.task)
        _ = machine.handle(F.scored(task0, checkpoint: F.checkpoint(0), score: 1), from: F.evaluator, now: 1)
        #expect(machine.members[task0.member].phase == .waiting)
        // The other member fails for good: the waiting one goes on alone.
        let failed = machine.handle(
            .failed(member: task1.member, version: task1.version, reason: "broken"), from: t1, now: 2)
        #expect(failed.events.contains { if case .memberFailed(_, _, _, _, true) = $0 { true } else { false } })
        #expect(machine.members[task0.member].phase != .waiting)
        #expect(
            failed.events.contains { if case .memberDecided(task0.member, 2, 2, _, _, _) = $0 { true } else { false } })
    }
}
