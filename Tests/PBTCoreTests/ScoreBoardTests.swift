import PBTCore
import Testing

/// The score board: cohorts best first, replacement, comparable steps and forgetting.
@Suite("ScoreBoard")
struct ScoreBoardTests {
    static let scores: [(member: Int, fitness: Double)] = [(0, 0.5), (1, 0.9), (2, 0.5), (3, -1), (4, 0.9)]

    /// Every insertion order gives the same ranking.
    static let orders: [[Int]] = [
        [0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [3, 1, 4, 0, 2], [1, 3, 0, 2, 4],
    ]

    @Test("cohorts are best first, ties to the lower id", arguments: orders)
    func cohortIsSortedWithTiesByID(order: [Int]) {
        var board = ScoreBoard()
        for index in order {
            board.record(member: Self.scores[index].member, step: 4, fitness: Self.scores[index].fitness)
        }
        #expect(board.cohort(at: 4).map(\.member) == [1, 4, 0, 2, 3])
        #expect(board.cohort(at: 4).map(\.fitness) == [0.9, 0.9, 0.5, 0.5, -1])
        #expect(board.cohort(at: 8).isEmpty)
        #expect(board.count == 5)
    }

    @Test func reRecordingAMemberAtAStepReplacesIt() {
        var board = ScoreBoard()
        board.record(member: 0, step: 4, fitness: 0.1)
        board.record(member: 1, step: 4, fitness: 0.5)
        board.record(member: 0, step: 4, fitness: 0.9)
        #expect(board.cohort(at: 4) == [Standing(member: 0, fitness: 0.9), Standing(member: 1, fitness: 0.5)])
        #expect(board.count == 2)
        board.record(member: 0, step: 4, fitness: -0.9)
        #expect(board.cohort(at: 4) == [Standing(member: 1, fitness: 0.5), Standing(member: 0, fitness: -0.9)])
        #expect(board.latestComparableStep(for: 0, before: 5) == 4)
    }

    /// m0 scored at 2, 4, 6; m1 at 2, 4; m2 at 2; m3 alone at 8.
    static var board: ScoreBoard {
        var board = ScoreBoard()
        for (member, steps) in [(0, [2, 4, 6]), (1, [2, 4]), (2, [2]), (3, [8])] {
            for step in steps { board.record(member: member, step: step, fitness: Double(member)) }
        }
        return board
    }

    @Test(arguments: [
        (0, 6, 2, 4 as Int?), (0, 7, 2, 4), (0, 4, 2, 2), (0, 2, 2, nil), (0, 6, 3, 2), (0, 6, 4, nil),
        (1, 100, 2, 4), (2, 4, 2, 2), (2, 2, 2, nil), (3, 9, 2, nil), (3, 9, 1, 8), (9, 10, 2, nil), (0, 7, 1, 6),
    ])
    func latestComparableStep(member: Int, before: Int, size: Int, expected: Int?) {
        #expect(Self.board.latestComparableStep(for: member, before: before, size: size) == expected)
    }

    @Test func forgetDropsEveryStepBelow() {
        var board = Self.board
        #expect(board.count == 7)
        board.forget(below: 4)
        #expect(board.cohort(at: 2).isEmpty)
        #expect(board.cohort(at: 4).map(\.member) == [1, 0])
        #expect(board.count == 4)
        #expect(board.latestComparableStep(for: 0, before: 6) == 4)
        #expect(board.latestComparableStep(for: 0, before: 4) == nil)
        #expect(board.latestComparableStep(for: 2, before: 10, size: 1) == nil)
        board.forget(below: 100)
        #expect(board.count == 0)
        #expect(board.latestComparableStep(for: 0, before: 1_000, size: 1) == nil)
    }
}

/// When a member is next ready, which scores are better, and when the experiment stops.
@Suite("SelectorSettings")
struct SelectorSettingsTests {
    static func settings(interval: Int, maxSteps: Int) -> SelectorSettings {
        SelectorSettings(
            experimentID: "x", seed: 0, interval: interval, stop: StopCondition(maxSteps: maxSteps),
            exploit: .none, explores: false)
    }

    @Test(arguments: [
        (4, 10, 0, 4), (4, 10, 3, 4), (4, 10, 4, 8), (4, 10, 7, 8), (4, 10, 8, 10), (4, 10, 9, 10),
        (1, 5, 0, 1), (1, 5, 4, 5), (5, 5, 0, 5), (3, 10, 2, 3), (3, 10, 9, 10), (10, 3, 0, 3), (4, 12, 8, 12),
    ])
    func nextReadyStep(interval: Int, maxSteps: Int, step: Int, expected: Int) {
        #expect(Self.settings(interval: interval, maxSteps: maxSteps).nextReadyStep(after: step) == expected)
    }

    static let fitnessCases: [(Objective, Double, Double)] = [
        (.maximize, 0.5, 0.5), (.maximize, -2, -2), (.minimize, 0.5, -0.5), (.minimize, -2, 2),
        (.maximize, .nan, -.infinity), (.minimize, .nan, -.infinity), (.maximize, .infinity, -.infinity),
        (.minimize, -.infinity, -.infinity),
    ]

    @Test(arguments: fitnessCases)
    func fitness(objective: Objective, score: Double, expected: Double) {
        #expect(objective.fitness(score) == expected)
    }

    static let targetCases: [(Objective, Double?, Double, Bool)] = [
        (.maximize, 1.0, 1.0, true), (.maximize, 1.0, 1.1, true), (.maximize, 1.0, 0.99, false),
        (.minimize, 0.1, 0.1, true), (.minimize, 0.1, 0.05, true), (.minimize, 0.1, 0.2, false),
        (.maximize, nil, 100, false), (.maximize, 1.0, .nan, false), (.minimize, 0.1, -.infinity, false),
    ]

    @Test(arguments: targetCases)
    func reachesTarget(objective: Objective, target: Double?, score: Double, expected: Bool) {
        #expect(StopCondition(maxSteps: 10, targetScore: target).reachesTarget(score, objective: objective) == expected)
    }
}
