import PBTCore

/// The contract between stages: one frame a message,
///
///     offset 0  "P" "B"        magic
///     offset 2  version        WireProtocol.version
///     offset 3  kind           see `Kind`
///     offset 4  body           the kind's fields, in the order `encode` writes them
///
/// Where each message travels:
///
///     work socket (selector ROUTER ⇄ worker DEALER)   ready, progress, trained (interrupted),
///                                                     failed, released, goodbye ⇄ welcome,
///                                                     train, evaluators, finished
///     evaluator inlet (trainer PUSH → PULL)           trained
///     selector inlet (evaluator/mutator PUSH → PULL)  [sender routing id] scored, explored, failed
///     mutator inlet (selector PUSH → PULL)            explore
///
/// On the work socket the ROUTER sees `[routing id, frame]`; on the selector's inlet the
/// sender puts its own routing id in front the same way. A frame that fails any check is
/// dropped and counted by the stage that received it; it never stops the stage.
public enum WireProtocol {
    /// Bumped on any change to the layout of any message.
    public static let version: UInt8 = 3
    static let magic: [UInt8] = [0x50, 0x42]  // "PB"
    /// The largest frame a stage accepts, in bytes (checked by the stages, not only by libzmq).
    public static let maximumFrameBytes = 16 << 20

