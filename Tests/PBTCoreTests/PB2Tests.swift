import Foundation
import Testing

@testable import PBTCore

/// PB2's Gaussian-process bandit: it finds where improvement is high, keeps its data bounded,
/// spreads proposals for members exploring at once, and stays inside the space.
@Suite("PB2")
struct PB2Tests {
    static let space = SearchSpace([
        Hyperparameter(name: "lr", domain: .logUniform(low: 1e-4, high: 1)),
        Hyperparameter(name: "x", domain: .uniform(low: 0, high: 10)),
        Hyperparameter(name: "layers", domain: .integer(low: 1, high: 8)),
    ])

    @Test func choleskySolvesASymmetricPositiveSystem() throws {
        let a: [Double] = [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]
        let factor = try #require(Cholesky.factor(a, 3))
        let x = Cholesky.solve(factor, 3, [1, 2, 3])
        for row in 0..<3 {
            let value = (0..<3).reduce(0.0) { $0 + a[row * 3 + $1] * x[$1] }
            #expect(abs(value - Double(row + 1)) < 1e-12)
        }
        #expect(Cholesky.factor([1, 2, 2, 1], 2) == nil, "not positive definite")
    }

    /// Improvement peaks at x = 7 (in the unit cube, 0.7), whatever lr is.
    static func model(points: Int, seed: UInt64) -> PB2Model {
        var model = PB2Model(space: space, capacity: 200)
        var random = SplitMix64(seed: seed)
        for index in 0..<points {
            let x = Double.random(in: 0...10, using: &random)
            let lr = exp(Double.random(in: log(1e-4)...0, using: &random))
            model.observe(
                .init(
                    hyperparameters: Hyperparameters(["x": .real(x), "lr": .real(lr), "layers": .integer(2)]),
                    time: Double(index) / 20,
                    improvement: 1 - (x - 7) * (x - 7) / 10 + random.nextGaussian() * 0.05))
        }
        return model
    }

    @Test func proposalsGoWhereImprovementIsHigh() throws {
        var model = Self.model(points: 120, seed: 3)
        var random = SplitMix64(seed: 9)
        let copied = Hyperparameters(["x": .real(1), "lr": .real(0.01), "layers": .integer(2)])
        let outcome = model.explore(copied, time: 6, key: 0, using: &random)
        let x = try #require(outcome.hyperparameters.number("x"))
        #expect(abs(x - 7) < 1.5, "proposed x = \(x)")
        #expect(outcome.changes["x"]?.how == .proposed)
        #expect(Self.space.violation(in: outcome.hyperparameters) == nil)
        // The integer is not PB2's: the fallback moved it by one at least.
        #expect(outcome.hyperparameters["layers"] != .integer(2))
    }

    @Test func membersExploringAtOnceAreSentApart() throws {
        var model = Self.model(points: 60, seed: 4)
        var random = SplitMix64(seed: 10)
        let copied = Hyperparameters(["x": .real(5), "lr": .real(0.01), "layers": .integer(2)])
        var proposals: [[Double]] = []
        for member in 0..<4 {
            let outcome = model.explore(copied, time: 3, key: member, using: &random)
            proposals.append([outcome.hyperparameters.number("x")!, log10(outcome.hyperparameters.number("lr")!)])
        }
        #expect(model.pending.count == 4)
        // No two proposals coincide.
        for i in 0..<4 {
            for j in (i + 1)..<4 {
                let distance = abs(proposals[i][0] - proposals[j][0]) / 10 + abs(proposals[i][1] - proposals[j][1]) / 4
                #expect(distance > 0.01, "proposals \(i) and \(j) coincide: \(proposals)")
            }
        }
        // An observation for a member settles its proposal.
        model.observe(.init(hyperparameters: copied, time: 4, improvement: 0.5), key: 2)
        #expect(model.pending.count == 3)
    }

    @Test func theDataStaysBounded() {
        let model = Self.model(points: 1_000, seed: 5)
        #expect(model.points.count == 200)
    }

    @Test func withoutDataItResamplesTheContinuousValuesInsideTheSpace() throws {
        var model = PB2Model(space: Self.space)
        var random = SplitMix64(seed: 1)
        for _ in 0..<50 {
            let outcome = model.explore(
                Hyperparameters(["x": .real(5), "lr": .real(0.01), "layers": .integer(8)]), time: 0, key: 0,
                using: &random)
            #expect(Self.space.violation(in: outcome.hyperparameters) == nil)
            #expect(outcome.changes["x"]?.how == .resampled)
        }
    }
}
