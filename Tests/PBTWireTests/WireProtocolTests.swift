import PBTWire
import Testing

@testable import PBTCore

/// Samples of every message kind, shared by the wire tests.
enum Samples {
    static let reference = "3fa9" + String(repeating: "0123456789abcdef", count: 3) + "0123456789ab"

    static let hyperparameters = Hyperparameters([
        "lr": .real(0.0125), "layers": .integer(-3), "opt": .text("adam"), "big": .integer(Int.max),
        "small": .integer(Int.min),
    ])

    static let reports: [WorkerReport] = [
        .ready(role: .trainer, received: 0, name: "trainer-1", experimentID: "toy-0123456789abcdef"),
        .ready(role: .mutator, received: 300, name: "mutator ü 🙂", experimentID: ""),
        .ready(role: .evaluator, received: Int(Int32.max), name: "", experimentID: "x"),
        .progress(member: 3, version: 7, step: 120),
        .progress(member: 1 << 40, version: 0, step: Int.max),
        .trained(
            TrainResult(
                member: 1, version: 2, step: 8, checkpoint: reference, metrics: ["score": 0.5, "loss": 1.25],
                seconds: 0.75)),
        .trained(
            TrainResult(
                member: 0, version: 1, step: 1, checkpoint: reference, metrics: [:], seconds: 0, interrupted: true)),
        .scored(EvaluateResult(member: 0, version: 9, score: -3.5, metrics: ["accuracy": 0.9])),
        .scored(EvaluateResult(member: 4, version: 1, score: 1e300)),
        .explored(
            ExploreResult(
                member: 2, version: 4, hyperparameters: hyperparameters,
                changes: [
                    "lr": ExploreChange(from: .real(0.01), to: .real(0.0125), how: .scaled(1.25)),
                    "layers": ExploreChange(from: .integer(-1), to: .integer(-3), how: .noised(-2)),
                    "opt": ExploreChange(from: .text("sgd"), to: .text("adam"), how: .shifted(-1)),
                    "big": ExploreChange(from: .integer(0), to: .integer(Int.max), how: .resampled),
                    "small": ExploreChange(from: .integer(0), to: .integer(Int.min), how: .shifted(Int.min)),
                ])),
        .explored(ExploreResult(member: 0, version: 1, hyperparameters: Hyperparameters(), changes: [:])),
        .failed(member: 1, version: 1, reason: "out of memory\nsecond line"),
        .released(member: 5, version: 6),
        .goodbye,
    ]

    static let commands: [WorkerCommand] = [
        .welcome(
            experimentID: "toy-0123", experiment: Array("name: toy\npopulation: 2\n".utf8),
            checkpointDirectory: "/tmp/run/checkpoints"),
        .welcome(experimentID: "", experiment: [], checkpointDirectory: ""),
        .train(
            TrainTask(
                member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: hyperparameters, seed: .max)
        ),
        .train(
            TrainTask(
                member: 7, version: 12, step: 40, steps: 4, checkpoint: reference, hyperparameters: Hyperparameters(),
                seed: 0)),
        .evaluate(
            EvaluateTask(
                member: 2, version: 3, step: 8, checkpoint: reference, hyperparameters: hyperparameters,
                metrics: ["loss": 0.25])),
        .explore(
            ExploreTask(member: 1, version: 5, donor: 3, step: 8, hyperparameters: hyperparameters, seed: 0xDEAD_BEEF)),
        .finished,
    ]
}

/// The binary protocol: round trips for every kind, and every kind of malformed frame refused.
@Suite("WireProtocol")
struct WireProtocolTests {
    static let magic: [UInt8] = [0x50, 0x42]
    static let version = WireProtocol.version

    @Test(arguments: Samples.reports)
    func reportsRoundTrip(report: WorkerReport) throws {
        let frame = WireProtocol.encode(report)
        #expect(Array(frame.prefix(3)) == Self.magic + [Self.version])
        #expect(try WireProtocol.decodeReport(frame) == report)
    }