    /// Message kinds: reports (to the selector, or a trainer's result to an evaluator) below
    /// 16, commands (from the selector) from 16.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case ready = 1, progress = 2, trained = 3, scored = 4, explored = 5, failed = 6, goodbye = 7, released = 8
        case welcome = 16, train = 17, explore = 19, finished = 20, evaluators = 21
    }

    static func header(_ kind: Kind) -> WireWriter {
        FrameHeader.write(magic: magic, version: version, kind: kind.rawValue)
    }

    static func open(_ frame: [UInt8]) throws(WireError) -> (Kind, WireReader) {
        let (byte, reader) = try FrameHeader.read(frame, magic: magic, version: version, limit: maximumFrameBytes)
        guard let kind = Kind(rawValue: byte) else { throw .unknownKind(byte) }
        return (kind, reader)
    }

    // MARK: Reports

    /// Encodes a worker's report as one frame.
    public static func encode(_ report: WorkerReport) -> [UInt8] {
        var w: WireWriter
        switch report {
        case .ready(let ready):
            w = header(.ready)
            w.byte(ready.role.rawValue)
            w.count(ready.received)
            w.text(ready.name)
            w.text(ready.experimentID)
            w.text(ready.inlet?.endpoint ?? "")
            w.blob(ready.inlet?.publicKey ?? [])
            w.count(ready.routes)
            w.flag(ready.handed != nil)
            if let handed = ready.handed {
                w.count(handed.member)
                w.count(handed.version)
                w.count(handed.step)
            }
        case .progress(let member, let version, let step):
            w = header(.progress)
            w.count(member)
            w.count(version)
            w.count(step)
        case .trained(let result):
            w = header(.trained)
            w.trained(result)
        case .scored(let result):
            w = header(.scored)
            w.trained(result.trained)
            w.real(result.score)
            w.metrics(result.metrics)
            w.text(result.evaluator)
        case .explored(let result):
            w = header(.explored)
            w.count(result.member)
            w.count(result.version)
            w.hyperparameters(result.hyperparameters)
            w.count(result.changes.count)
            for name in result.changes.keys.sorted() {
                let change = result.changes[name]!
                w.text(name)
                w.value(change.from)
                w.value(change.to)
                switch change.how {
                case .scaled(let factor):
                    w.byte(1)
                    w.real(factor)
                case .noised(let delta):
                    w.byte(2)
                    w.real(delta)
                case .shifted(let by):
                    w.byte(3)
                    w.signed(by)
                case .resampled:
                    w.byte(4)
                case .proposed:
                    w.byte(5)
                }
            }
            w.text(result.mutator)
        case .failed(let member, let version, let reason, let upstream):
            w = header(.failed)
            w.count(member)
            w.count(version)
            w.text(reason)
            w.flag(upstream)
        case .released(let member, let version):
            w = header(.released)
            w.count(member)
            w.count(version)
        case .goodbye:
            w = header(.goodbye)
        }
        return w.bytes
    }

    /// Decodes a worker's report, or says exactly what is wrong with the frame.
    public static func decodeReport(_ frame: [UInt8]) throws(WireError) -> WorkerReport {
        var (kind, r) = try open(frame)
        let report: WorkerReport
        switch kind {
        case .ready:
            let rawRole = try r.byte("role")
            guard let role = WorkerRole(rawValue: rawRole) else {
                throw .invalid(field: "role", reason: "unknown role \(rawRole)")
            }
            let received = try r.count("received")
            let name = try r.text("name", limit: 256)
            let experimentID = try r.text("experiment_id", limit: 256)
            let inlet = try r.text("inlet", limit: 1024)
            let key = try r.publicKey("inlet_key")
            let routes = try r.count("routes")
            var handed: HandedOn?
            if try r.flag("has_handed") {
                handed = HandedOn(
                    member: try r.count("handed.member"), version: try r.count("handed.version"),
                    step: try r.count("handed.step"))
            }
            report = .ready(
                Ready(
                    role: role, received: received, name: name, experimentID: experimentID,
                    inlet: inlet.isEmpty ? nil : PeerEndpoint(endpoint: inlet, publicKey: key), routes: routes,
                    handed: handed))
        case .progress:
            report = .progress(
                member: try r.count("member"), version: try r.count("version"), step: try r.count("step"))
        case .trained:
            report = .trained(try r.trained())
        case .scored:
            let trained = try r.trained()
            report = .scored(
                EvaluateResult(
                    trained: trained, score: try r.real("score"), metrics: try r.metrics(),
                    evaluator: try r.text("evaluator", limit: 256)))
        case .explored:
            let member = try r.count("member")
            let version = try r.count("version")
            let hyperparameters = try r.hyperparameters()
            var changes: [String: ExploreChange] = [:]
            for _ in 0..<(try r.count("changes", limit: WireReader.maximumEntries)) {
                let name = try r.text("changes.name", limit: 1024)
                let from = try r.value("changes.from")
                let to = try r.value("changes.to")
                let how: ExploreChange.How
                switch try r.byte("changes.how") {
                case 1: how = .scaled(try r.real("changes.factor"))
                case 2: how = .noised(try r.real("changes.delta"))
                case 3: how = .shifted(try r.signed("changes.shift"))
                case 4: how = .resampled
                case 5: how = .proposed
                case let other: throw .invalid(field: "changes.how", reason: "unknown operation \(other)")
                }
                changes[name] = ExploreChange(from: from, to: to, how: how)
            }
            report = .explored(
                ExploreResult(
                    member: member, version: version, hyperparameters: hyperparameters, changes: changes,
                    mutator: try r.text("mutator", limit: 256)))
        case .failed:
            report = .failed(
                member: try r.count("member"), version: try r.count("version"),
                reason: try r.text("reason", limit: 64 << 10),
                upstream: try r.flag("upstream"))
        case .released:
            report = .released(member: try r.count("member"), version: try r.count("version"))
        case .goodbye:
            report = .goodbye
        default:
            throw .invalid(field: "kind", reason: "\(kind) is a command, not a report")
        }
        try r.finish()
        return report
    }

    // MARK: Commands

    /// Encodes a command from the selector as one frame.
    public static func encode(_ command: WorkerCommand) -> [UInt8] {
        var w: WireWriter
        switch command {
        case .welcome(let welcome):
            w = header(.welcome)
            w.text(welcome.experimentID)
            w.blob(welcome.experiment)
            w.text(welcome.checkpointDirectory)
            w.text(welcome.inlet)
            w.routes(welcome.evaluators)
            w.text(welcome.store?.endpoint ?? "")
            w.blob(welcome.store?.publicKey ?? [])
            w.text(welcome.storeToken)
        case .train(let task):
            w = header(.train)
            w.count(task.member)
            w.count(task.version)
            w.count(task.step)
            w.count(task.steps)
            w.flag(task.checkpoint != nil)
            if let checkpoint = task.checkpoint { w.text(checkpoint) }
            w.hyperparameters(task.hyperparameters)
            w.fixed64(task.seed)
        case .explore(let task):
            w = header(.explore)
            w.count(task.member)
            w.count(task.version)
            w.count(task.donor)
            w.count(task.step)
            w.text(task.checkpoint)
            w.hyperparameters(task.hyperparameters)
            w.fixed64(task.seed)
        case .evaluators(let routes):
            w = header(.evaluators)
            w.routes(routes)
        case .finished:
            w = header(.finished)
        }
        return w.bytes
    }

    /// Decodes a command from the selector, or says exactly what is wrong with the frame.
    public static func decodeCommand(_ frame: [UInt8]) throws(WireError) -> WorkerCommand {
        var (kind, r) = try open(frame)
        let command: WorkerCommand
        switch kind {
        case .welcome:
            command = .welcome(
                Welcome(
                    experimentID: try r.text("experiment_id", limit: 256), experiment: try r.blob("experiment"),
                    checkpointDirectory: try r.text("checkpoint_directory", limit: 4096),
                    inlet: try r.text("inlet", limit: 1024),
                    evaluators: try r.routes(),
                    store: try r.store(),
                    storeToken: try r.text("store_token", limit: 64)))
        case .train:
            let member = try r.count("member")
            let version = try r.count("version")
            let step = try r.count("step")
            let steps = try r.count("steps")
            let checkpoint = try r.flag("has_checkpoint") ? try r.checkpoint("checkpoint") : nil
            command = .train(
                TrainTask(
                    member: member, version: version, step: step, steps: steps, checkpoint: checkpoint,
                    hyperparameters: try r.hyperparameters(), seed: try r.fixed64("seed")))
        case .explore:
            let member = try r.count("member")
            let version = try r.count("version")
            let donor = try r.count("donor")
            let step = try r.count("step")
            let checkpoint = try r.text("checkpoint", limit: 64)
            if !checkpoint.isEmpty { try WireReader.checkReference(checkpoint, field: "checkpoint") }
            command = .explore(
                ExploreTask(
                    member: member, version: version, donor: donor, step: step, checkpoint: checkpoint,
                    hyperparameters: try r.hyperparameters(), seed: try r.fixed64("seed")))
        case .evaluators:
            command = .evaluators(try r.routes())
        case .finished:
            command = .finished
        default:
            throw .invalid(field: "kind", reason: "\(kind) is a report, not a command")
        }
        try r.finish()
        return command
    }
}

