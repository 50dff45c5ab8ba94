import PBTCore
import Testing

/// Explore: values stay inside, integers always move, choices step to a neighbour, and the seed decides.
@Suite("ExploreStrategy")
struct ExploreStrategyTests {
    static let strategies: [ExploreStrategy] = [
        .defaultPerturb,
        .perturb(factors: [0.8, 1.2], resampleProbability: 0),
        .perturb(factors: [0.5, 2.0], resampleProbability: 0),
        .perturb(factors: [0.1, 10], resampleProbability: 0.1),
        .noise(std: 0.05, resampleProbability: 0),
        .noise(std: 0.3, resampleProbability: 0.25),
        .noise(std: 1.0, resampleProbability: 0),
        // Factors no one would choose, which must not overflow an integer all the same.
        .perturb(factors: [1e300, 1e-300], resampleProbability: 0),
    ]

    /// Every kind of domain, with values at, near and between the bounds.
    static let probes: [(domain: Domain, values: [HyperparameterValue])] = [
        (.uniform(low: 0, high: 1), [.real(0), .real(1e-9), .real(0.5), .real(0.9), .real(0.999_999), .real(1)]),
        (.uniform(low: -2, high: 3), [.real(-2), .real(-1.9), .real(0), .real(2.9), .real(3)]),
        (.uniform(low: 10, high: 11), [.real(10), .real(10.5), .real(11)]),
        (.logUniform(low: 1e-4, high: 1e-1), [.real(1e-4), .real(1.1e-4), .real(1e-2), .real(0.09), .real(0.1)]),
        (.logUniform(low: 0.5, high: 2), [.real(0.5), .real(1), .real(2)]),
        (.integer(low: 0, high: 10), (0...10).map(HyperparameterValue.integer)),
        (.integer(low: 1, high: 3), (1...3).map(HyperparameterValue.integer)),
        (.integer(low: -5, high: 5), (-5...5).map(HyperparameterValue.integer)),
        (.integer(low: 16, high: 512), [.integer(16), .integer(17), .integer(100), .integer(511), .integer(512)]),
        // The widest domains an experiment file may declare (±2^53).
        (
            .integer(low: 0, high: 1 << 53),
            [.integer(0), .integer(1), .integer(1 << 52), .integer((1 << 53) - 1), .integer(1 << 53)]
        ),
        (.integer(low: -(1 << 53), high: 1 << 53), [.integer(-(1 << 53)), .integer(0), .integer(1 << 53)]),
        (.choice([.text("a"), .text("b"), .text("c"), .text("d")]), [.text("a"), .text("b"), .text("c"), .text("d")]),
        (.choice([.integer(1), .integer(2)]), [.integer(1), .integer(2)]),
    ]

    static func space(_ domain: Domain) -> SearchSpace {
        SearchSpace([Hyperparameter(name: "x", domain: domain)])
    }

