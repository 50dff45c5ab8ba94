import Testing

@testable import PBTCore

/// The ranked set behind the score board, checked against a sorted array.
@Suite("RankedSet")
struct RankedSetTests {
    @Test(arguments: [1, 2, 7, 500])
    func matchesASortedArrayUnderRandomInsertsAndRemoves(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var set = RankedSet()
        var reference: [Standing] = []
        for _ in 0..<3_000 {
            if reference.isEmpty || Double.random(in: 0..<1, using: &random) < 0.6 {
                let standing = Standing(
                    member: Int.random(in: 0..<100_000, using: &random),
                    fitness: Double(Int.random(in: -50...50, using: &random)) / 10)
                guard !reference.contains(standing) else { continue }
                set.insert(standing)
                reference.append(standing)
                reference.sort(by: Standing.ranksBefore)
            } else {
                let victim = reference.remove(at: Int.random(in: 0..<reference.count, using: &random))
                let removed = set.remove(victim)
                #expect(removed)
            }
            #expect(set.count == reference.count)
        }
        #expect(set.ordered == reference)
        for (rank, standing) in reference.enumerated() {
            #expect(set.rank(of: standing) == rank)
            #expect(set.element(at: rank) == standing)
        }
        #expect(set.rank(of: Standing(member: -1, fitness: 0)) == nil)
        let removedAbsent = set.remove(Standing(member: -1, fitness: 0))
        #expect(!removedAbsent)
    }

    @Test func tiesRankByLowerMemberFirst() {
        var set = RankedSet()
        for member in [5, 3, 9, 1] { set.insert(Standing(member: member, fitness: 1)) }
        set.insert(Standing(member: 7, fitness: 2))
        #expect(set.ordered.map(\.member) == [7, 1, 3, 5, 9])
    }

    @Test func theBoardRanksInLogarithmicTimeAtScale() {
        // 100,000 members at one step: a sorted array would copy 1.6 MB on every insert.
        var board = ScoreBoard()
        var random = SplitMix64(seed: 3)
        for member in 0..<100_000 {
            board.record(member: member, step: 4, fitness: Double.random(in: 0..<1, using: &random))
        }
        let cohort = board.ranking(at: 4)
        #expect(cohort.count == 100_000)
        let best = cohort.standing(at: 0)
        #expect(cohort.rank(of: best.member) == 0)
        #expect(cohort.standing(at: 99_999).fitness <= best.fitness)
    }
}
