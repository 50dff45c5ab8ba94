import PBTSystem
import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTStore
import PBTWire
import PBTWorkloads
import ZeroMQ

/// A trainer, evaluator or mutator: connects a DEALER to the selector's work endpoint and
/// does one task at a time (an instant evaluator or mutator may be sent a few; they wait in
/// the socket and are done in order).
///
///     ready ──▶ selector          (when idle; again every heartbeat while idle)
///     ◀── welcome                 (the experiment, the first time)
///     ◀── train/evaluate/explore
///     progress ──▶ …              (every heartbeat during a long task: extends the lease)
///     trained/scored/explored ──▶ (the result; the worker is idle again)
///     ◀── finished                (the experiment is over: exit)
///
/// SIGTERM: a task in progress stops at the next step boundary, its partial result (or the
/// untouched member) goes back to the selector, then the worker says goodbye and exits.
public final class WorkerStage {
    public struct Options: Sendable {
        public var role: WorkerRole
        /// The selector's work endpoint.
        public var connect: String
        /// The event proxy's publisher endpoint, or nil.
        public var events: String?
        public var name: String
        /// Where checkpoints are, when not where the selector says (a volume mounted elsewhere).
        public var checkpoints: String?
        /// Seconds between `ready` repeats while idle and `progress` reports while busy.
        public var heartbeat: Double
        /// Serve the next experiment instead of exiting when one finishes.
        public var keepRunning: Bool
        /// The event proxy's subscriber endpoint: a mutator running PB2 learns from the stream.
        public var eventsSubscribe: String?
        /// CURVE: connect to the selector and the proxy as a client with these keys.
        public var security: CurveSecurity? = nil
        /// The programs (argv[0] as the experiment writes it) a `command` workload sent by the
        /// selector may run; `*` allows any. Empty: this worker runs no command workload.
        public var allowedCommands: [String] = ["*"]

        public init(
            role: WorkerRole, connect: String, events: String?, name: String, checkpoints: String? = nil, heartbeat: Double = 1,
            keepRunning: Bool = false, eventsSubscribe: String? = nil
        ) {
            self.eventsSubscribe = eventsSubscribe
            self.role = role
            self.connect = connect
            self.events = events
            self.name = name
            self.checkpoints = checkpoints
            self.heartbeat = heartbeat
            self.keepRunning = keepRunning
        }
    }

