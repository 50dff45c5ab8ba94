import Testing

@testable import PBTCore

/// Domains: sampling inside the bounds, membership, normalising file values, folding back inside.
@Suite("Domain")
struct DomainTests {
    static let domains: [Domain] = [
        .uniform(low: 0, high: 1),
        .uniform(low: -5, high: -1),
        .uniform(low: 2.5, high: 2.5),
        .logUniform(low: 1e-5, high: 1e-1),
        .logUniform(low: 0.5, high: 2),
        .integer(low: -3, high: 3),
        .integer(low: 0, high: 1),
        .integer(low: 16, high: 512),
        .choice([.text("adam"), .text("sgd"), .text("rmsprop")]),
        .choice([.integer(16), .real(0.5), .text("x")]),
    ]

    @Test("samples stay inside the domain over many seeds", arguments: domains)
    func samplesStayInside(domain: Domain) {
        for seed in 0..<500 {
            var random = SplitMix64(seed: UInt64(seed))
            let value = domain.sample(using: &random)
            #expect(domain.contains(value), "seed \(seed): \(value) outside \(domain)")
            switch (domain, value) {
            case (.uniform, .real), (.logUniform, .real), (.integer, .integer), (.choice, _): break
            default: Issue.record("seed \(seed): \(value) has the wrong kind for \(domain)")
            }
        }
    }

    @Test func integerSamplesReachBothBounds() {
        let domain = Domain.integer(low: -2, high: 2)
        var seen: Set<HyperparameterValue> = []
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 { seen.insert(domain.sample(using: &random)) }
        #expect(seen == Set((-2...2).map(HyperparameterValue.integer)))
    }

    @Test func choiceSamplesReachEveryOption() {
        let options: [HyperparameterValue] = [.text("a"), .text("b"), .text("c"), .text("d")]
        var seen: Set<HyperparameterValue> = []
        var random = SplitMix64(seed: 3)
        for _ in 0..<400 { seen.insert(Domain.choice(options).sample(using: &random)) }
        #expect(seen == Set(options))
    }

    /// A uniform draw over [1e-6, 1] puts 90 % in the top decade; a log-uniform one a sixth in each.
    @Test func logUniformSamplesSpreadOverDecades() {
        let domain = Domain.logUniform(low: 1e-6, high: 1)
        var perDecade = [Int](repeating: 0, count: 6)
        var random = SplitMix64(seed: 42)
        let draws = 6_000
        for _ in 0..<draws {
            guard case .real(let x) = domain.sample(using: &random) else {
                Issue.record("not a real")
                return
            }
            let decade = min(5, max(0, Int((log10(x) + 6).rounded(.down))))
            perDecade[decade] += 1
        }
        for (decade, count) in perDecade.enumerated() {
            #expect(count > draws / 10, "decade 1e\(decade - 6): \(count) of \(draws)")
            #expect(count < draws / 4, "decade 1e\(decade - 6): \(count) of \(draws)")
        }
    }

    struct NormalizeCase: Sendable, CustomTestStringConvertible {
        let domain: Domain
        let input: HyperparameterValue
        let expected: HyperparameterValue?
        var testDescription: String { "\(domain.kind) \(input) → \(expected.map { "\($0)" } ?? "nil")" }
    }

