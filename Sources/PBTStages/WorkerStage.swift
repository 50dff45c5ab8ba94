import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTSecurity
import PBTStageLoop
import PBTStore
import PBTSystem
import PBTWire
import PBTWorkloads
import ZeroMQ

/// A trainer, evaluator or mutator: one stage a process, through which members flow.
///
///     trainer:    DEALER ⇄ selector (work)      ready (credit, "handed m/v on") ▶ ◀ train
///                 PUSH ──▶ every evaluator inlet    trained
///     evaluator:  PULL inlet (binds) ◀── trainers   trained
///                 PUSH ──▶ selector inlet           scored / failed
///                 DEALER ⇄ selector (work)          ready (heartbeat, its inlet) ▶ ◀ welcome
///     mutator:    PULL inlet (binds) ◀── selector   explore
///                 PUSH ──▶ selector inlet           explored / failed
///                 DEALER ⇄ selector (work)          ready (heartbeat, its inlet) ▶ ◀ welcome
///
/// Every worker heartbeats on its DEALER (`ready` while idle, `progress` while busy) and gets
/// the experiment in a `welcome`. Long tasks run on a work thread; the loop keeps its sockets.
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
        /// Where checkpoints are, when not where the selector says: the selector's directory
        /// mounted elsewhere, or (when it is not the selector's) this worker's cache of
        /// checkpoints fetched from the checkpoint service.
        public var checkpoints: String?
        /// Bytes the cache of fetched checkpoints holds at most (least recently used go first).
        public var cacheBytes: Int64 = 4 << 30
        /// Seconds between heartbeats (`ready` while idle, `progress` while busy).
        public var heartbeat: Double
        /// Serve the next experiment instead of exiting when one finishes.
        public var keepRunning: Bool
        /// The event proxy's subscriber endpoint: a mutator running PB2 learns from the stream.
        public var eventsSubscribe: String?
        /// CURVE: connect as a client with these keys (and, for an evaluator's or a mutator's
        /// inlet, serve with them).
        public var security: CurveSecurity? = nil
        /// The programs (argv[0] as the experiment writes it) a `command` workload sent by the
        /// selector may run; `*` allows any. Empty: this worker runs no command workload.
        public var allowedCommands: [String] = ["*"]
        /// Evaluators and mutators: where to bind the inlet (`tcp://*:5560`, `ipc://…`).
        public var bind: String = "tcp://*:*"
        /// Evaluators and mutators: the inlet's address as others reach it, when the bound one
        /// is not (a wildcard host is filled in by the selector with the address it sees).
        public var advertise: String?
        /// The thread budget this worker was given (`--threads`, `PBT_THREADS`; `pbt run` gives
        /// its share of the cores); the experiment's `resources.threads` wins when it is not auto.
        public var threads: ResourceSettings.Threads?
        /// The GPU devices this worker's programs get (`--gpus`, `PBT_GPUS`), or nil.
        public var devices: [String]?
        /// Where a command workload's program writes its stderr (appended to), or nil for this
        /// worker's own stderr: a worker that is a thread of `pbt run --in-process` names its log.
        public var programLog: String? = nil
        /// What a command workload's program is started through so that it dies with this
        /// worker (`ProgramLauncher.prefix`; the `pbt` commands set it), or nil to start it directly.
        public var programLauncher: [String]? = nil
        /// The ZeroMQ context to make sockets in: a run whose stages share one process passes
        /// its own (inproc:// endpoints reach only sockets of the same context); nil: a new one.
        public var context: ZMQContext? = nil
        /// Stops this stage alone, besides the process's SIGTERM and SIGINT (a run whose stages
        /// share one process stops them one at a time).
        public var stop = StageStop()

        public init(
            role: WorkerRole, connect: String, events: String?, name: String, checkpoints: String? = nil,
            heartbeat: Double = StageTiming.heartbeat, keepRunning: Bool = false, eventsSubscribe: String? = nil
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

    /// Told each trainer turnaround: seconds from handing a result on to receiving the next
    /// task (`pbt bench pipeline` installs it; nothing else does).
    public var turnaroundObserver: ((Double) -> Void)?

    private let options: Options
    private let logger: Logger
    private let drops: DropCounter
    private let routingID: [UInt8]
    private var context: ZMQContext?
    private var experimentID = ""
    private var handler: (any TaskHandler)?
    /// Tasks received from the selector (trainers), so a stale `ready` can be told apart.
    private var received = 0
    private var tasksDone = 0
    /// The evaluators' inlets this trainer pushes to.
    private var routes = EvaluatorRoutes(generation: 0, endpoints: [])
    /// The member whose result was just pushed on, said in the next `ready`.
    private var handed: HandedOn?
    /// The task running on the work thread, or nil, and since when.
    private var running: WorkerTask?
    /// Tasks read from the inlet while one was in hand (a turn reads every message waiting):
    /// they start in order as the work thread frees up. The inlet is not read while any wait.
    private var waiting: [WorkerTask] = []
    private var runningSince: Double?
    /// How long the last long-running kind of task took (a trainer's training): under
    /// `StageTiming.quickTask`, the next runs on the loop's thread.
    private var lastTaskSeconds: Double?
    /// A result that could not be pushed yet (no peer connected), with its task.
    private var unpushed: (frames: [[UInt8]], task: WorkerTask)?
    private var lastHeartbeat = -Double.infinity
    private var lastHandshakeCheck = -Double.infinity
    private var resultSentAt: Double?
    private var stopping: Int32?
    private var exitCode: Int32 = 0
    /// Why the stage stops, when not the usual (said once, in `stage.stopped`).
    private var stopReason: String?
    private var learner: PB2Learner?
    private var keepers: [ConnectionKeeper] = []

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        drops = DropCounter(stage: "\(options.role)", worker: options.name)
        // A routing id of our own that survives reconnection: after a selector restart, the
        // result of a task leased before it still comes from the worker holding the lease.
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        routingID = Array(options.name.utf8.prefix(200)) + Array("#\(suffix)".utf8)
    }

    /// The sockets this stage owns, made on its thread in `run`.
    private struct Sockets {
        let dealer: ZMQSocket
        let publisher: EventPublisher
        /// Trainers: to the evaluators' inlets. Evaluators and mutators: to the selector's inlet.
        let push: ZMQSocket
        /// Evaluators and mutators: their bound inlet.
        let inlet: ZMQSocket?
        let inletEndpoint: PeerEndpoint?
        let work: WorkThread
        /// A PB2 mutator's subscription to the event stream, once it has one.
        var stream: ZMQSocket?
        /// The selector's inlet the push socket is connected to (evaluators, mutators).
        var selectorInlet: String?
    }

    /// Runs until the experiment finishes (0), a signal stops it (128 + signal), or the
    /// experiment cannot be served by this build (2).
    public func run() throws -> Int32 {
        let context = try options.context ?? ZMQContext()
        self.context = context
        var sockets = try open(context)
        logger.info(
            "\(options.role) connecting",
            metadata: [
                "pbt.endpoint": "\(options.connect)", "pbt.worker": "\(options.name)",
                "pbt.inlet": "\(sockets.inletEndpoint?.endpoint ?? "-")",
            ])
        sockets.publisher.publish(.stageStarted(stage: "\(options.role)", worker: options.name, pid: Int(getpid())))
        try StageLoop.run(sockets: { polled(sockets) }, stop: options.stop) { input in
            switch input {
            case .message(let socket, let frames):
                if socket === sockets.dealer { return try fromSelector(frames, &sockets) }
                if socket === sockets.inlet { take(frames, &sockets) }
                if socket === sockets.work.done { finishRunning(&sockets) }
                if socket === sockets.stream { learner?.learn(from: frames) }
                return true
            case .turn(let now):
                if now - lastHandshakeCheck >= StageTiming.handshakeCheck {
                    lastHandshakeCheck = now
                    for keeper in keepers { keeper.check() }
                    sockets.publisher.maintain()
                }
                for event in serverSecurity?.takeEvents(now: now) ?? [] { sockets.publisher.publish(event) }
                if let unpushed, push(unpushed.frames, on: sockets.push) {
                    self.unpushed = nil
                    handedOn(unpushed.task, &sockets)
                }
                startWaiting(&sockets)
                if now - lastHeartbeat >= options.heartbeat { heartbeat(sockets) }
                // Stopping: the running task ends at its next step boundary and is handed back first.
                return stopping == nil || running != nil
            case .stop(let signal):
                stopping = signal
                logger.notice("\(options.role) stopping on signal \(signal)")
                sockets.work.requestStop()
                return running != nil
            }
        }
        if let signal = stopping { exitCode = 128 + signal }
        send(.goodbye, on: sockets.dealer)
        // A task still running (the experiment ended under it) stops at its next step boundary.
        sockets.work.requestStop()
        if !sockets.work.end(waitingAtMost: StageTiming.workThreadEnd) {
            logger.warning("the work thread did not end within \(StageTiming.workThreadEnd) s; leaving it")
        }
        // The workload goes, here rather than while the process exits: a command workload stops
        // its program and waits for it, so nothing it started outlives the worker (and its CPU
        // time is counted to this process tree), and removes its scratch directory.
        handler = nil
        serverSecurity?.stop()
        let reason = stopReason ?? (exitCode == 0 ? "experiment finished" : "exit \(exitCode)")
        sockets.publisher.publish(.stageStopped(stage: "\(options.role)", worker: options.name, reason: reason))
        return exitCode
    }

    private func open(_ context: ZMQContext) throws -> Sockets {
        let dealer = try ZMQSocket(context, .dealer, linger: StageTiming.lingerMilliseconds)
        try dealer.setReconnect(
            intervalMilliseconds: StageTiming.reconnectMilliseconds,
            maximumMilliseconds: StageTiming.reconnectMaximumMilliseconds)
        try dealer.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try dealer.setHeartbeat(
            intervalMilliseconds: StageTiming.connectionPingMilliseconds,
            timeoutMilliseconds: StageTiming.connectionTimeoutMilliseconds,
            ttlMilliseconds: StageTiming.connectionTimeoutMilliseconds)
        try dealer.setRoutingID(routingID)
        keepers.append(
            try dealer.connect(
                options.connect, peer: "the selector", security: options.security, context: context, logger: logger))
        let publisher = try EventPublisher(
            context: context, endpoint: options.events, security: options.security, logger: logger)

        let push = try ZMQSocket(context, .push, linger: StageTiming.lingerMilliseconds)
        // Only to inlets whose connection is up: a result never waits in the queue of an
        // evaluator that is not there (it waits here, and the lease goes on).
        try push.setImmediate(true)
        try push.setSendHighWaterMark(StageTiming.highWaterMark)
        try push.setReconnect(
            intervalMilliseconds: StageTiming.reconnectMilliseconds,
            maximumMilliseconds: StageTiming.reconnectMaximumMilliseconds)
        if let security = options.security { try push.secureClient(security) }
        let pushKeeper = try push.inletKeeper(context, logger: logger)
        keepers.append(pushKeeper)
        self.pushKeeper = pushKeeper

        var inlet: ZMQSocket?
        var inletEndpoint: PeerEndpoint?
        if options.role != .trainer {
            let pull = try ZMQSocket(context, .pull, linger: 0)
            try pull.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
            try pull.setReceiveHighWaterMark(StageTiming.highWaterMark)
            if let security = options.security {
                let server = try ServerSecurity(security, context: context, stage: "\(options.role)", logger: logger)
                serverSecurity = server
                try server.secure(pull)
            }
            try pull.bind(options.bind, option: "--inlet-bind")
            inlet = pull
            let bound = try pull.lastEndpoint
            inletEndpoint = PeerEndpoint(
                endpoint: options.advertise ?? bound, publicKey: options.security?.keyPair.publicKey ?? [])
        }
        return Sockets(
            dealer: dealer, publisher: publisher, push: push, inlet: inlet, inletEndpoint: inletEndpoint,
            work: try WorkThread(context: context))
    }

    private var serverSecurity: ServerSecurity?
    /// Keeps the push socket's connections (to the evaluators' inlets, or to the selector's).
    private var pushKeeper: ConnectionKeeper?

    /// What the loop polls: the selector, the work thread, and the inlet only while the stage
    /// can take a task (so that what it cannot take waits in the socket's queue).
    private func polled(_ sockets: Sockets) -> [ZMQSocket] {
        var polled = [sockets.dealer, sockets.work.done]
        if let inlet = sockets.inlet, handler != nil, running == nil, unpushed == nil, stopping == nil, waiting.isEmpty
        {
            polled.append(inlet)
        }
        if let stream = sockets.stream { polled.append(stream) }
        return polled
    }

    // MARK: From the selector

    private func fromSelector(_ frames: [[UInt8]], _ sockets: inout Sockets) throws -> Bool {
        guard frames.count == 1 else {
            drop(reason: "wrong_frame_count", detail: "\(frames.count) frames from the selector", sockets)
            return true
        }
        let command: WorkerCommand
        do {
            command = try WireProtocol.decodeCommand(frames[0])
        } catch {
            drop(reason: error.reason, detail: "\(error)", sockets)
            return true
        }
        switch command {
        case .welcome(let welcome):
            // A worker that waited for its selector queued a ready a heartbeat; each earns a
            // welcome. Setting up once is enough.
            if welcome.experimentID == experimentID && handler != nil { return true }
            do {
                try serve(welcome, &sockets)
            } catch {
                logger.critical("cannot serve experiment \(welcome.experimentID): \(error)")
                stopReason = "cannot serve experiment: \(error)"
                exitCode = 2
                return false
            }
            heartbeat(sockets)
        case .train(let task):
            guard options.role == .trainer else {
                drop(reason: "wrong_kind", detail: "a train task sent to a \(options.role)", sockets)
                return true
            }
            if let sentAt = resultSentAt {
                turnaroundObserver?(Clock.monotonic - sentAt)
                resultSentAt = nil
            }
            received += 1
            logger.debug(
                "train task",
                metadata: [
                    "pbt.member.id": "\(task.member)", "pbt.member.version": "\(task.version)",
                    "pbt.received": "\(received)",
                ])
            guard let handler, running == nil, unpushed == nil, stopping == nil else {
                let reason = handler == nil ? "\(options.name) has no experiment yet" : "\(options.name) is busy"
                send(.failed(member: task.member, version: task.version, reason: reason), on: sockets.dealer)
                return true
            }
            start(.train(task), handler: handler, &sockets)
        case .evaluators(let routes):
            if options.role == .trainer { connect(routes, sockets) }
        case .explore:
            drop(
                reason: "wrong_kind", detail: "an explore task on the work socket (it goes to a mutator's inlet)",
                sockets)
        case .finished:
            logger.info("experiment finished; \(tasksDone) tasks done here")
            if !options.keepRunning || stopping != nil { return false }
            experimentID = ""
            handler = nil
            waiting = []
            lastHeartbeat = -Double.infinity
        }
        return true
    }

    private func serve(_ welcome: Welcome, _ sockets: inout Sockets) throws {
        guard let text = String(validating: welcome.experiment, as: UTF8.self) else {
            throw WorkloadError("the experiment is not UTF-8 text")
        }
        let experiment = try Experiment.parse(yaml: text)
        if experiment.workload.kind == "command",
            options.role == .trainer || (options.role == .evaluator && experiment.evaluation == .checkpoint)
        {
            try checkCommandAllowed(experiment)
        }
        let resources = options.role == .mutator ? nil : trainingResources(for: experiment)
        var checkpoints = ""
        switch options.role {
        case .trainer:
            let access = try checkpointAccess(experiment.checkpointTransport, welcome)
            checkpoints = access.description
            handler = TrainerHandler(
                workload: try Workloads.make(for: experiment, resources: resources), store: access, name: options.name)
            connect(welcome.evaluators, sockets)
        case .evaluator:
            let access = try checkpointAccess(experiment.checkpointTransport, welcome)
            checkpoints = access.description
            handler = EvaluatorHandler(
                metric: experiment.metric, objective: experiment.objective, store: access, name: options.name,
                workload: experiment.evaluation == .checkpoint
                    ? try Workloads.make(for: experiment, resources: resources) : nil)
        case .mutator:
            if case .pb2(let points, let beta, let decay) = experiment.explore {
                // Only a PB2 mutator reads the stream: subscribing otherwise would pull two events
                // a step through the proxy for nothing.
                if sockets.stream == nil, let endpoint = options.eventsSubscribe, let context {
                    let socket = try ZMQSocket(context, .sub)
                    try socket.setReceiveHighWaterMark(StageTiming.highWaterMark)
                    for topic in PB2Learner.topics { try socket.subscribe(topic.bytes) }
                    keepers.append(
                        try socket.connect(
                            endpoint, peer: "the event proxy", security: options.security, context: context,
                            logger: logger))
                    sockets.stream = socket
                }
                if sockets.stream == nil {
                    logger.warning(
                        "PB2 learns from the event stream, but this mutator has no --events-subscribe endpoint; it explores by perturbation until it has data"
                    )
                }
                let learner = PB2Learner(
                    model: PB2Model(space: experiment.space, capacity: points, beta: beta, timeDecay: decay),
                    objective: experiment.objective, interval: experiment.interval)
                self.learner = learner
                handler = PB2Handler(learner: learner, name: options.name)
            } else {
                handler = MutatorHandler(strategy: experiment.explore, space: experiment.space, name: options.name)
            }
        }
        if options.role != .trainer {
            // The selector's inlet: a wildcard host is the host this worker reached the selector at.
            let inlet = EndpointAddress.replacingWildcardHost(
                in: welcome.inlet, with: EndpointAddress.host(of: options.connect) ?? "")
            if inlet != sockets.selectorInlet {
                if let old = sockets.selectorInlet { sockets.push.disconnect(fromInlet: old, keeper: pushKeeper) }
                pushKeeper?.add(inlet, peer: "the selector's inlet", curve: options.security)
                try sockets.push.connect(inlet)
                sockets.selectorInlet = inlet
            }
        }
        experimentID = welcome.experimentID
        logger.info(
            "serving experiment",
            metadata: checkpoints.isEmpty
                ? ["pbt.experiment": "\(experiment.name)"]
                : ["pbt.experiment": "\(experiment.name)", "pbt.checkpoints": "\(checkpoints)"])
    }

    /// Where this worker reads and writes checkpoints: the selector's directory when this worker
    /// sees it (its token is there: the same disk, perhaps mounted elsewhere), else the
    /// checkpoint service, with the local directory as a cache.
    private func checkpointAccess(_ transport: CheckpointTransport, _ welcome: Welcome) throws -> CheckpointAccess {
        let directory = options.checkpoints ?? welcome.checkpointDirectory
        let sharesDisk = CheckpointStore.directory(directory, holdsToken: welcome.storeToken)
        if transport == .shared || (transport == .auto && sharesDisk) {
            guard sharesDisk else {
                throw WorkloadError(
                    "checkpoints.transport is shared, but \(directory) is not the selector's checkpoint directory (it holds no .pbt-store with this run's token): mount the selector's directory there, or give --checkpoints where it is mounted, or use transport auto"
                )
            }
            return CheckpointAccess(shared: try CheckpointStore(directory: directory))
        }
        guard let service = welcome.store, let context else {
            throw WorkloadError(
                "\(directory) is not the selector's checkpoint directory, and the selector offers no checkpoint service"
            )
        }
        // A wildcard host is the host this worker reached the selector at.
        let endpoint = EndpointAddress.replacingWildcardHost(
            in: service.endpoint, with: EndpointAddress.host(of: options.connect) ?? "")
        var security = options.security
        if service.publicKey.count == 32 { security?.serverKey = service.publicKey }
        // The cache: the directory given, else one of this worker's own in the temporary
        // directory. One worker a cache: a worker trims its cache to its size and may delete
        // any file but the one it is using, which must not be another worker's.
        let cache =
            options.checkpoints
            ?? NSTemporaryDirectory() + "pbt-checkpoint-cache-\(getuid())/"
            + InletAddress.fileSafe(options.name, limit: 100)
        if FileManager.default.fileExists(atPath: cache + "/" + CheckpointStore.tokenFile) {
            // A selector's store (another run's, or this run's seen through a stale token):
            // trimming it as a cache would delete checkpoints that run holds.
            throw WorkloadError(
                "\(cache) is a selector's checkpoint directory (it holds \(CheckpointStore.tokenFile)), but not this run's, so this worker would use it as its cache of fetched checkpoints and trim it: give --checkpoints (PBT_CHECKPOINTS) a directory of its own for the cache"
            )
        }
        let store = try CheckpointStore(directory: cache)
        // What a fetch of an earlier process of this worker left half done.
        store.clearIncoming()
        let client = CheckpointServiceClient(endpoint: endpoint, context: context, security: security, logger: logger)
        logger.info("checkpoints over ZeroMQ from \(endpoint); cache \(cache), at most \(options.cacheBytes >> 20) MiB")
        return CheckpointAccess(service: client, cache: store, cacheBytes: options.cacheBytes)
    }

    /// Points the trainer's PUSH at exactly the evaluators' inlets in `routes`.
    private func connect(_ new: EvaluatorRoutes, _ sockets: Sockets) {
        let old = Set(routes.endpoints.map(\.endpoint))
        let wanted = Set(new.endpoints.map(\.endpoint))
        for endpoint in old.subtracting(wanted) { sockets.push.disconnect(fromInlet: endpoint, keeper: pushKeeper) }
        for peer in new.endpoints where !old.contains(peer.endpoint) {
            sockets.push.connect(
                toInlet: peer, of: "evaluator", security: options.security, keeper: pushKeeper, logger: logger)
        }
        if new.endpoints.isEmpty { logger.info("no evaluator yet: trained members wait here until one is there") }
        routes = new
    }

    /// What this worker's training may use: the thread budget (the experiment's, else the one
    /// given, else the cgroup's CPU quota, else the cores) and the GPU devices given. Logged
    /// once an experiment, with where the figure came from.
    private func trainingResources(for experiment: Experiment) -> TrainingResources {
        let budget = ThreadBudget.resolve(
            experiment: experiment.resources.threads, given: options.threads, quota: CPUQuota.current(),
            cores: Cores.available)
        let threads =
            budget.map { "\($0.threads) thread\($0.threads == 1 ? "" : "s") (\($0.source))" }
            ?? "inherited from the environment"
        let devices =
            options.devices.map { "GPU devices \($0.joined(separator: ","))" }
            ?? (experiment.resources.gpus > 0
                ? "no GPU devices given (--gpus, PBT_GPUS): CUDA_VISIBLE_DEVICES is left as it is" : nil)
        logger.info("resources: \(threads)\(devices.map { "; " + $0 } ?? "")")
        return TrainingResources(
            budget: budget, devices: options.devices, errorLog: options.programLog, launcher: options.programLauncher)
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
                + "start it with --allow-command \(program.isEmpty ? "PROGRAM" : program) (env PBT_ALLOW_COMMANDS) if you trust whoever runs the selector"
        )
    }

    // MARK: Tasks

    /// A task pushed to this evaluator's or mutator's inlet.
    private func take(_ frames: [[UInt8]], _ sockets: inout Sockets) {
        guard frames.count == 1 else {
            drop(reason: "wrong_frame_count", detail: "\(frames.count) frames on the inlet", sockets)
            return
        }
        let task: WorkerTask
        do {
            switch options.role {
            case .evaluator:
                guard case .trained(let result) = try WireProtocol.decodeReport(frames[0]), !result.interrupted else {
                    drop(reason: "wrong_kind", detail: "an evaluator's inlet takes trained members", sockets)
                    return
                }
                task = .evaluate(result)
            case .mutator:
                guard case .explore(let explore) = try WireProtocol.decodeCommand(frames[0]) else {
                    drop(reason: "wrong_kind", detail: "a mutator's inlet takes explore decisions", sockets)
                    return
                }
                task = .explore(explore)
            case .trainer:
                return
            }
        } catch {
            drop(reason: error.reason, detail: "\(error)", sockets)
            return
        }
        guard let handler else { return }
        guard running == nil, unpushed == nil, waiting.isEmpty else {
            waiting.append(task)
            return
        }
        start(task, handler: handler, &sockets)
    }

    /// Starts the oldest task that waited, when nothing is in hand. A stopping worker leaves
    /// them: the selector sends what it held out again when it says goodbye.
    private func startWaiting(_ sockets: inout Sockets) {
        while running == nil, unpushed == nil, stopping == nil, let handler, !waiting.isEmpty {
            start(waiting.removeFirst(), handler: handler, &sockets)
        }
    }

    /// Runs a task: on the work thread when it may take long (so that the loop keeps
    /// heartbeating), on the loop's thread when it is quick — a handler's tasks that always are
    /// (scoring a reported metric, perturbing), or a trainer whose last task took under
    /// `StageTiming.quickTask`; then the workload's step callbacks carry the heartbeats.
    private func start(_ task: WorkerTask, handler: any TaskHandler, _ sockets: inout Sockets) {
        if handler.runsLong && !(lastTaskSeconds.map { $0 < StageTiming.quickTask } ?? false) {
            running = task
            runningSince = Clock.monotonic
            sockets.work.start(task, with: handler)
            return
        }
        let started = Clock.monotonic
        let outcome = handler.handle(task) { [self, sockets] done in
            let now = Clock.monotonic
            if now - lastHeartbeat >= options.heartbeat {
                lastHeartbeat = now
                send(.progress(member: task.member, version: task.version, step: task.step + done), on: sockets.dealer)
            }
            return !options.stop.isRequested
        }
        if handler.runsLong { lastTaskSeconds = Clock.monotonic - started }
        deliver(outcome, for: task, &sockets)
    }

    private func finishRunning(_ sockets: inout Sockets) {
        guard let task = running, let outcome = sockets.work.takeOutcome() else { return }
        running = nil
        lastTaskSeconds = runningSince.map { Clock.monotonic - $0 }
        deliver(outcome, for: task, &sockets)
        startWaiting(&sockets)
    }

    /// Sends a task's outcome on: a trainer's result to the evaluators (then its credit to the
    /// selector), anything else of a trainer's to the selector; an evaluator's or a mutator's
    /// to the selector's inlet.
    private func deliver(_ outcome: WorkerReport, for task: WorkerTask, _ sockets: inout Sockets) {
        tasksDone += 1
        logger.debug(
            "task done",
            metadata: [
                "pbt.member.id": "\(task.member)", "pbt.member.version": "\(task.version)", "pbt.outcome": "\(outcome)",
            ])
        switch options.role {
        case .trainer:
            if case .trained(let result) = outcome, !result.interrupted {
                let frames = [WireProtocol.encode(outcome)]
                if push(frames, on: sockets.push) {
                    handedOn(task, &sockets)
                } else {
                    unpushed = (frames, task)
                    logger.info(
                        "no evaluator to take member \(result.member)'s result yet; holding it (and the lease) until there is"
                    )
                }
                return
            }
            send(outcome, on: sockets.dealer)
            if stopping == nil { heartbeat(sockets) }
        case .evaluator, .mutator:
            let frames = [routingID, WireProtocol.encode(outcome)]
            if !push(frames, on: sockets.push) { unpushed = (frames, task) }
        }
    }

    /// A trainer's result is on its way to an evaluator: say so with the next credit, now.
    private func handedOn(_ task: WorkerTask, _ sockets: inout Sockets) {
        guard options.role == .trainer else { return }
        if case .train(let train) = task {
            handed = HandedOn(member: train.member, version: train.version, step: train.step + train.steps)
        }
        heartbeat(sockets)
        resultSentAt = lastHeartbeat
    }

    /// Pushes `frames` if a peer can take them now.
    private func push(_ frames: [[UInt8]], on socket: ZMQSocket) -> Bool {
        do {
            return try socket.send(frames, dontWait: true)
        } catch {
            logger.warning("could not push a result: \(error)")
            return false
        }
    }

    /// `progress` while a task is out (running, or its result waiting for a peer), else `ready`.
    private func heartbeat(_ sockets: Sockets) {
        lastHeartbeat = Clock.monotonic
        if let task = running ?? unpushed?.task {
            let done = running != nil ? sockets.work.stepsDone : 0
            send(.progress(member: task.member, version: task.version, step: task.step + done), on: sockets.dealer)
            return
        }
        guard stopping == nil || handed != nil else { return }
        let ready = Ready(
            role: options.role, received: received, name: options.name, experimentID: experimentID,
            inlet: sockets.inletEndpoint,
            routes: routes.generation, handed: handed)
        send(.ready(ready), on: sockets.dealer)
        handed = nil
    }

    private func send(_ report: WorkerReport, on dealer: ZMQSocket) {
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

    private func drop(reason: String, detail: String, _ sockets: Sockets) {
        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) {
            sockets.publisher.publish(event)
        }
    }
}