    @Test("values stay inside their domain", arguments: strategies)
    func valuesStayInside(strategy: ExploreStrategy) {
        for (domain, values) in Self.probes {
            let space = Self.space(domain)
            for value in values {
                for seed in 0..<200 {
                    var random = SplitMix64(seed: UInt64(seed))
                    let outcome = strategy.explore(Hyperparameters(["x": value]), in: space, using: &random)
                    let result = outcome.hyperparameters["x"]
                    #expect(
                        space.violation(in: outcome.hyperparameters) == nil,
                        "\(strategy.name) seed \(seed): \(value) → \(result.map { "\($0)" } ?? "nil") outside \(domain)"
                    )
                }
            }
        }
    }

    /// Domains where ×0.8 / ×1.2 round back to the same integer, and values at the bounds.
    static let integerDomains: [Domain] = [
        .integer(low: 0, high: 10), .integer(low: 1, high: 3), .integer(low: 0, high: 1), .integer(low: -5, high: 5),
        .integer(low: 1, high: 2), .integer(low: 2, high: 4), .integer(low: 0, high: 100),
    ]

    static let integerMovers: [ExploreStrategy] = [
        .perturb(factors: [0.8, 1.2], resampleProbability: 0),
        .perturb(factors: [0.9, 1.1], resampleProbability: 0),
        .noise(std: 0.01, resampleProbability: 0),
        .noise(std: 0.2, resampleProbability: 0),
    ]

    @Test("an integer always moves by at least one", arguments: integerMovers, integerDomains)
    func integerAlwaysMoves(strategy: ExploreStrategy, domain: Domain) {
        guard case .integer(let low, let high) = domain else { return }
        let space = Self.space(domain)
        for value in low...high {
            for seed in 0..<100 {
                var random = SplitMix64(seed: UInt64(seed))
                let outcome = strategy.explore(Hyperparameters(["x": .integer(value)]), in: space, using: &random)
                guard case .integer(let moved) = outcome.hyperparameters["x"] else {
                    Issue.record("not an integer: \(outcome.hyperparameters)")
                    continue
                }
                #expect(moved != value, "\(strategy.name) seed \(seed): \(value) stayed in \(low)...\(high)")
                #expect((low...high).contains(moved))
            }
        }
    }

    /// Narrow domains where the first move overshoots a bound and reflects back onto the start.
    static let reflectedBackCases: [(ExploreStrategy, Domain, Int)] = [
        (.perturb(factors: [1.2], resampleProbability: 0), .integer(low: 10, high: 11), 10),
        (.perturb(factors: [0.8], resampleProbability: 0), .integer(low: 10, high: 11), 11),
        (.perturb(factors: [2.0], resampleProbability: 0), .integer(low: 2, high: 3), 2),
        (.noise(std: 1.0, resampleProbability: 0), .integer(low: 0, high: 1), 0),
    ]

    @Test(
        arguments: reflectedBackCases)
    func integerMovesEvenWhenTheReflectionLandsOnItself(strategy: ExploreStrategy, domain: Domain, value: Int) {
        let space = Self.space(domain)
        let stuck = (0..<200).filter { seed in
            var random = SplitMix64(seed: UInt64(seed))
            return strategy.explore(Hyperparameters(["x": .integer(value)]), in: space, using: &random)
                .hyperparameters["x"] == .integer(value)
        }
        #expect(stuck.isEmpty, "\(value) stayed put in \(domain) for \(stuck.count) of 200 seeds")
    }

    @Test func choiceMovesToANeighbourAndInwardAtTheEnds() {
        let options: [HyperparameterValue] = [.text("a"), .text("b"), .text("c"), .text("d")]
        let space = Self.space(.choice(options))
        let strategy = ExploreStrategy.perturb(factors: [0.8, 1.2], resampleProbability: 0)
        for (index, option) in options.enumerated() {
            var reached: Set<Int> = []
            for seed in 0..<100 {
                var random = SplitMix64(seed: UInt64(seed))
                let outcome = strategy.explore(Hyperparameters(["x": option]), in: space, using: &random)
                guard let change = outcome.changes["x"], let to = outcome.hyperparameters["x"],
                    let newIndex = options.firstIndex(of: to)
                else {
                    Issue.record("seed \(seed): no valid move from \(option)")
                    continue
                }
                #expect(abs(newIndex - index) == 1, "seed \(seed): \(option) → \(to)")
                #expect(change.how == .shifted(newIndex - index))
                reached.insert(newIndex)
            }
            let expected: Set<Int> =
                index == 0 ? [1] : index == options.count - 1 ? [options.count - 2] : [index - 1, index + 1]
            #expect(reached == expected, "from \(option)")
        }
    }

    @Test func aChoiceWithOneOptionIsKept() {
        var random = SplitMix64(seed: 1)
        let outcome = ExploreStrategy.defaultPerturb.explore(
            Hyperparameters(["x": .text("only")]), in: Self.space(.choice([.text("only")])), using: &random)
        #expect(outcome.hyperparameters["x"] == .text("only"))
    }

    static let space = SearchSpace([
        Hyperparameter(name: "lr", domain: .logUniform(low: 1e-4, high: 1e-1)),
        Hyperparameter(name: "momentum", domain: .uniform(low: 0, high: 1)),
        Hyperparameter(name: "layers", domain: .integer(low: 1, high: 8)),
        Hyperparameter(name: "opt", domain: .choice([.text("adam"), .text("sgd"), .text("rmsprop")])),
    ])
    static let start = Hyperparameters([
        "lr": .real(0.01), "momentum": .real(0.5), "layers": .integer(4), "opt": .text("sgd"),
    ])

    @Test(arguments: [
        ExploreStrategy.perturb(factors: [0.8, 1.2], resampleProbability: 1), .noise(std: 0.1, resampleProbability: 1),
    ])
    func resampleProbabilityOneResamplesEveryKey(strategy: ExploreStrategy) {
        for seed in 0..<100 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = strategy.explore(Self.start, in: Self.space, using: &random)
            #expect(Set(outcome.changes.keys) == Set(Self.space.names))
            for (name, change) in outcome.changes {
                #expect(change.how == .resampled, "seed \(seed): \(name) \(change)")
                #expect(change.operation == "resampled")
            }
            #expect(Self.space.violation(in: outcome.hyperparameters) == nil)
        }
    }

    @Test(arguments: [
        ExploreStrategy.perturb(factors: [0.8, 1.2], resampleProbability: 0), .noise(std: 0.1, resampleProbability: 0),
    ])
    func resampleProbabilityZeroNeverResamples(strategy: ExploreStrategy) {
        for seed in 0..<500 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = strategy.explore(Self.start, in: Self.space, using: &random)
            for (name, change) in outcome.changes {
                #expect(change.how != .resampled, "seed \(seed): \(name) resampled")
            }
        }
    }

    @Test func theDefaultResamplesAboutAQuarter() {
        var resampled = 0
        var total = 0
        for seed in 0..<1_000 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = ExploreStrategy.defaultPerturb.explore(Self.start, in: Self.space, using: &random)
            for change in outcome.changes.values {
                total += 1
                if change.how == .resampled { resampled += 1 }
            }
        }
        let rate = Double(resampled) / Double(total)
        #expect(rate > 0.21 && rate < 0.29, "resampled \(rate)")
    }

    @Test("changes name every declared hyperparameter with its from and to", arguments: strategies)
    func changesDescribeEveryDeclaredName(strategy: ExploreStrategy) {
        var start = Self.start
        start["extra"] = .text("kept")
        for seed in 0..<50 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = strategy.explore(start, in: Self.space, using: &random)
            #expect(Set(outcome.changes.keys) == Set(Self.space.names))
            for name in Self.space.names {
                let change = outcome.changes[name]
                #expect(change != nil, "\(name) has no change")
                #expect(change?.from == start[name], "\(name)")
                #expect(change?.to == outcome.hyperparameters[name], "\(name)")
            }
            #expect(outcome.hyperparameters["extra"] == .text("kept"))
            #expect(outcome.hyperparameters.count == start.count)
        }
    }

    @Test func perturbScalesRealsByAFactor() {
        let strategy = ExploreStrategy.perturb(factors: [0.8, 1.2], resampleProbability: 0)
        var factors: Set<Double> = []
        for seed in 0..<100 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = strategy.explore(Self.start, in: Self.space, using: &random)
            guard case .scaled(let factor) = outcome.changes["momentum"]?.how else {
                Issue.record("seed \(seed): momentum was not scaled")
                continue
            }
            factors.insert(factor)
            #expect(outcome.hyperparameters["momentum"] == .real(0.5 * factor))
            guard case .scaled(let lrFactor) = outcome.changes["lr"]?.how else {
                Issue.record("seed \(seed): lr was not scaled")
                continue
            }
            #expect(outcome.hyperparameters["lr"] == .real(0.01 * lrFactor))
        }
        #expect(factors == [0.8, 1.2])
    }

    @Test func noiseReportsTheDeltaItApplied() {
        let strategy = ExploreStrategy.noise(std: 0.1, resampleProbability: 0)
        for seed in 0..<100 {
            var random = SplitMix64(seed: UInt64(seed))
            let outcome = strategy.explore(Self.start, in: Self.space, using: &random)
            guard let change = outcome.changes["momentum"], case .noised(let delta) = change.how,
                let to = change.to.number
            else {
                Issue.record("seed \(seed): momentum was not noised")
                continue
            }
            #expect(abs(to - (0.5 + delta)) < 1e-12)
            guard let layers = outcome.changes["layers"], case .noised(let step) = layers.how,
                case .integer(let newLayers) = layers.to
            else {
                Issue.record("seed \(seed): layers was not noised")
                continue
            }
            #expect(Double(newLayers - 4) == step)
        }
    }

    @Test func noneChangesNothing() {
        var random = SplitMix64(seed: 1)
        let outcome = ExploreStrategy.none.explore(Self.start, in: Self.space, using: &random)
        #expect(outcome.hyperparameters == Self.start)
        #expect(outcome.changes.isEmpty)
    }

    @Test(arguments: strategies)
    func sameSeedSameOutcome(strategy: ExploreStrategy) {
        for seed in 0..<50 {
            var a = SplitMix64(seed: UInt64(seed))
            var b = SplitMix64(seed: UInt64(seed))
            #expect(
                strategy.explore(Self.start, in: Self.space, using: &a)
                    == strategy.explore(Self.start, in: Self.space, using: &b))
        }
    }

    @Test(arguments: strategies)
    func differentSeedsUsuallyDiffer(strategy: ExploreStrategy) {
        var outcomes: Set<Hyperparameters> = []
        for seed in 0..<20 {
            var random = SplitMix64(seed: UInt64(seed))
            outcomes.insert(strategy.explore(Self.start, in: Self.space, using: &random).hyperparameters)
        }
        #expect(outcomes.count >= 10)
    }

    @Test(arguments: [
        (ExploreChange.How.scaled(1.2), "×1.2"), (.scaled(0.8), "×0.8"), (.noised(0.0431), "+0.0431"),
        (.noised(-0.25), "-0.25"), (.noised(0), "+0.0"), (.shifted(1), "shift right"), (.shifted(-1), "shift left"),
        (.shifted(0), "kept"), (.resampled, "resampled"),
    ])
    func operationPhrase(how: ExploreChange.How, expected: String) {
        let change = ExploreChange(from: .real(1), to: .real(2), how: how)
        #expect(change.operation == expected)
        #expect(change.description == "1.0 --(\(expected))--> 2.0")
    }

    @Test(arguments: [
        (ExploreStrategy.none, "none"), (.defaultPerturb, "perturb"),
        (.noise(std: 0.1, resampleProbability: 0), "noise"),
    ])
    func name(strategy: ExploreStrategy, expected: String) {
        #expect(strategy.name == expected)
    }

    /// Domains perturbation cannot step (every value × every factor lands outside) against
    /// domains it can, with the paper's factors and others.
    @Test(arguments: [
        (Domain.uniform(low: 0.9, high: 0.999), [0.8, 1.2], true),
        (.uniform(low: 0.8, high: 1.0), [0.8, 1.2], false),
        (.logUniform(low: 1.0e-4, high: 1.0e-2), [0.8, 1.2], false),
        (.uniform(low: 0.9, high: 0.999), [0.99, 1.01], false),
        (.uniform(low: 1.0, high: 1.1), [2.0], true),
        (.uniform(low: -1.1, high: -1.0), [0.8, 1.2], true),
        (.uniform(low: 0, high: 1), [0.8, 1.2], false),
        (.uniform(low: 0.5, high: 0.5), [0.8, 1.2], false),
        (.integer(low: 90, high: 99), [0.8, 1.2], true),
        (.integer(low: 1, high: 10), [0.8, 1.2], false),
        (.choice([.real(0.9), .real(0.99)]), [0.8, 1.2], false),
    ])
    func perturbationThatCannotStep(domain: Domain, factors: [Double], cannot: Bool) {
        let space = SearchSpace([Hyperparameter(name: "gamma", domain: domain)])
        let strategy = ExploreStrategy.perturb(factors: factors, resampleProbability: 0.25)
        #expect(strategy.parametersPerturbationCannotStep(in: space).map(\.name) == (cannot ? ["gamma"] : []))
        // Noise steps by the domain's width, PB2 models reals itself, and resampling everything
        // never multiplies: none of them is reported.
        for other in [
            ExploreStrategy.noise(std: 0.1, resampleProbability: 0.25), .pb2(points: 10, beta: 2, timeDecay: 0.1),
            .perturb(factors: factors, resampleProbability: 1), ExploreStrategy.none,
        ] {
            #expect(other.parametersPerturbationCannotStep(in: space).isEmpty)
        }
    }
}