extension WireWriter {
    mutating func value(_ value: HyperparameterValue) {
        switch value {
        case .real(let x):
            byte(1)
            real(x)
        case .integer(let x):
            byte(2)
            signed(x)
        case .text(let x):
            byte(3)
            text(x)
        }
    }

    mutating func hyperparameters(_ hyperparameters: Hyperparameters) {
        count(hyperparameters.count)
        for (name, value) in hyperparameters.sorted {
            text(name)
            self.value(value)
        }
    }

    mutating func trained(_ result: TrainResult) {
        count(result.member)
        count(result.version)
        count(result.fromStep)
        count(result.step)
        text(result.checkpoint)
        hyperparameters(result.hyperparameters)
        metrics(result.metrics)
        real(result.seconds)
        flag(result.interrupted)
        text(result.trainer)
    }

    mutating func routes(_ routes: EvaluatorRoutes) {
        count(routes.generation)
        count(routes.endpoints.count)
        for peer in routes.endpoints {
            text(peer.endpoint)
            blob(peer.publicKey)
        }
    }

    mutating func metrics(_ metrics: [String: Double]) {
        count(metrics.count)
        for name in metrics.keys.sorted() {
            text(name)
            real(metrics[name]!)
        }
    }
}

extension WireReader {
    mutating func value(_ field: String) throws(WireError) -> HyperparameterValue {
        switch try byte(field) {
        case 1: return .real(try real(field))
        case 2: return .integer(try signed(field))
        case 3: return .text(try text(field, limit: 4096))
        case let other: throw .invalid(field: field, reason: "unknown value tag \(other)")
        }
    }