    static let normalizeCases: [NormalizeCase] = [
        .init(domain: .integer(low: 0, high: 10), input: .real(3.0), expected: .integer(3)),
        .init(domain: .integer(low: 0, high: 10), input: .real(3.5), expected: nil),
        .init(domain: .integer(low: 0, high: 10), input: .integer(3), expected: .integer(3)),
        .init(domain: .integer(low: 0, high: 10), input: .integer(11), expected: nil),
        .init(domain: .integer(low: 0, high: 10), input: .real(-1.0), expected: nil),
        .init(domain: .integer(low: 0, high: 10), input: .text("3"), expected: nil),
        .init(domain: .integer(low: 0, high: 10), input: .real(.nan), expected: nil),
        .init(domain: .uniform(low: 0, high: 1), input: .integer(1), expected: .real(1)),
        .init(domain: .uniform(low: 0, high: 1), input: .real(0.25), expected: .real(0.25)),
        .init(domain: .uniform(low: 0, high: 1), input: .real(1.5), expected: nil),
        .init(domain: .uniform(low: 0, high: 1), input: .real(.nan), expected: nil),
        .init(domain: .uniform(low: 0, high: 1), input: .real(.infinity), expected: nil),
        .init(domain: .uniform(low: 0, high: 1), input: .text("0.5"), expected: nil),
        .init(domain: .logUniform(low: 1e-3, high: 1), input: .real(0.01), expected: .real(0.01)),
        .init(domain: .logUniform(low: 1e-3, high: 1), input: .real(1e-4), expected: nil),
        .init(domain: .choice([.integer(16), .integer(32)]), input: .real(32.0), expected: .integer(32)),
        .init(domain: .choice([.integer(16), .integer(32)]), input: .integer(16), expected: .integer(16)),
        .init(domain: .choice([.integer(16), .integer(32)]), input: .integer(17), expected: nil),
        .init(domain: .choice([.real(0.5), .real(1.0)]), input: .integer(1), expected: .real(1.0)),
        .init(domain: .choice([.text("adam"), .text("sgd")]), input: .text("sgd"), expected: .text("sgd")),
        .init(domain: .choice([.text("adam"), .text("sgd")]), input: .text("rmsprop"), expected: nil),
        .init(domain: .choice([.text("adam"), .text("sgd")]), input: .integer(0), expected: nil),
    ]

    @Test("normalize brings file values into the domain", arguments: normalizeCases)
    func normalize(row: NormalizeCase) {
        #expect(row.domain.normalize(row.input) == row.expected)
    }

    struct ContainsCase: Sendable, CustomTestStringConvertible {
        let domain: Domain
        let value: HyperparameterValue
        let contained: Bool
        var testDescription: String { "\(domain.kind) ∋ \(value): \(contained)" }
    }

    static let containsCases: [ContainsCase] = [
        .init(domain: .uniform(low: 0, high: 1), value: .real(0), contained: true),
        .init(domain: .uniform(low: 0, high: 1), value: .real(1), contained: true),
        .init(domain: .uniform(low: 0, high: 1), value: .real(1.000_001), contained: false),
        .init(domain: .uniform(low: 0, high: 1), value: .real(-0.1), contained: false),
        .init(domain: .uniform(low: 0, high: 1), value: .integer(1), contained: true),
        .init(domain: .uniform(low: 0, high: 1), value: .integer(2), contained: false),
        .init(domain: .uniform(low: 0, high: 1), value: .real(.nan), contained: false),
        .init(domain: .uniform(low: 0, high: 1), value: .text("0.5"), contained: false),
        .init(domain: .logUniform(low: 0.1, high: 10), value: .real(0.05), contained: false),
        .init(domain: .logUniform(low: 0.1, high: 10), value: .real(10), contained: true),
        .init(domain: .integer(low: 1, high: 3), value: .integer(3), contained: true),
        .init(domain: .integer(low: 1, high: 3), value: .integer(0), contained: false),
        .init(domain: .integer(low: 1, high: 3), value: .real(2), contained: false),
        .init(domain: .choice([.text("a")]), value: .text("a"), contained: true),
        .init(domain: .choice([.text("a")]), value: .text("b"), contained: false),
    ]

    @Test("contains", arguments: containsCases)
    func contains(row: ContainsCase) {
        #expect(row.domain.contains(row.value) == row.contained)
    }

    @Test(arguments: [
        (Domain.uniform(low: 0, high: 1), "uniform"), (.logUniform(low: 1, high: 2), "log_uniform"),
        (.integer(low: 0, high: 1), "int"), (.choice([.integer(1)]), "choice"),
    ])
    func kindIsTheFileName(domain: Domain, kind: String) {
        #expect(domain.kind == kind)
    }

    @Test(arguments: [
        (0.5, 0.5), (1.2, 0.8), (-0.3, 0.3), (0.0, 0.0), (1.0, 1.0), (5.0, 0.0), (-7.0, 0.0), (-0.5, 0.5), (1.75, 0.25),
        (Double.infinity, 1.0), (-Double.infinity, 0.0),
    ])
    func foldReflectsOnceThenClamps(input: Double, expected: Double) {
        let folded = Domain.fold(input, low: 0, high: 1)
        #expect(abs(folded - expected) < 1e-12, "fold(\(input)) = \(folded)")
    }

