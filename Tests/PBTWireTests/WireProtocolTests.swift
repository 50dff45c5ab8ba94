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

    /// A CURVE public key (32 bytes), and another.
    static let key: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    static let otherKey = [UInt8](repeating: 0xFF, count: 32)

    /// Two evaluators' inlets: one with CURVE, one without.
    static let routes = EvaluatorRoutes(
        generation: 3,
        endpoints: [
            PeerEndpoint(endpoint: "tcp://10.0.0.7:5560", publicKey: key),
            PeerEndpoint(endpoint: "ipc:///tmp/pbt-evaluator-ü.sock"),
        ])

    /// What a trainer pushes to an evaluator, and what the evaluator forwards with its score.
    static let trained = TrainResult(
        member: 1, version: 2, fromStep: 4, step: 8, checkpoint: reference, hyperparameters: hyperparameters,
        metrics: ["score": 0.5, "loss": 1.25], seconds: 0.75, trainer: "trainer-1")

    static let reports: [WorkerReport] = [
        // A trainer's first credit: no inlet, nothing handed on.
        .ready(Ready(role: .trainer, received: 0, name: "trainer-1", experimentID: "toy-0123456789abcdef")),
        // A credit that says which member the trainer just pushed on, and which routes it holds.
        .ready(
            Ready(
                role: .trainer, received: 300, name: "trainer ü 🙂", experimentID: "", routes: 7,
                handed: HandedOn(member: 3, version: 12, step: 40))),
        // An evaluator's registration: its inlet and its CURVE key.
        .ready(
            Ready(
                role: .evaluator, received: Int(Int32.max), name: "", experimentID: "x",
                inlet: PeerEndpoint(endpoint: "tcp://10.0.0.7:5560", publicKey: key))),
        // An inlet without a key, and a member handed on (both at once, at the extremes).
        .ready(
            Ready(
                role: .mutator, received: 0, name: "mutator-1", experimentID: "x",
                inlet: PeerEndpoint(endpoint: "ipc:///tmp/m.sock"), routes: Int.max,
                handed: HandedOn(member: 1 << 40, version: 0, step: Int.max))),
        .progress(member: 3, version: 7, step: 120),
        .progress(member: 1 << 40, version: 0, step: Int.max),
        .trained(trained),
        .trained(
            TrainResult(
                member: 0, version: 1, fromStep: 0, step: 1, checkpoint: reference, metrics: [:], seconds: 0,
                interrupted: true)),
        .scored(EvaluateResult(trained: trained, score: -3.5, metrics: ["accuracy": 0.9], evaluator: "evaluator-2")),
        .scored(
            EvaluateResult(
                trained: TrainResult(
                    member: 4, version: 1, fromStep: 0, step: 4, checkpoint: reference, metrics: [:], seconds: 1e-3),
                score: 1e300)),
        .explored(
            ExploreResult(
                member: 2, version: 4, hyperparameters: hyperparameters,
                changes: [
                    "lr": ExploreChange(from: .real(0.01), to: .real(0.0125), how: .scaled(1.25)),
                    "layers": ExploreChange(from: .integer(-1), to: .integer(-3), how: .noised(-2)),
                    "opt": ExploreChange(from: .text("sgd"), to: .text("adam"), how: .shifted(-1)),
                    "big": ExploreChange(from: .integer(0), to: .integer(Int.max), how: .resampled),
                    "small": ExploreChange(from: .integer(0), to: .integer(Int.min), how: .shifted(Int.min)),
                    "proposed": ExploreChange(from: .real(1), to: .real(2), how: .proposed),
                ], mutator: "mutator-1")),
        .explored(ExploreResult(member: 0, version: 1, hyperparameters: Hyperparameters(), changes: [:])),
        .failed(member: 1, version: 1, reason: "out of memory\nsecond line"),
        .failed(member: 2, version: 9, reason: "the trained checkpoint is not in the store", upstream: true),
        .released(member: 5, version: 6),
        .goodbye,
    ]

    static let commands: [WorkerCommand] = [
        .welcome(
            Welcome(
                experimentID: "toy-0123", experiment: Array("name: toy\npopulation: 2\n".utf8),
                checkpointDirectory: "/tmp/run/checkpoints", inlet: "tcp://0.0.0.0:5558", evaluators: routes,
                store: PeerEndpoint(endpoint: "tcp://0.0.0.0:5559", publicKey: Array(repeating: 7, count: 32)),
                storeToken: "5f3e-81aa-0c21-9d04")),
        .welcome(
            Welcome(
                experimentID: "", experiment: [], checkpointDirectory: "", inlet: "",
                evaluators: EvaluatorRoutes(generation: 0, endpoints: []))),
        .train(
            TrainTask(
                member: 0, version: 1, step: 0, steps: 4, checkpoint: nil, hyperparameters: hyperparameters, seed: .max)
        ),
        .train(
            TrainTask(
                member: 7, version: 12, step: 40, steps: 4, checkpoint: reference, hyperparameters: Hyperparameters(),
                seed: 0)),
        .explore(
            ExploreTask(
                member: 1, version: 5, donor: 3, step: 8, checkpoint: reference, hyperparameters: hyperparameters,
                seed: 0xDEAD_BEEF)),
        // A donor without a checkpoint yet: the reference may be empty.
        .explore(
            ExploreTask(
                member: 0, version: 1, donor: 2, step: 0, checkpoint: "", hyperparameters: Hyperparameters(), seed: 0)),
        .evaluators(routes),
        // Every evaluator left.
        .evaluators(EvaluatorRoutes(generation: Int.max, endpoints: [])),
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

    /// The header's contract: version 3 (the welcome names the checkpoint service), and the kinds' numbers (18, `evaluate` in version 1,
    /// is gone and must stay unused).
    @Test func theVersionAndTheKindNumbersAreFixed() {
        #expect(WireProtocol.version == 3)
        let kinds = Dictionary(uniqueKeysWithValues: WireProtocol.Kind.allCases.map { ("\($0)", $0.rawValue) })
        #expect(
            kinds == [
                "ready": 1, "progress": 2, "trained": 3, "scored": 4, "explored": 5, "failed": 6, "goodbye": 7,
                "released": 8, "welcome": 16, "train": 17, "explore": 19, "finished": 20, "evaluators": 21,
            ])
        #expect(WireProtocol.Kind(rawValue: 18) == nil)
    }

    @Test func metricsMayHoldNaNAndInfinities() throws {
        let trained = TrainResult(
            member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference,
            metrics: ["loss": .nan, "up": .infinity, "down": -.infinity], seconds: 1)
        guard case .trained(let result) = try WireProtocol.decodeReport(WireProtocol.encode(.trained(trained))) else {
            Issue.record("not a trained report")
            return
        }
        #expect(result.metrics["loss"]?.isNaN == true)
        #expect(result.metrics["up"] == .infinity)
        #expect(result.metrics["down"] == -.infinity)
        // The same in a score: the trainer's metrics it carries, and the evaluator's own.
        let scored = EvaluateResult(trained: trained, score: 1, metrics: ["test_loss": .nan])
        guard case .scored(let score) = try WireProtocol.decodeReport(WireProtocol.encode(.scored(scored))) else {
            Issue.record("not a scored report")
            return
        }
        #expect(score.trained.metrics["loss"]?.isNaN == true)
        #expect(score.trained.metrics["down"] == -.infinity)
        #expect(score.metrics["test_loss"]?.isNaN == true)
    }

    /// A trained result's seconds are a duration: a negative or infinite one is refused by field.
    @Test func aTrainedResultTakesNoNegativeSeconds() throws {
        for seconds in [-5.0, -.infinity, .nan] {
            let trained = TrainResult(
                member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference, metrics: [:],
                seconds: seconds)
            #expect(throws: WireError.self) { try WireProtocol.decodeReport(WireProtocol.encode(.trained(trained))) }
        }
        let zero = TrainResult(
            member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference, metrics: [:], seconds: 0)
        #expect(throws: Never.self) { try WireProtocol.decodeReport(WireProtocol.encode(.trained(zero))) }
    }

    /// A score carries the trainer's whole account, so the selector applies both at once.
    @Test func aScoreCarriesWhatTheTrainerTrained() throws {
        let frame = WireProtocol.encode(
            .scored(EvaluateResult(trained: Samples.trained, score: 0.25, metrics: ["accuracy": 0.5], evaluator: "e-1"))
        )
        guard case .scored(let result) = try WireProtocol.decodeReport(frame) else {
            Issue.record("not a scored report")
            return
        }
        #expect(result.trained == Samples.trained)
        #expect(result.member == 1 && result.version == 2)
        #expect(result.trained.fromStep == 4 && result.trained.step == 8)
        #expect(result.trained.hyperparameters == Samples.hyperparameters)
        #expect(result.trained.trainer == "trainer-1")
        #expect(result.evaluator == "e-1")
    }

    /// A trainer has no inlet: an empty endpoint is read back as none.
    @Test func anEmptyInletIsNoInlet() throws {
        for inlet in [nil, PeerEndpoint(endpoint: "")] {
            let frame = WireProtocol.encode(
                .ready(Ready(role: .trainer, received: 1, name: "t", experimentID: "x", inlet: inlet)))
            guard case .ready(let ready) = try WireProtocol.decodeReport(frame) else {
                Issue.record("not a ready report")
                continue
            }
            #expect(ready.inlet == nil)
        }
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
        ([0x51, 0x42, 3, 1], .notPBT), ([0x50, 0x43, 3, 1], .notPBT), ([0x50], .notPBT), ([0x50, 0x42, 3], .notPBT),
        (Array("hello, world".utf8), .notPBT),
        ([0x50, 0x42, 0, 7], .unsupportedVersion(0)), ([0x50, 0x42, 1, 7], .unsupportedVersion(1)),
        ([0x50, 0x42, 1, 18], .unsupportedVersion(1)), ([0x50, 0x42, 2, 7], .unsupportedVersion(2)),
        ([0x50, 0x42, 255, 16], .unsupportedVersion(255)),
        ([0x50, 0x42, 3, 0], .unknownKind(0)), ([0x50, 0x42, 3, 9], .unknownKind(9)),
        ([0x50, 0x42, 3, 15], .unknownKind(15)), ([0x50, 0x42, 3, 18], .unknownKind(18)),
        ([0x50, 0x42, 3, 22], .unknownKind(22)), ([0x50, 0x42, 3, 255], .unknownKind(255)),
    ])
    func headersAreChecked(frame: [UInt8], expected: WireError) {
        #expect(Self.reportError(frame) == expected)
        #expect(Self.commandError(frame) == expected)
    }

    /// A stage of the previous version is told apart by its header, whatever it sends.
    @Test func framesOfVersionOneAreRefusedAsSuch() {
        for report in Samples.reports {
            var frame = WireProtocol.encode(report)
            frame[2] = 1
            #expect(Self.reportError(frame) == .unsupportedVersion(1))
            #expect(Self.commandError(frame) == .unsupportedVersion(1))
        }
        for command in Samples.commands {
            var frame = WireProtocol.encode(command)
            frame[2] = 1
            #expect(Self.commandError(frame) == .unsupportedVersion(1))
            #expect(Self.reportError(frame) == .unsupportedVersion(1))
        }
    }

    @Test func oversizedFramesAreRefusedBeforeDecoding() {
        let frame =
            Self.magic + [Self.version, WireProtocol.Kind.failed.rawValue]
            + [UInt8](repeating: 0, count: WireProtocol.maximumFrameBytes - 3)
        #expect(
            Self.reportError(frame)
                == .tooLarge(bytes: WireProtocol.maximumFrameBytes + 1, limit: WireProtocol.maximumFrameBytes))
        #expect(
            Self.commandError(frame)
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
        let frame = WireProtocol.encode(.scored(EvaluateResult(trained: Samples.trained, score: score)))
        guard case .invalid(let field, _)? = Self.reportError(frame) else {
            Issue.record("\(score) accepted")
            return
        }
        #expect(field == "score")
    }

    @Test(arguments: [Double.nan, .infinity])
    func otherRealsThatAreNotFiniteAreRefused(value: Double) {
        let reports: [(WorkerReport, String)] = [
            (
                .trained(
                    TrainResult(
                        member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference, metrics: [:],
                        seconds: value)),
                "seconds"
            ),
            (
                .trained(
                    TrainResult(
                        member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference,
                        hyperparameters: Hyperparameters(["lr": .real(value)]), metrics: [:], seconds: 1)),
                "hyperparameters.lr"
            ),
            (
                .scored(
                    EvaluateResult(
                        trained: TrainResult(
                            member: 0, version: 1, fromStep: 0, step: 4, checkpoint: Samples.reference, metrics: [:],
                            seconds: value), score: 1)),
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
            (
                .explored(
                    ExploreResult(
                        member: 0, version: 1, hyperparameters: Hyperparameters(),
                        changes: ["lr": ExploreChange(from: .real(1), to: .real(value), how: .noised(0.5))])),
                "changes.to"
            ),
        ]
        for (report, expectedField) in reports {
            guard case .invalid(let field, _)? = Self.reportError(WireProtocol.encode(report)) else {
                Issue.record("\(expectedField) = \(value) accepted")
                continue
            }
            #expect(field == expectedField)
        }
        let commands: [(WorkerCommand, String)] = [
            (
                .train(
                    TrainTask(
                        member: 0, version: 1, step: 0, steps: 4, checkpoint: nil,
                        hyperparameters: Hyperparameters(["lr": .real(value)]), seed: 1)),
                "hyperparameters.lr"
            ),
            (
                .explore(
                    ExploreTask(
                        member: 0, version: 1, donor: 1, step: 4, checkpoint: Samples.reference,
                        hyperparameters: Hyperparameters(["lr": .real(value)]), seed: 1)),
                "hyperparameters.lr"
            ),
        ]
        for (command, expectedField) in commands {
            guard case .invalid(let field, _)? = Self.commandError(WireProtocol.encode(command)) else {
                Issue.record("\(expectedField) = \(value) accepted in a command")
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

    /// Every message that names a checkpoint refuses a reference that could name anything but
    /// a file of the store; an explore may name none (empty), the others must name one.
    @Test("a checkpoint reference that is not 64 lowercase hex digits is refused", arguments: badReferences)
    func badCheckpointReferences(reference: String) throws {
        let trained = TrainResult(
            member: 0, version: 1, fromStep: 0, step: 4, checkpoint: reference, metrics: [:], seconds: 1)
        let frames: [(String, [UInt8], Bool)] = [
            ("trained", WireProtocol.encode(.trained(trained)), true),
            ("scored", WireProtocol.encode(.scored(EvaluateResult(trained: trained, score: 1))), true),
            (
                "train",
                WireProtocol.encode(
                    .train(
                        TrainTask(
                            member: 0, version: 1, step: 0, steps: 4, checkpoint: reference,
                            hyperparameters: Hyperparameters(), seed: 1))), false
            ),
        ]
        let explore = WireProtocol.encode(
            .explore(
                ExploreTask(
                    member: 0, version: 1, donor: 1, step: 4, checkpoint: reference, hyperparameters: Hyperparameters(),
                    seed: 1)))
        for (label, frame, isReport) in frames + (reference.isEmpty ? [] : [("explore", explore, false)]) {
            let error = isReport ? Self.reportError(frame) : Self.commandError(frame)
            guard case .invalid(let field, _)? = error else {
                Issue.record("\(label): '\(reference)' → \(error.map { "\($0)" } ?? "accepted")")
                continue
            }
            #expect(field == "checkpoint", "\(label)")
        }
        if reference.isEmpty {
            guard case .explore(let task) = try WireProtocol.decodeCommand(explore) else {
                Issue.record("not an explore command")
                return
            }
            #expect(task.checkpoint == "")
        }
    }

    /// A CURVE key is 32 bytes or none: anything else in an inlet or a route is refused.
    @Test("a public key that is neither 0 nor 32 bytes is refused", arguments: [1, 16, 31, 33, 64])
    func badPublicKeys(length: Int) {
        let key = [UInt8](repeating: 0x2A, count: length)
        let ready = WireProtocol.encode(
            .ready(
                Ready(
                    role: .evaluator, received: 0, name: "e", experimentID: "x",
                    inlet: PeerEndpoint(endpoint: "tcp://10.0.0.7:5560", publicKey: key))))
        guard case .invalid(let field, _)? = Self.reportError(ready) else {
            Issue.record("ready: a \(length)-byte key → \(Self.reportError(ready).map { "\($0)" } ?? "accepted")")
            return
        }
        #expect(field == "inlet_key")
        let routes = EvaluatorRoutes(
            generation: 1,
            endpoints: [
                PeerEndpoint(endpoint: "tcp://a:1", publicKey: Samples.key),
                PeerEndpoint(endpoint: "tcp://b:1", publicKey: key),
            ])
        let commands: [WorkerCommand] = [
            .evaluators(routes),
            .welcome(
                Welcome(
                    experimentID: "x", experiment: [], checkpointDirectory: "/c", inlet: "tcp://s:1", evaluators: routes
                )),
        ]
        for command in commands {
            guard case .invalid(let field, _)? = Self.commandError(WireProtocol.encode(command)) else {
                Issue.record("\(command): a \(length)-byte key accepted")
                continue
            }
            #expect(field == "routes.key")
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

    /// The fields of a `ready` up to (not including) its inlet.
    static func readyHead(_ w: inout WireWriter, role: UInt8 = 1) {
        w.byte(role)
        w.count(0)
        w.text("t")
        w.text("x")
    }

    /// The fields of a trainer's result up to (not including) `interrupted`.
    static func trainedHead(_ w: inout WireWriter) {
        w.count(0)
        w.count(1)
        w.count(0)
        w.count(4)
        w.text(Samples.reference)
        w.count(0)
        w.count(0)
        w.real(1)
    }

    static let craftedReports: [CraftedFrame] = [
        .init(label: "unknown role", frame: frame(.ready) { w in readyHead(&w, role: 9) }, field: "role"),
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
            label: "experiment id over 256 bytes",
            frame: frame(.ready) { w in
                w.byte(1)
                w.count(0)
                w.text("t")
                w.text(String(repeating: "x", count: 257))
            }, field: "experiment_id"),
        .init(
            label: "inlet over 1024 bytes",
            frame: frame(.ready) { w in
                readyHead(&w, role: 2)
                w.text("tcp://" + String(repeating: "h", count: 1019))
            }, field: "inlet"),
        .init(
            label: "inlet key of 31 bytes",
            frame: frame(.ready) { w in
                readyHead(&w, role: 2)
                w.text("tcp://e:1")
                w.blob([UInt8](repeating: 1, count: 31))
                w.count(0)
                w.flag(false)
            }, field: "inlet_key"),
        .init(
            label: "inlet key of 33 bytes",
            frame: frame(.ready) { w in
                readyHead(&w, role: 2)
                w.text("tcp://e:1")
                w.blob([UInt8](repeating: 1, count: 33))
                w.count(0)
                w.flag(false)
            }, field: "inlet_key"),
        .init(
            label: "handed flag byte 2",
            frame: frame(.ready) { w in
                readyHead(&w)
                w.text("")
                w.blob([])
                w.count(0)
                w.byte(2)
            }, field: "has_handed"),
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
                trainedHead(&w)
                w.byte(2)
                w.text("t")
            }, field: "interrupted"),
        .init(
            label: "trainer name over 256 bytes",
            frame: frame(.trained) { w in
                trainedHead(&w)
                w.flag(false)
                w.text(String(repeating: "t", count: 257))
            }, field: "trainer"),
        .init(
            label: "evaluator name over 256 bytes",
            frame: frame(.scored) { w in
                trainedHead(&w)
                w.flag(false)
                w.text("t")
                w.real(0.5)
                w.count(0)
                w.text(String(repeating: "e", count: 257))
            }, field: "evaluator"),
        .init(
            label: "evaluator's metric name not UTF-8",
            frame: frame(.scored) { w in
                trainedHead(&w)
                w.flag(false)
                w.text("t")
                w.real(0.5)
                w.count(1)
                w.blob([0xC3])
                w.real(1)
                w.text("e")
            }, field: "metrics.name"),
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
            label: "mutator name over 256 bytes",
            frame: frame(.explored) { w in
                w.count(0)
                w.count(1)
                w.count(0)
                w.count(0)
                w.text(String(repeating: "m", count: 257))
            }, field: "mutator"),
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

    /// A welcome's fields up to (not including) its evaluators' routes.
    static func welcomeHead(_ w: inout WireWriter) {
        w.text("x")
        w.blob([])
        w.text("/c")
        w.text("tcp://s:1")
    }

    static let craftedCommands: [CraftedFrame] = [
        .init(
            label: "checkpoint flag byte 3",
            frame: frame(.train) { w in
                w.count(0)
                w.count(1)
                w.count(0)
                w.count(4)
                w.byte(3)
            }, field: "has_checkpoint"),
        .init(
            label: "a train task's checkpoint that is a path",
            frame: frame(.train) { w in
                w.count(0)
                w.count(1)
                w.count(0)
                w.count(4)
                w.flag(true)
                w.text("../../etc/passwd")
            }, field: "checkpoint"),
        .init(
            label: "an explore's checkpoint that is a path",
            frame: frame(.explore) { w in
                w.count(0)
                w.count(1)
                w.count(2)
                w.count(4)
                w.text("../../etc/passwd")
                w.count(0)
                w.fixed64(1)
            }, field: "checkpoint"),
        .init(
            label: "an explore's checkpoint over 64 bytes",
            frame: frame(.explore) { w in
                w.count(0)
                w.count(1)
                w.count(2)
                w.count(4)
                w.text(Samples.reference + "00")
            }, field: "checkpoint"),
        .init(
            label: "experiment id over 256 bytes",
            frame: frame(.welcome) { w in w.text(String(repeating: "x", count: 257)) }, field: "experiment_id"),
        .init(
            label: "checkpoint directory over 4096 bytes",
            frame: frame(.welcome) { w in
                w.text("x")
                w.blob([])
                w.text(String(repeating: "d", count: 4097))
            }, field: "checkpoint_directory"),
        .init(
            label: "selector inlet over 1024 bytes",
            frame: frame(.welcome) { w in
                w.text("x")
                w.blob([])
                w.text("/c")
                w.text(String(repeating: "i", count: 1025))
            }, field: "inlet"),
        .init(
            label: "a welcome's route key of 31 bytes",
            frame: frame(.welcome) { w in
                welcomeHead(&w)
                w.count(1)
                w.count(1)
                w.text("tcp://e:1")
                w.blob([UInt8](repeating: 1, count: 31))
            }, field: "routes.key"),
        .init(
            label: "a welcome with more than 4096 routes",
            frame: frame(.welcome) { w in
                welcomeHead(&w)
                w.count(1)
                w.count(4097)
            }, field: "routes.count"),
        .init(
            label: "a route key of 33 bytes",
            frame: frame(.evaluators) { w in
                w.count(1)
                w.count(1)
                w.text("tcp://e:1")
                w.blob([UInt8](repeating: 1, count: 33))
            }, field: "routes.key"),
        .init(
            label: "a route endpoint over 1024 bytes",
            frame: frame(.evaluators) { w in
                w.count(1)
                w.count(1)
                w.text(String(repeating: "e", count: 1025))
                w.blob([])
            }, field: "routes.endpoint"),
        .init(
            label: "a route endpoint not UTF-8",
            frame: frame(.evaluators) { w in
                w.count(1)
                w.count(1)
                w.blob([0x80])
                w.blob([])
            }, field: "routes.endpoint"),
        .init(
            label: "more than 4096 routes",
            frame: frame(.evaluators) { w in
                w.count(1)
                w.count(1 << 20)
            }, field: "routes.count"),
    ]

    @Test("crafted bad commands name the field", arguments: craftedCommands)
    func craftedCommandsAreRefused(row: CraftedFrame) {
        guard case .invalid(let field, _)? = Self.commandError(row.frame) else {
            Issue.record("\(row.label): \(Self.commandError(row.frame).map { "\($0)" } ?? "accepted")")
            return
        }
        #expect(field == row.field)
    }

    @Test(arguments: [
        (WireError.empty, "empty"), (.notPBT, "bad_magic"), (.unsupportedVersion(1), "wrong_version"),
        (.unknownKind(18), "unknown_kind"),
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
        #expect(WireError.unsupportedVersion(1).description == "protocol version 1, this build speaks 3")
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
