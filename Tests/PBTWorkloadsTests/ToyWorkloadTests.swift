import PBTConfig
import PBTCore
import PBTWorkloads
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The paper's toy problem: its known plateau, its climb, early stops, and refused checkpoints.
@Suite("ToyWorkload")
struct ToyWorkloadTests {
    static let toy = ToyWorkload()

    static func request(h0: Double, h1: Double, steps: Int, step: Int = 0) -> TrainingRequest {
        TrainingRequest(
            member: 0, step: step, steps: steps, hyperparameters: Hyperparameters(["h0": .real(h0), "h1": .real(h1)]),
            seed: 1)
    }

    static func train(_ state: [UInt8], h0: Double, h1: Double, steps: Int) throws -> TrainingOutcome {
        try toy.train(request(h0: h0, h1: h1, steps: steps), from: state, progress: { _ in true })
    }

    static func start() throws -> [UInt8] {
        try toy.initialState(member: 0, seed: 1, hyperparameters: Hyperparameters())
    }

    /// With h = (1, 0) only θ0 shrinks: Q = 1.2 − 0.81 − (0.9 · 0.98²⁰⁰)² ≈ 0.3897, the paper's plateau.
    @Test func hOneZeroPlateausAtTheGridSearchScore() throws {
        let outcome = try Self.train(try Self.start(), h0: 1, h1: 0, steps: 200)
        let theta0 = 0.9 * pow(0.98, 200)
        let expected = 1.2 - 0.81 - theta0 * theta0
        let score = try #require(outcome.metrics["score"])
        #expect(abs(score - 0.3897) < 1e-4, "score \(score)")
        #expect(abs(score - expected) < 1e-12)
        #expect(abs((outcome.metrics["theta0"] ?? 0) - theta0) < 1e-12)
        #expect(outcome.metrics["theta1"] == 0.9)
        #expect(outcome.stepsDone == 200)
        #expect(try Self.toy.evaluate(state: outcome.state, hyperparameters: Hyperparameters()) == outcome.metrics)
    }

    @Test func hOneOneClimbsEveryStep() throws {
        var state = try Self.start()
        var last = try Self.toy.evaluate(state: state, hyperparameters: Hyperparameters())["score"] ?? .nan
        #expect(abs(last - (1.2 - 1.62)) < 1e-12)
        for _ in 0..<20 {
            let outcome = try Self.train(state, h0: 1, h1: 1, steps: 10)
            let score = try #require(outcome.metrics["score"])
            #expect(score > last)
            last = score
            state = outcome.state
        }
        #expect(last > 1.19)
        #expect(last < 1.2)
    }

    @Test func trainingInPiecesEqualsTrainingAtOnce() throws {
        let whole = try Self.train(try Self.start(), h0: 0.7, h1: 0.3, steps: 12)
        var state = try Self.start()
        for _ in 0..<3 { state = try Self.train(state, h0: 0.7, h1: 0.3, steps: 4).state }
        #expect(state == whole.state)
    }

    @Test(arguments: [(10, 3, 3), (10, 1, 1), (10, 10, 10), (10, 100, 10), (0, 1, 0)])
    func trainStopsWhenProgressSaysSo(steps: Int, stopAt: Int, expectedDone: Int) throws {
        var calls: [Int] = []
        let outcome = try Self.toy.train(Self.request(h0: 1, h1: 1, steps: steps), from: try Self.start()) { done in
            calls.append(done)
            return done < stopAt
        }
        #expect(outcome.stepsDone == expectedDone)
        #expect(calls == Array(stride(from: 1, through: expectedDone, by: 1)))
        let theta = 0.9 * pow(0.98, Double(expectedDone))
        #expect(abs((outcome.metrics["score"] ?? .nan) - (1.2 - 2 * theta * theta)) < 1e-12)
    }

    @Test(arguments: [
        Hyperparameters(["h0": .real(1)]), Hyperparameters(["h1": .real(1)]),
        Hyperparameters(["h0": .text("a"), "h1": .real(1)]), Hyperparameters(),
    ])
    func trainRefusesMissingOrNonNumericHyperparameters(hyperparameters: Hyperparameters) throws {
        let request = TrainingRequest(member: 0, step: 0, steps: 1, hyperparameters: hyperparameters, seed: 1)
        let state = try Self.start()
        #expect(throws: WorkloadError.self) { try Self.toy.train(request, from: state, progress: { _ in true }) }
    }