    mutating func hyperparameters() throws(WireError) -> Hyperparameters {
        var values: [String: HyperparameterValue] = [:]
        for _ in 0..<(try count("hyperparameters", limit: 10_000)) {
            let name = try text("hyperparameters.name", limit: 1024)
            guard !name.isEmpty else { throw .invalid(field: "hyperparameters.name", reason: "empty name") }
            guard values[name] == nil else { throw .invalid(field: "hyperparameters.\(name)", reason: "appears twice") }
            values[name] = try value("hyperparameters.\(name)")
        }
        return Hyperparameters(values)
    }

    /// Metrics may hold NaN or infinities (a diverged loss is worth reporting).
    mutating func metrics() throws(WireError) -> [String: Double] {
        var values: [String: Double] = [:]
        for _ in 0..<(try count("metrics", limit: 10_000)) {
            let name = try text("metrics.name", limit: 1024)
            values[name] = try real("metrics.\(name)", finite: false)
        }
        return values
    }

    /// A checkpoint reference: a sha256 in lowercase hex, so it can never name a path.
    mutating func checkpoint(_ field: String) throws(WireError) -> String {
        let reference = try text(field, limit: 64)
        try Self.checkReference(reference, field: field)
        return reference
    }

    static func checkReference(_ reference: String, field: String) throws(WireError) {
        guard reference.utf8.count == 64,
            reference.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw .invalid(field: field, reason: "not a sha256 reference: '\(reference.prefix(80))'")
        }
    }

    /// A CURVE public key: 32 bytes, or none.
    mutating func publicKey(_ field: String) throws(WireError) -> [UInt8] {
        let key = try blob(field, limit: 32)
        guard key.isEmpty || key.count == 32 else {
            throw .invalid(field: field, reason: "\(key.count) bytes, a key has 32")
        }
        return key
    }

    /// A duration: finite and not negative.
    mutating func duration(_ field: String) throws(WireError) -> Double {
        let value = try real(field)
        guard value >= 0 else { throw .invalid(field: field, reason: "\(value) is negative: a duration cannot be") }
        return value
    }

    mutating func trained() throws(WireError) -> TrainResult {
        TrainResult(
            member: try count("member"), version: try count("version"), fromStep: try count("from_step"),
            step: try count("step"),
            checkpoint: try checkpoint("checkpoint"), hyperparameters: try hyperparameters(), metrics: try metrics(),
            seconds: try duration("seconds"), interrupted: try flag("interrupted"),
            trainer: try text("trainer", limit: 256)
        )
    }

    /// The checkpoint service of a `welcome`: an endpoint and a key, or nothing (an empty endpoint).
    mutating func store() throws(WireError) -> PeerEndpoint? {
        let endpoint = try text("store", limit: 1024)
        let key = try publicKey("store.key")
        return endpoint.isEmpty ? nil : PeerEndpoint(endpoint: endpoint, publicKey: key)
    }

    mutating func routes() throws(WireError) -> EvaluatorRoutes {
        let generation = try count("routes.generation")
        var endpoints: [PeerEndpoint] = []
        for _ in 0..<(try count("routes.count", limit: 4096)) {
            endpoints.append(
                PeerEndpoint(endpoint: try text("routes.endpoint", limit: 1024), publicKey: try publicKey("routes.key"))
            )
        }
        return EvaluatorRoutes(generation: generation, endpoints: endpoints)
    }
}