    @Test(arguments: Samples.commands)
    func commandsRoundTrip(command: WorkerCommand) throws {
        let frame = WireProtocol.encode(command)
        #expect(Array(frame.prefix(3)) == Self.magic + [Self.version])
        #expect(try WireProtocol.decodeCommand(frame) == command)
    }

    @Test func theSamplesCoverEveryKind() {
        let kinds = Set(
            Samples.reports.map { WireProtocol.encode($0)[3] } + Samples.commands.map { WireProtocol.encode($0)[3] })
        #expect(kinds == Set(WireProtocol.Kind.allCases.map(\.rawValue)))
        #expect(Samples.reports.allSatisfy { WireProtocol.encode($0)[3] < 16 }, "reports below 16")
        #expect(Samples.commands.allSatisfy { WireProtocol.encode($0)[3] >= 16 }, "commands from 16")
    }

    @Test func metricsMayHoldNaNAndInfinities() throws {
        let report = WorkerReport.trained(
            TrainResult(
                member: 0, version: 1, step: 4, checkpoint: Samples.reference,
                metrics: ["loss": .nan, "up": .infinity, "down": -.infinity], seconds: 1))
        guard case .trained(let result) = try WireProtocol.decodeReport(WireProtocol.encode(report)) else {
            Issue.record("not a trained report")
            return
        }
        #expect(result.metrics["loss"]?.isNaN == true)
        #expect(result.metrics["up"] == .infinity)
        #expect(result.metrics["down"] == -.infinity)
    }

    // MARK: Malformed frames

    static func reportError(_ frame: [UInt8]) -> WireError? {
        do {
            _ = try WireProtocol.decodeReport(frame)
            return nil
        } catch {
            return error
        }
    }

    static func commandError(_ frame: [UInt8]) -> WireError? {
        do {
            _ = try WireProtocol.decodeCommand(frame)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ([UInt8](), WireError.empty),
        ([0x51, 0x42, 1, 1], .notPBT), ([0x50, 0x43, 1, 1], .notPBT), ([0x50], .notPBT), ([0x50, 0x42, 1], .notPBT),
        (Array("hello, world".utf8), .notPBT),
        ([0x50, 0x42, 0, 7], .unsupportedVersion(0)), ([0x50, 0x42, 2, 7], .unsupportedVersion(2)),
        ([0x50, 0x42, 1, 0], .unknownKind(0)), ([0x50, 0x42, 1, 9], .unknownKind(9)),
        ([0x50, 0x42, 1, 15], .unknownKind(15)),
        ([0x50, 0x42, 1, 21], .unknownKind(21)), ([0x50, 0x42, 1, 255], .unknownKind(255)),
    ])
    func headersAreChecked(frame: [UInt8], expected: WireError) {
        #expect(Self.reportError(frame) == expected)
        #expect(Self.commandError(frame) == expected)
    }