    @Test func integerHyperparametersAreNumbersToo() throws {
        let request = TrainingRequest(
            member: 0, step: 0, steps: 200, hyperparameters: Hyperparameters(["h0": .integer(1), "h1": .integer(0)]),
            seed: 1)
        let outcome = try Self.toy.train(request, from: try Self.start(), progress: { _ in true })
        #expect(abs((outcome.metrics["score"] ?? 0) - 0.3897) < 1e-4)
    }

    // MARK: Checkpoints it must refuse

    enum Refusal: String, CaseIterable {
        case tooShort = "too short"
        case magic = "is not a"
        case version = "format version"
        case checksum = "checksum"
        case payload = "expected 2 numbers"
    }

    static func refusal(of state: [UInt8]) -> (refusal: String?, returned: Bool) {
        do {
            _ = try toy.train(request(h0: 1, h1: 1, steps: 1), from: state, progress: { _ in true })
            return (nil, true)
        } catch let error as WorkloadError {
            return (error.message, false)
        } catch {
            return ("not a WorkloadError: \(error)", false)
        }
    }

    static func expectRefused(_ state: [UInt8], because reason: Refusal, _ label: String) {
        let (message, returned) = refusal(of: state)
        #expect(!returned, "\(label): a state was returned")
        #expect(message?.contains(reason.rawValue) == true, "\(label): \(message ?? "nil")")
        do {
            _ = try toy.evaluate(state: state, hyperparameters: Hyperparameters())
            Issue.record("\(label): evaluate accepted it")
        } catch {
            #expect(error is WorkloadError, "\(label): \(error)")
        }
    }

    @Test func aCheckpointOfAnotherWorkloadIsRefused() throws {
        let noop = try NoopWorkload().initialState(member: 0, seed: 1, hyperparameters: Hyperparameters())
        Self.expectRefused(noop, because: .magic, "noop checkpoint")
        Self.expectRefused(Array("{\"theta\": [0.9, 0.9]}".utf8), because: .magic, "JSON")
    }

    @Test func aCheckpointOfAnotherFormatVersionIsRefused() throws {
        var state = try Self.start()
        state[4] = 2
        Self.expectRefused(state, because: .version, "version 2")
        let resealed = CheckpointCodec(magic: "TOY2", version: 2).seal(Float64Bytes.encode([0.9, 0.9]))
        Self.expectRefused(resealed, because: .version, "sealed as version 2")
    }

    @Test func everyFlippedByteIsCaught() throws {
        let state = try Self.start()
        for index in state.indices {
            for bit: UInt8 in [0x01, 0x80] {
                var damaged = state
                damaged[index] ^= bit
                let reason: Refusal = index < 4 ? .magic : index == 4 ? .version : .checksum
                Self.expectRefused(damaged, because: reason, "byte \(index) ^ \(bit)")
            }
        }
    }

    @Test func everyTruncationIsCaught() throws {
        let state = try Self.start()
        for length in 0..<state.count {
            Self.expectRefused(
                Array(state.prefix(length)), because: length < 9 ? .tooShort : .checksum,
                "\(length) of \(state.count) bytes")
        }
        Self.expectRefused(state + [0], because: .checksum, "one byte more")
    }

    @Test func aWellSealedPayloadOfTheWrongLengthIsRefused() {
        let codec = CheckpointCodec(magic: "TOY2", version: 1)
        Self.expectRefused(codec.seal(Float64Bytes.encode([0.9])), because: .payload, "one number")
        Self.expectRefused(codec.seal(Float64Bytes.encode([0.9, 0.9, 0.9])), because: .payload, "three numbers")
    }
}

/// The checkpoint container and the little-endian doubles inside it.
@Suite("CheckpointCodec")
struct CheckpointCodecTests {
    static let crcCases: [([UInt8], UInt32)] = [
        (Array("123456789".utf8), 0xCBF4_3926), ([], 0), (Array("a".utf8), 0xE8B7_BE43),
    ]

    @Test(arguments: crcCases)
    func crc32MatchesTheStandard(bytes: [UInt8], expected: UInt32) {
        #expect(CheckpointCodec.crc32(bytes) == expected)
    }

    @Test(arguments: [[UInt8](), [0], Array("payload".utf8), (0..<1_000).map { UInt8(truncatingIfNeeded: $0) }])
    func sealThenOpenGivesThePayloadBack(payload: [UInt8]) throws {
        let codec = CheckpointCodec(magic: "TEST", version: 3)
        let sealed = codec.seal(payload)
        #expect(Array(sealed.prefix(5)) == Array("TEST".utf8) + [3])
        #expect(sealed.count == payload.count + 9)
        #expect(try codec.open(sealed) == payload)
        #expect(throws: WorkloadError.self) { try CheckpointCodec(magic: "TEST", version: 4).open(sealed) }
        #expect(throws: WorkloadError.self) { try CheckpointCodec(magic: "TESU", version: 3).open(sealed) }
    }

