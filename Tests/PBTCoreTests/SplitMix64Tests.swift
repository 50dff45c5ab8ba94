import PBTCore
import Testing

/// SplitMix64: the reference output, seed derivation, and per-decision generators.
@Suite("SplitMix64")
struct SplitMix64Tests {
    /// The first outputs of the reference implementation (Vigna) from seed 0.
    @Test func matchesTheReferenceSequence() {
        var random = SplitMix64(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(random.next() == 0x06C4_5D18_8009_454F)
    }

    @Test func sameSeedSameStream() {
        var a = SplitMix64(seed: 12345)
        var b = SplitMix64(seed: 12345)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        #expect(a.state == b.state)
    }

    @Test func deriveIsDeterministic() {
        #expect(SplitMix64.derive(7, 1, 2, 3) == SplitMix64.derive(7, 1, 2, 3))
        #expect(SplitMix64.derive(7) == SplitMix64.derive(7))
    }

    @Test func deriveSeparatesEveryInput() {
        var seeds: Set<UInt64> = []
        var count = 0
        for seed: UInt64 in [0, 1, 2, .max] {
            seeds.insert(SplitMix64.derive(seed))
            count += 1
            for member: UInt64 in 0..<8 {
                seeds.insert(SplitMix64.derive(seed, member))
                count += 1
                for version: UInt64 in 0..<8 {
                    seeds.insert(SplitMix64.derive(seed, member, version))
                    count += 1
                }
            }
        }
        #expect(seeds.count == count, "collisions among derived seeds")
    }

    @Test(arguments: [
        ([UInt64(1), 2], [UInt64(2), 1]), ([0], [0, 0]), ([5], []), ([1, 2, 3], [1, 2, 4]),
    ])
    func differentPartsGiveDifferentSeeds(a: [UInt64], b: [UInt64]) {
        #expect(derive(99, a) != derive(99, b))
    }

    @Test func forDecisionSeparatesMemberVersionAndPurpose() {
        let purposes: [SplitMix64.Purpose] = [.initialHyperparameters, .exploit, .explore, .training]
        var firsts: Set<UInt64> = []
        for member in 0..<4 {
            for version in 0..<4 {
                for purpose in purposes {
                    var random = SplitMix64.forDecision(seed: 1, member: member, version: version, purpose: purpose)
                    firsts.insert(random.next())
                }
            }
        }
        #expect(firsts.count == 4 * 4 * purposes.count)
        var a = SplitMix64.forDecision(seed: 1, member: 2, version: 3, purpose: .explore)
        var b = SplitMix64(seed: SplitMix64.derive(1, 2, 3, SplitMix64.Purpose.explore.rawValue))
        #expect(a.next() == b.next())
    }

    @Test func gaussianHasZeroMeanAndUnitVariance() {
        var random = SplitMix64(seed: 2024)
        let draws = (0..<20_000).map { _ in random.nextGaussian() }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(draws.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
        let finite = draws.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    private func derive(_ seed: UInt64, _ parts: [UInt64]) -> UInt64 {
        switch parts.count {
        case 0: SplitMix64.derive(seed)
        case 1: SplitMix64.derive(seed, parts[0])
        case 2: SplitMix64.derive(seed, parts[0], parts[1])
        default: SplitMix64.derive(seed, parts[0], parts[1], parts[2])
        }
    }
}