    @Test func oversizedFramesAreRefusedBeforeDecoding() {
        let frame =
            Self.magic + [Self.version, WireProtocol.Kind.failed.rawValue]
            + [UInt8](repeating: 0, count: WireProtocol.maximumFrameBytes - 3)
        #expect(
            Self.reportError(frame)
                == .tooLarge(bytes: WireProtocol.maximumFrameBytes + 1, limit: WireProtocol.maximumFrameBytes))
    }

    @Test("a report cut at any byte is refused", arguments: Samples.reports)
    func truncatedReports(report: WorkerReport) {
        let frame = WireProtocol.encode(report)
        for length in 0..<frame.count {
            let error = Self.reportError(Array(frame.prefix(length)))
            switch (length, error) {
            case (0, .empty?), (1...3, .notPBT?), (4..., .truncated?): break
            default: Issue.record("\(length) of \(frame.count) bytes: \(error.map { "\($0)" } ?? "decoded")")
            }
        }
    }

    @Test("a command cut at any byte is refused", arguments: Samples.commands)
    func truncatedCommands(command: WorkerCommand) {
        let frame = WireProtocol.encode(command)
        for length in 0..<frame.count {
            let error = Self.commandError(Array(frame.prefix(length)))
            switch (length, error) {
            case (0, .empty?), (1...3, .notPBT?), (4..., .truncated?): break
            default: Issue.record("\(length) of \(frame.count) bytes: \(error.map { "\($0)" } ?? "decoded")")
            }
        }
    }

    @Test(arguments: [1, 3, 100])
    func trailingBytesAreRefused(count: Int) {
        for report in Samples.reports {
            #expect(
                Self.reportError(WireProtocol.encode(report) + [UInt8](repeating: 0, count: count))
                    == .trailingBytes(count))
        }
        for command in Samples.commands {
            #expect(
                Self.commandError(WireProtocol.encode(command) + [UInt8](repeating: 7, count: count))
                    == .trailingBytes(count))
        }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, .signalingNaN])
    func aScoreThatIsNotFiniteIsRefused(score: Double) {
        let frame = WireProtocol.encode(.scored(EvaluateResult(member: 0, version: 1, score: score)))
        guard case .invalid(let field, _)? = Self.reportError(frame) else {
            Issue.record("\(score) accepted")
            return
        }
        #expect(field == "score")
    }

    @Test(arguments: [Double.nan, .infinity])
    func otherRealsThatAreNotFiniteAreRefused(value: Double) {
        let cases: [(WorkerReport, String)] = [
            (
                .trained(
                    TrainResult(
                        member: 0, version: 1, step: 4, checkpoint: Samples.reference, metrics: [:], seconds: value)),
                "seconds"
            ),
            (
                .explored(
                    ExploreResult(
                        member: 0, version: 1, hyperparameters: Hyperparameters(["lr": .real(value)]), changes: [:])),
                "hyperparameters.lr"
            ),
            (
                .explored(
                    ExploreResult(
                        member: 0, version: 1, hyperparameters: Hyperparameters(),
                        changes: ["lr": ExploreChange(from: .real(1), to: .real(1), how: .scaled(value))])),
                "changes.factor"
            ),
        ]
        for (report, expectedField) in cases {
            guard case .invalid(let field, _)? = Self.reportError(WireProtocol.encode(report)) else {
                Issue.record("\(expectedField) = \(value) accepted")
                continue
            }
            #expect(field == expectedField)
        }
    }

    static let badReferences: [String] = [
        "../etc/passwd", "", Samples.reference.uppercased(), String(Samples.reference.dropLast()),
        Samples.reference + "0",
        String(Samples.reference.dropLast(13)) + "/../../../etc", String(repeating: "g", count: 64),
        " " + String(Samples.reference.dropFirst()), String(Samples.reference.dropLast()) + "\u{0}",
        String(Samples.reference.dropLast(2)) + "é",
    ]

    @Test("a checkpoint reference that is not 64 lowercase hex digits is refused", arguments: badReferences)
    func badCheckpointReferences(reference: String) {
        let frames: [(String, [UInt8], Bool)] = [
            (
                "trained",
                WireProtocol.encode(
                    .trained(
                        TrainResult(
                            member: 0, version: 1, step: 4, checkpoint: reference, metrics: [:], seconds: 1))), true
            ),
            (
                "train",
                WireProtocol.encode(
                    .train(
                        TrainTask(
                            member: 0, version: 1, step: 0, steps: 4, checkpoint: reference,
                            hyperparameters: Hyperparameters(), seed: 1))), false
            ),
            (
                "evaluate",
                WireProtocol.encode(
                    .evaluate(
                        EvaluateTask(
                            member: 0, version: 1, step: 4, checkpoint: reference, hyperparameters: Hyperparameters(),
                            metrics: [:]))), false
            ),
        ]
        for (label, frame, isReport) in frames {
            let error = isReport ? Self.reportError(frame) : Self.commandError(frame)
            guard case .invalid(let field, _)? = error else {
                Issue.record("\(label): '\(reference)' → \(error.map { "\($0)" } ?? "accepted")")
                continue
            }
            #expect(field == "checkpoint", "\(label)")
        }
    }

    @Test(arguments: Samples.reports)
    func aReportIsNotACommand(report: WorkerReport) {
        guard case .invalid(let field, let reason)? = Self.commandError(WireProtocol.encode(report)) else {
            Issue.record("decoded as a command")
            return
        }
        #expect(field == "kind")
        #expect(reason.contains("is a report"))
    }

    @Test(arguments: Samples.commands)
    func aCommandIsNotAReport(command: WorkerCommand) {
        guard case .invalid(let field, let reason)? = Self.reportError(WireProtocol.encode(command)) else {
            Issue.record("decoded as a report")
            return
        }
        #expect(field == "kind")
        #expect(reason.contains("is a command"))
    }

    /// Frames the encoder never writes, built field by field.
    static func frame(_ kind: WireProtocol.Kind, _ body: (inout WireWriter) -> Void) -> [UInt8] {
        var writer = WireWriter()
        for byte in magic + [version, kind.rawValue] { writer.byte(byte) }
        body(&writer)
        return writer.bytes
    }

    struct CraftedFrame: Sendable, CustomTestStringConvertible {
        let label: String
        let frame: [UInt8]
        let field: String
        var testDescription: String { label }
    }

    static let craftedReports: [CraftedFrame] = [
        .init(
            label: "unknown role",
            frame: frame(.ready) { w in
                w.byte(9)
                w.count(0)
                w.text("t")
                w.text("x")
            }, field: "role"),
        .init(
            label: "name over 256 bytes",
            frame: frame(.ready) { w in
                w.byte(1)
                w.count(0)
                w.text(String(repeating: "n", count: 257))
                w.text("x")
            }, field: "name"),
        .init(
            label: "name not UTF-8",
            frame: frame(.ready) { w in
                w.byte(1)
                w.count(0)
                w.blob([0xFF, 0xFE])
                w.text("x")
            }, field: "name"),
        .init(
            label: "varint overflowing 64 bits",
            frame: frame(.progress) { w in
                for _ in 0..<10 { w.byte(0xFF) }
                w.byte(0x01)
                w.count(0)
                w.count(0)
            }, field: "member"),
        .init(
            label: "varint longer than 10 bytes",
            frame: frame(.progress) { w in
                for _ in 0..<9 { w.byte(0x80) }
                w.byte(0x81)
                w.byte(0x00)
                w.count(0)
                w.count(0)
            }, field: "member"),
        .init(
            label: "flag byte 2",
            frame: frame(.trained) { w in
                w.count(0)
                w.count(1)
                w.count(4)
                w.text(Samples.reference)
                w.count(0)
                w.real(1)
                w.byte(2)
            }, field: "interrupted"),
        .init(
            label: "unknown explore operation",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(0)
                w.count(1)
                w.text("lr")
                w.byte(1)
                w.real(1)
                w.byte(1)
                w.real(2)
                w.byte(9)
            }, field: "changes.how"),
        .init(
            label: "unknown value tag",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(1)
                w.text("lr")
                w.byte(7)
                w.count(0)
            }, field: "hyperparameters.lr"),
        .init(
            label: "empty hyperparameter name",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(1)
                w.text("")
                w.byte(2)
                w.signed(1)
                w.count(0)
            }, field: "hyperparameters.name"),
        .init(
            label: "duplicate hyperparameter",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(2)
                w.text("lr")
                w.byte(2)
                w.signed(1)
                w.text("lr")
                w.byte(2)
                w.signed(2)
                w.count(0)
            }, field: "hyperparameters.lr"),
        .init(
            label: "too many hyperparameters",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(10_001)
            }, field: "hyperparameters"),
        .init(
            label: "too many changes",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(0)
                w.count(100_001)
            }, field: "changes"),
        .init(
            label: "a text length beyond the limit",
            frame: frame(.failed) { w in
                w.count(0)
                w.count(1)
                w.count(1 << 40)
            }, field: "reason"),
    ]

    @Test("crafted bad reports name the field", arguments: craftedReports)
    func craftedReportsAreRefused(row: CraftedFrame) {
        guard case .invalid(let field, _)? = Self.reportError(row.frame) else {
            Issue.record("\(row.label): \(Self.reportError(row.frame).map { "\($0)" } ?? "accepted")")
            return
        }
        #expect(field == row.field)
    }

    @Test func aBadCheckpointFlagIsRefused() {
        let frame = Self.frame(.train) { w in
            w.count(0)
            w.count(1)
            w.count(0)
            w.count(4)
            w.byte(3)
        }
        guard case .invalid(let field, _)? = Self.commandError(frame) else {
            Issue.record("accepted")
            return
        }
        #expect(field == "has_checkpoint")
    }

    @Test(arguments: [
        (WireError.empty, "empty"), (.notPBT, "bad_magic"), (.unsupportedVersion(2), "wrong_version"),
        (.unknownKind(9), "unknown_kind"),
        (.truncated(field: "x"), "truncated"), (.invalid(field: "x", reason: "y"), "invalid_field"),
        (.trailingBytes(1), "trailing_bytes"),
        (.tooLarge(bytes: 2, limit: 1), "oversized"), (.wrongFrameCount(2), "wrong_frame_count"),
    ])
    func errorsHaveStableReasons(error: WireError, reason: String) {
        #expect(error.reason == reason)
        #expect(!error.description.isEmpty)
    }

    @Test func errorDescriptionsNameTheField() {
        #expect(WireError.truncated(field: "checkpoint").description == "truncated at checkpoint")
        #expect(
            WireError.invalid(field: "score", reason: "nan is not a finite number").description
                == "score: nan is not a finite number")
        #expect(WireError.unsupportedVersion(9).description.contains("9"))
    }

    // MARK: Garbage

    /// 20 000 random frames, half of them behind a valid header, and 20 000 valid frames with
    /// bytes flipped, cut or added: decoding never traps, and whatever it accepts re-encodes to
    /// a frame that decodes again to the same bytes.
    @Test func randomFramesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 20_240_601)
        let kinds = WireProtocol.Kind.allCases.map(\.rawValue)
        let valid = Samples.reports.map(WireProtocol.encode) + Samples.commands.map(WireProtocol.encode)
        var accepted = 0
        var refused = 0
        for round in 0..<40_000 {
            var frame: [UInt8]
            if round % 2 == 0 {
                let length = Int.random(in: 0...(round % 10 == 0 ? 512 : 48), using: &random)
                frame = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
                if round % 4 == 0 {
                    frame = Self.magic + [Self.version, kinds[Int.random(in: 0..<kinds.count, using: &random)]] + frame
                }
            } else {
                frame = valid[Int.random(in: 0..<valid.count, using: &random)]
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0 where !frame.isEmpty:
                        frame[Int.random(in: 0..<frame.count, using: &random)] = UInt8.random(
                            in: 0...255, using: &random)
                    case 1 where !frame.isEmpty:
                        frame.removeLast(Int.random(in: 1...frame.count, using: &random))
                    default:
                        frame.append(UInt8.random(in: 0...255, using: &random))
                    }
                }
            }
            do {
                let report = try WireProtocol.decodeReport(frame)
                accepted += 1
                let again = WireProtocol.encode(report)
                #expect((try? WireProtocol.decodeReport(again)).map(WireProtocol.encode) == again)
            } catch {
                refused += 1
                #expect(!error.reason.isEmpty)
            }
            do {
                let command = try WireProtocol.decodeCommand(frame)
                accepted += 1
                let again = WireProtocol.encode(command)
                #expect((try? WireProtocol.decodeCommand(again)).map(WireProtocol.encode) == again)
            } catch {
                refused += 1
                #expect(!error.reason.isEmpty)
            }
        }
        #expect(accepted + refused == 80_000)
        #expect(refused > 60_000)
        #expect(accepted > 0, "some mutations leave a valid frame")
    }
}