    @Test func doublesRoundTripBitForBit() throws {
        let values: [Double] = [
            0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
        ]
        let bytes = Float64Bytes.encode(values)
        #expect(bytes.count == 80)
        #expect(Array(bytes[8..<16]) == [0, 0, 0, 0, 0, 0, 0, 0x80], "little-endian -0.0")
        let decoded = try Float64Bytes.decode(bytes, count: values.count)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(throws: WorkloadError.self) { try Float64Bytes.decode(bytes, count: 9) }
        #expect(throws: WorkloadError.self) { try Float64Bytes.decode(Array(bytes.dropLast()), count: 10) }
    }
}

/// The no-op workload: deterministic step times inside their range, and scores from hyperparameters.
@Suite("NoopWorkload")
struct NoopWorkloadTests {
    @Test(arguments: [(0.01, 0.05), (0.0, 1.0), (2.0, 2.5)])
    func stepTimesAreDeterministicAndInsideTheRange(low: Double, high: Double) {
        let noop = NoopWorkload(stepSeconds: low, stepSecondsMax: high)
        var seen: Set<Double> = []
        for seed: UInt64 in 0..<20 {
            for step in 0..<50 {
                let time = noop.stepTime(member: 0, step: step, seed: seed)
                #expect(time >= low && time <= high, "seed \(seed) step \(step): \(time)")
                #expect(time == noop.stepTime(member: 0, step: step, seed: seed))
                #expect(
                    time
                        == NoopWorkload(stepSeconds: low, stepSecondsMax: high).stepTime(
                            member: 0, step: step, seed: seed))
                seen.insert(time)
            }
        }
        #expect(seen.count > 900, "times vary with seed and step")
    }

    @Test func differentSeedsGiveDifferentTimes() {
        let noop = NoopWorkload(stepSeconds: 0, stepSecondsMax: 1)
        let a = (0..<20).map { noop.stepTime(member: 0, step: $0, seed: 1) }
        let b = (0..<20).map { noop.stepTime(member: 0, step: $0, seed: 2) }
        #expect(a != b)
    }

    @Test(arguments: [
        (NoopWorkload(stepSeconds: 0.3), 0, 0.3), (NoopWorkload(stepSeconds: 0.3, stepSecondsMax: 0.3), 0, 0.3),
        (NoopWorkload(stepSeconds: 0.3, stepSecondsMax: 0.1), 0, 0.3),
        (NoopWorkload(stepSeconds: 0.1, stepSecondsMax: 0.2, slowMembers: [2], slowStepSeconds: 5), 2, 5),
    ])
    func fixedStepTimes(noop: NoopWorkload, member: Int, expected: Double) {
        for step in 0..<10 { #expect(noop.stepTime(member: member, step: step, seed: UInt64(step)) == expected) }
    }

    @Test func trainScoresTheSumOfTheNumericHyperparameters() throws {
        let noop = NoopWorkload()
        let hyperparameters = Hyperparameters(["a": .real(0.25), "b": .integer(2), "c": .text("x")])
        let state = try noop.initialState(member: 0, seed: 1, hyperparameters: hyperparameters)
        var calls = 0
        let outcome = try noop.train(
            TrainingRequest(member: 0, step: 0, steps: 5, hyperparameters: hyperparameters, seed: 1), from: state
        ) { done in
            calls = done
            return done < 4
        }
        #expect(outcome.stepsDone == 4)
        #expect(calls == 4)
        #expect(outcome.metrics == ["score": 2.25])
        #expect(try noop.evaluate(state: outcome.state, hyperparameters: hyperparameters) == ["score": 2.25])
        #expect(outcome.state != state)
        #expect(throws: WorkloadError.self) {
            try noop.evaluate(state: Array(outcome.state.dropLast()), hyperparameters: hyperparameters)
        }
        let toyState = try ToyWorkload().initialState(member: 0, seed: 1, hyperparameters: hyperparameters)
        #expect(throws: WorkloadError.self) {
            try noop.train(
                TrainingRequest(member: 0, step: 0, steps: 1, hyperparameters: hyperparameters, seed: 1), from: toyState
            ) { _ in true }
        }
    }
}