    @Test func numericBoundsOfEachKind() throws {
        #expect(try #require(Domain.uniform(low: 0.9, high: 0.999).numericBounds) == (0.9, 0.999))
        #expect(try #require(Domain.logUniform(low: 1e-4, high: 1e-2).numericBounds) == (1e-4, 1e-2))
        #expect(try #require(Domain.integer(low: 1, high: 4).numericBounds) == (1.0, 4.0))
        #expect(Domain.choice([.real(0.9), .real(0.99)]).numericBounds == nil)
    }
}

/// Values, their formatting, and hyperparameter sets in name order.
@Suite("Hyperparameters")
struct HyperparametersTests {
    @Test(arguments: [
        (HyperparameterValue.real(1), "1.0"), (.real(0.5), "0.5"), (.real(0.001), "0.001"), (.real(-2.25), "-2.25"),
        (.real(1e-5), "1.0000e-05"), (.real(1_234_567.5), "1.2346e+06"), (.real(0.1234567), "0.123457"),
        (.integer(-3), "-3"), (.text("adam"), "adam"),
    ])
    func description(value: HyperparameterValue, expected: String) {
        #expect(value.description == expected)
    }

    @Test(arguments: [
        (HyperparameterValue.real(0.5), 0.5 as Double?), (.integer(3), 3.0), (.text("3"), nil),
    ])
    func number(value: HyperparameterValue, expected: Double?) {
        #expect(value.number == expected)
    }

    @Test func namesAndDescriptionAreSorted() {
        var h = Hyperparameters(["lr": .real(0.1), "batch": .integer(32), "opt": .text("adam")])
        #expect(h.names == ["batch", "lr", "opt"])
        #expect(h.sorted.map(\.name) == ["batch", "lr", "opt"])
        #expect(h.description == "batch=32 lr=0.1 opt=adam")
        #expect(h.count == 3)
        #expect(h.number("batch") == 32)
        #expect(h.number("opt") == nil)
        #expect(h.number("missing") == nil)
        h["lr"] = nil
        #expect(h.names == ["batch", "opt"])
    }
}

/// Search spaces: declared order, full samples, and what makes hyperparameters not fit.
@Suite("SearchSpace")
struct SearchSpaceTests {
    static let space = SearchSpace([
        Hyperparameter(name: "lr", domain: .logUniform(low: 1e-4, high: 1e-1)),
        Hyperparameter(name: "batch", domain: .integer(low: 8, high: 64)),
        Hyperparameter(name: "opt", domain: .choice([.text("adam"), .text("sgd")])),
    ])

    @Test func namesKeepFileOrder() {
        #expect(Self.space.names == ["lr", "batch", "opt"])
        #expect(Self.space.domain(of: "batch") == .integer(low: 8, high: 64))
        #expect(Self.space.domain(of: "momentum") == nil)
    }

    @Test func samplesFitAndAreDeterministic() {
        for seed in 0..<200 {
            var a = SplitMix64(seed: UInt64(seed))
            var b = SplitMix64(seed: UInt64(seed))
            let sample = Self.space.sample(using: &a)
            #expect(Self.space.violation(in: sample) == nil)
            #expect(sample == Self.space.sample(using: &b))
        }
    }

    @Test(arguments: [
        (["lr": HyperparameterValue.real(0.01), "batch": .integer(16), "opt": .text("sgd")], nil as String?),
        (["lr": .real(0.01), "batch": .integer(16)], "missing hyperparameter 'opt'"),
        (
            ["lr": .real(0.5), "batch": .integer(16), "opt": .text("sgd")],
            "hyperparameter 'lr' = 0.5 is outside its log_uniform domain"
        ),
        (
            ["lr": .real(0.01), "batch": .real(16), "opt": .text("sgd")],
            "hyperparameter 'batch' = 16.0 is outside its int domain"
        ),
        (
            ["lr": .real(0.01), "batch": .integer(16), "opt": .text("sgd"), "momentum": .real(0.9)],
            "unknown hyperparameter 'momentum'"
        ),
    ])
    func violation(values: [String: HyperparameterValue], expected: String?) {
        #expect(Self.space.violation(in: Hyperparameters(values)) == expected)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