    private let options: Options
    private let logger: Logger
    private var dealer: ZMQSocket!
    private var publisher: EventPublisher!
    private let drops: DropCounter
    private var experimentID = ""
    private var handler: (any TaskHandler)?
    private var received = 0
    private var tasksDone = 0
    /// A trainer's seconds from sending a result to receiving its next task, for `pbt bench
    /// pipeline` (written to `$PBT_TURNAROUND_LOG_DIR/NAME.turnaround` at exit when that is
    /// set). Only trainers keep them: an evaluator's wait between tasks includes a training step.
    private var turnarounds: [Double] = []
    private var resultSentAt: Double?
    /// The event stream, for a mutator that learns from it (PB2).
    private var stream: ZMQSocket?
    private var learner: PB2Learner?
    /// Say why a handshake fails, and connect again after a refusal.
    private var keepers: [ConnectionKeeper] = []
    private var context: ZMQContext!

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        drops = DropCounter(stage: "\(options.role)", worker: options.name)
    }

    /// Runs until the experiment finishes (0), a signal stops it (128 + signal), or the
    /// experiment cannot be served by this build (2).
    public func run() throws -> Int32 {
        let context = try ZMQContext()
        dealer = try ZMQSocket(context, .dealer, linger: 500)
        try dealer.setReconnect(intervalMilliseconds: 100, maximumMilliseconds: 1000)
        try dealer.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try dealer.setHeartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 5000, ttlMilliseconds: 5000)
        // A routing id of our own that survives reconnection: after a selector restart, the
        // result of a task leased before it still comes from the worker holding the lease.
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try dealer.setRoutingID(Array("\(options.name.prefix(200))#\(suffix)".utf8))
        keepers.append(try dealer.connect(options.connect, peer: "the selector", security: options.security, context: context, logger: logger))
        publisher = try EventPublisher(context: context, endpoint: options.events, security: options.security, logger: logger)
        self.context = context
        logger.info("\(options.role) connecting", metadata: ["pbt.endpoint": "\(options.connect)", "pbt.worker": "\(options.name)"])
        publisher.publish(.stageStarted(stage: "\(options.role)", worker: options.name, pid: Int(getpid())))

        var exitCode: Int32 = 0
        var lastSent = -Double.infinity
        loop: while !StopSignal.isRequested {
            for keeper in keepers { keeper.check() }
            let now = Clock.monotonic
            if now - lastSent >= options.heartbeat {
                send(.ready(role: options.role, received: received, name: options.name, experimentID: experimentID))
                lastSent = now
            }
            guard let frames = try receive(timeoutMilliseconds: Int(options.heartbeat * 1000)) else { continue }
            guard frames.count == 1 else {
                drop(reason: "wrong_frame_count", detail: "\(frames.count) frames")
                continue
            }
            let command: WorkerCommand
            do {
                command = try WireProtocol.decodeCommand(frames[0])
            } catch {
                drop(reason: error.reason, detail: "\(error)")
                continue
            }
            switch command {
            case .welcome(let id, let bytes, let directory):
                // A worker that waited for its selector queued a ready a heartbeat; each earns a
                // welcome. Setting up once is enough.
                if id == experimentID && handler != nil { continue }
                do {
                    try serve(experimentID: id, source: bytes, checkpoints: options.checkpoints ?? directory)
                } catch {
                    logger.critical("cannot serve experiment \(id): \(error)")
                    publisher.publish(.stageStopped(stage: "\(options.role)", worker: options.name, reason: "cannot serve experiment: \(error)"))
                    exitCode = 2
                    break loop
                }
                lastSent = -Double.infinity
            case .train, .evaluate, .explore:
                if options.role == .trainer, let sentAt = resultSentAt {
                    turnarounds.append(Clock.monotonic - sentAt)
                    resultSentAt = nil
                }
                received += 1
                let report = work(command)
                send(report)
                tasksDone += 1
                lastSent = Clock.monotonic
                resultSentAt = lastSent
            case .finished:
                logger.info("experiment finished; \(tasksDone) tasks done here")
                if !options.keepRunning { break loop }
                experimentID = ""
                handler = nil
                lastSent = -Double.infinity
            }
        }
        if let signal = StopSignal.received {
            exitCode = 128 + signal
            logger.notice("\(options.role) stopping on signal \(signal)")
        }
        send(.goodbye)
        if let directory = ProcessInfo.processInfo.environment["PBT_TURNAROUND_LOG_DIR"], !turnarounds.isEmpty {
            try? turnarounds.map { String($0) }.joined(separator: "\n").write(toFile: "\(directory)/\(options.name).turnaround", atomically: true, encoding: .utf8)
        }
        publisher.publish(.stageStopped(stage: "\(options.role)", worker: options.name, reason: exitCode == 0 ? "experiment finished" : "exit \(exitCode)"))
        return exitCode
    }

    /// Waits for a command from the selector, meanwhile learning from the event stream.
    private func receive(timeoutMilliseconds: Int) throws -> [[UInt8]]? {
        guard let stream else { return try dealer.receive(timeoutMilliseconds: timeoutMilliseconds) }
        let readable = try ZMQPoll.readable([dealer, stream], timeoutMilliseconds: timeoutMilliseconds)
        if readable[1] {
            var drained = 0
            while drained < 10_000, let event = try stream.receive(dontWait: true) {
                drained += 1
                learner?.learn(from: event)
            }
        }
        return readable[0] ? try dealer.receive(dontWait: true) : nil
    }

    private func serve(experimentID: String, source: [UInt8], checkpoints: String) throws {
        guard let text = String(validating: source, as: UTF8.self) else { throw WorkloadError("the experiment is not UTF-8 text") }
        let experiment = try Experiment.parse(yaml: text)
        if experiment.workload.kind == "command", options.role == .trainer || experiment.evaluation == .checkpoint {
            try checkCommandAllowed(experiment)
        }
        switch options.role {
        case .trainer:
            handler = TrainerHandler(workload: try Workloads.make(for: experiment), store: try CheckpointStore(directory: checkpoints))
        case .evaluator:
            var evaluator = EvaluatorHandler(metric: experiment.metric, objective: experiment.objective)
            if experiment.evaluation == .checkpoint {
                evaluator.checkpointEvaluation = (try Workloads.make(for: experiment), try CheckpointStore(directory: checkpoints))
            }
            handler = evaluator
        case .mutator:
            if case .pb2(let points, let beta, let decay) = experiment.explore {
                // Only a PB2 mutator reads the stream: subscribing otherwise would pull two events
                // a step through the proxy for nothing.
                if stream == nil, let endpoint = options.eventsSubscribe {
                    let socket = try ZMQSocket(context, .sub)
                    try socket.setReceiveHighWaterMark(100_000)
                    for topic in PB2Learner.topics { try socket.subscribe(Array(topic.utf8)) }
                    keepers.append(try socket.connect(endpoint, peer: "the event proxy", security: options.security, context: context, logger: logger))
                    stream = socket
                }
                if stream == nil {
                    logger.warning("PB2 learns from the event stream, but this mutator has no --events-subscribe endpoint; it explores by perturbation until it has data")
                }
                let learner = PB2Learner(
                    model: PB2Model(space: experiment.space, capacity: points, beta: beta, timeDecay: decay),
                    objective: experiment.objective, interval: experiment.interval)
                self.learner = learner
                handler = PB2Handler(learner: learner)
            } else {
                handler = MutatorHandler(strategy: experiment.explore, space: experiment.space)
            }
        }
        self.experimentID = experimentID
        logger.info("serving experiment", metadata: ["pbt.experiment": "\(experiment.name)", "pbt.checkpoints": "\(checkpoints)"])
    }

    /// A `command` workload runs a program the selector names: only the programs this worker
    /// was told to allow, so that whoever can pose as the selector cannot run anything here.
    private func checkCommandAllowed(_ experiment: Experiment) throws {
        let argv = (try? experiment.workload.settings["command"]?.list().map { try $0.text() }) ?? []
        let program = argv.first ?? ""
        if options.allowedCommands.contains("*") || options.allowedCommands.contains(program) { return }
        let shown = "[" + argv.prefix(4).joined(separator: ", ") + (argv.count > 4 ? ", …" : "") + "]"
        throw WorkloadError(
            "this \(options.role) runs no command workload it is sent unless allowed: the experiment runs \(shown); "
                + "start it with --allow-command \(program.isEmpty ? "PROGRAM" : program) (env PBT_ALLOW_COMMANDS) if you trust whoever runs the selector")
    }

    private func work(_ command: WorkerCommand) -> WorkerReport {
        guard let handler else {
            return .failed(member: command.member ?? 0, version: command.version ?? 0, reason: "\(options.name) has no experiment yet")
        }
        var lastProgress = Clock.monotonic
        return handler.handle(command) { done in
            let now = Clock.monotonic
            if now - lastProgress >= options.heartbeat, let member = command.member, let version = command.version {
                send(.progress(member: member, version: version, step: (command.step ?? 0) + done))
                lastProgress = now
            }
            return !StopSignal.isRequested
        }
    }

    private func send(_ report: WorkerReport) {
        do {
            try dealer.send([WireProtocol.encode(report)], dontWait: true)
        } catch {
            if case .ready = report {
                logger.debug("could not send ready to the selector: \(error)")  // repeated every heartbeat anyway
            } else {
                logger.warning("could not send to the selector: \(error)")
            }
        }
    }

    private func drop(reason: String, detail: String) {
        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) { publisher.publish(event) }
    }
}

extension WorkerCommand {
    var member: Int? {
        switch self {
        case .train(let task): task.member
        case .evaluate(let task): task.member
        case .explore(let task): task.member
        default: nil
        }
    }

    var version: Int? {
        switch self {
        case .train(let task): task.version
        case .evaluate(let task): task.version
        case .explore(let task): task.version
        default: nil
        }
    }

    var step: Int? {
        switch self {
        case .train(let task): task.step
        case .evaluate(let task): task.step
        case .explore(let task): task.step
        default: nil
        }
    }
}
