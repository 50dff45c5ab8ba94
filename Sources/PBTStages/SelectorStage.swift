import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTSecurity
import PBTStageLoop
import PBTStore
import PBTSystem
import PBTWire
import ZeroMQ

/// The selector stage: the one stateful process. It runs `SelectorMachine` over three sockets
/// and keeps the machine's state in `selector.sqlite`, so that a restart goes on where it stopped.
///
///     trainers ──DEALER ⇄ ROUTER (work, binds)── credits in, train tasks out ─┐
///     evaluators, mutators ──DEALER ⇄ ROUTER── heartbeats in, welcome out      │
///     evaluators, mutators ──PUSH ─▶ PULL (inlet, binds)── scores, explored ───┤ machine
///     mutators ◀── PULL (their inlet) ◀─ PUSH (explore, connects to each)──────┘
///                                   then: events.jsonl ─▶ selector.sqlite ─▶ PUB ─▶ event proxy
///
/// Each loop turn handles a batch of messages, sending each task as soon as it is decided,
/// then hands what changed and the batch's events to the store writer, which commits the
/// batches of the last 50 ms in one transaction and only then logs and publishes their events.
public final class SelectorStage {
    public struct Options: Sendable {
        public var experiment: Experiment
        public var runDirectory: RunDirectory
        /// Where to bind the work endpoint, e.g. `tcp://*:5555` or `tcp://127.0.0.1:*`.
        public var bind: String
        /// Where to bind the inlet evaluators and mutators push to, e.g. `tcp://*:5558`.
        public var inletBind: String
        /// Where to bind the checkpoint service (workers that share no disk with the selector
        /// store and fetch checkpoints there), e.g. `tcp://*:5559`; nil: beside the work endpoint.
        public var storeBind: String? = nil
        /// The event proxy's publisher endpoint, or nil for no stream.
        public var events: String?
        /// Training starts when this many trainers are connected, or after `startTimeout` seconds.
        public var minTrainers: Int
        public var startTimeout: Double
        /// Where to write the bound endpoints as JSON once listening.
        public var readyFile: String?
        /// CURVE: the work endpoint and the inlet admit only authorized client keys, and events
        /// go to the proxy encrypted. Required when the experiment says `security: {curve: true}`.
        public var security: CurveSecurity? = nil
        /// Connections the selector accepts at most (work and inlet together); lowered to what
        /// the process's open-file limit allows.
        public var maxConnections = 4096
        /// Files to wait for (up to `awaitSeconds`) after binding and before the experiment
        /// starts: `pbt run` starts the selector together with its exporter and names their
        /// ready files, so the subscribers are connected before the first event goes out.
        public var awaitFiles: [String] = []
        public var awaitSeconds = 10.0
        /// The ZeroMQ context to make sockets in: a run whose stages share one process passes
        /// its own (inproc:// endpoints reach only sockets of the same context); nil: a new one.
        public var context: ZMQContext? = nil
        /// Stops this stage alone, besides the process's SIGTERM and SIGINT (a run whose stages
        /// share one process stops them one at a time).
        public var stop = StageStop()

        public init(
            experiment: Experiment, runDirectory: RunDirectory, bind: String, inletBind: String, events: String?,
            minTrainers: Int = 1,
            startTimeout: Double = 10, readyFile: String? = nil
        ) {
            self.experiment = experiment
            self.runDirectory = runDirectory
            self.bind = bind
            self.inletBind = inletBind
            self.events = events
            self.minTrainers = minTrainers
            self.startTimeout = startTimeout
            self.readyFile = readyFile
        }
    }

    /// Milliseconds the work endpoint may go on delivering what it queued (the last
    /// `finished` answers) once the selector closes it.
    static let workLingerMilliseconds: Int32 = 200

    private let options: Options
    private let logger: Logger
    private var machine: SelectorMachine
    private let drops: DropCounter
    /// Actions of the current batch, performed once the batch is committed.
    private var pending: [SelectorMachine.Action] = []
    /// What the machine asked to persist since the last commit.
    private var changes = SelectorMachine.Changes()
    /// Explore decisions no mutator could take yet (none connected): pushed again each turn.
    private var unsentExplores: [[UInt8]] = []
    private var unroutable = 0
    /// Connections refused past the limit (for `summary.json`).
    private var connectionsRefused = 0

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        let experiment = options.experiment
        machine = SelectorMachine(
            settings: experiment.selectorSettings(minTrainers: options.minTrainers, startTimeout: options.startTimeout),
            name: experiment.name, initial: experiment.initialHyperparameters(), routesEpoch: Self.routesEpoch())
        drops = DropCounter(stage: "selector", worker: "selector")
    }

    /// Generations of the evaluators' routes start from the clock, so that a trainer that
    /// outlived a selector never takes a new list for the one it holds.
    static func routesEpoch() -> Int { Int(Clock.wall * 1000) << 16 }

    /// The sockets and files the stage owns while it runs.
    private struct Resources {
        let router: ZMQSocket
        let inlet: ZMQSocket
        let explore: ZMQSocket
        /// Keeps the explore PUSH's connections to the mutators' inlets (CURVE refusals).
        let exploreKeeper: ConnectionKeeper
        let publisher: EventPublisher
        let eventLog: LineLog
        let database: SelectorDatabase
        let writer: StoreWriter
        let collector: CheckpointCollector?
        let store: CheckpointStore
        let limiter: ConnectionLimiter
        let server: ServerSecurity?
        let inletEndpoint: String
        let service: CheckpointService
        /// The token in `checkpoints/.pbt-store`: a worker that reads it there shares this disk.
        let storeToken: String
    }

    /// What the selector keeps in its run directory: the store, the event log, the checkpoints.
    private struct RunFiles {
        let database: SelectorDatabase
        let eventLog: LineLog
        let store: CheckpointStore
        /// Held until the stage returns: one selector a run directory.
        let lock: RunDirectoryLock
    }

    /// The selector's sockets, bound: the work ROUTER, the inlet PULL, the explore PUSH.
    private struct Sockets {
        let router: ZMQSocket
        let inlet: ZMQSocket
        let explore: ZMQSocket
        let exploreKeeper: ConnectionKeeper
        let limiter: ConnectionLimiter
        let endpoint: String
        let inletEndpoint: String
    }

    /// How the selector begins: afresh, from its store, or not at all (it already finished).
    private enum Beginning {
        case fresh([SelectorMachine.Action])
        case resumed
        case alreadyFinished(exitCode: Int32)
    }

    /// Runs until the experiment finishes (0; 1 when every member failed or the outcome could
    /// not be written) or a signal stops it (128 + signal).
    public func run() throws -> Int32 {
        let files = try openRunDirectory()
        // The run directory's lock is held until the stage returns, not until its last use.
        defer { withExtendedLifetime(files.lock) {} }
        let context = try options.context ?? ZMQContext()
        let server = try options.security.map {
            try ServerSecurity($0, context: context, stage: "selector", logger: logger)
        }
        defer { server?.stop() }
        let sockets = try bindSockets(context, server: server)
        let storeSocket = try ZMQSocket(context, .router, linger: 0)
        // The store's connections count against the same limit as the work socket's and the inlet's.
        try sockets.limiter.watch(storeSocket, context: context, security: server)
        let checkpointLock = CheckpointLock()
        let service = try CheckpointService(
            socket: storeSocket, bind: options.storeBind ?? InletAddress.store(work: options.bind), store: files.store,
            lock: checkpointLock, logger: logger)
        defer {
            service.stop()
            let counters = service.counters
            if counters.uploadsStored + counters.bytesServed + counters.uploadsAbandoned > 0 {
                logger.info(
                    "checkpoint service: \(counters.uploadsStored) uploads stored (\(counters.bytesStored) bytes), \(counters.bytesServed) bytes served, \(counters.uploadsAbandoned) uploads abandoned, \(counters.uploadsRefused) refused as busy, \(counters.fetchesMissing) fetches of checkpoints not held"
                )
            }
        }
        let storeToken = try writeStoreToken(files.store)
        let publisher = try EventPublisher(
            context: context, endpoint: options.events, security: options.security, logger: logger)
        if let interrupted = awaitFiles() { return interrupted }

        var starting: [SelectorMachine.Action] = []
        switch try begin(files) {
        case .alreadyFinished(let exitCode): return exitCode
        case .resumed: break
        case .fresh(let actions): starting = actions
        }
        pending.insert(.publish(.stageStarted(stage: "selector", worker: "selector", pid: Int(getpid()))), at: 0)
        let experiment = options.experiment
        let resources = Resources(
            router: sockets.router, inlet: sockets.inlet, explore: sockets.explore,
            exploreKeeper: sockets.exploreKeeper, publisher: publisher,
            eventLog: files.eventLog, database: files.database,
            writer: StoreWriter(
                database: files.database, eventLog: files.eventLog, publisher: publisher, experimentID: experiment.id),
            collector: experiment.garbageCollection
                ? CheckpointCollector(store: files.store, lock: checkpointLock) : nil,
            store: files.store,
            limiter: sockets.limiter, server: server, inletEndpoint: sockets.inletEndpoint, service: service,
            storeToken: storeToken)
        absorb(starting, resources)
        var outcomeWritten = true
        try commit(resources, outcomeWritten: &outcomeWritten)
        logger.info(
            "selector listening",
            metadata: [
                "pbt.endpoint": "\(sockets.endpoint)", "pbt.inlet": "\(sockets.inletEndpoint)",
                "pbt.store": "\(service.endpoint)",
                "pbt.experiment": "\(experiment.name)", "pbt.run": "\(options.runDirectory.absolute)",
                "pbt.max_connections": "\(sockets.limiter.limit)",
            ])
        try writeReadyFile(
            options.readyFile, stage: "selector",
            endpoints: ["work": sockets.endpoint, "inlet": sockets.inletEndpoint, "store": service.endpoint])
        try loop(resources, outcomeWritten: &outcomeWritten)
        return try stop(resources, outcomeWritten: &outcomeWritten)
    }

    /// Checks the experiment against the options, and opens (or makes) the run directory: its
    /// experiment file, its store (which must hold this experiment, if any), its event log and
    /// its checkpoints.
    private func openRunDirectory() throws -> RunFiles {
        let run = options.runDirectory
        let experiment = options.experiment
        if experiment.requiresCurve && options.security == nil {
            throw RunError(
                "experiment \(experiment.name) says security: {curve: true}, but the selector has no keys: give --key, --server-key and --authorized-keys (pbt keygen writes them), or use pbt run --secure"
            )
        }
        try run.create()
        let lock: RunDirectoryLock
        do {
            lock = try RunDirectoryLock(run: run)
        } catch {
            throw BadInputError(error.description)
        }
        if !FileManager.default.fileExists(atPath: run.experiment) {
            try RunDirectory.writeAtomically(experiment.source, to: run.experiment)
        }
        let database = try SelectorDatabase(path: run.database)
        if let stored = try database.experimentID(), stored != experiment.id {
            throw RunError(
                "\(run.path) holds experiment \(stored), not \(experiment.id) (the experiment file differs); use another run directory"
            )
        }
        return RunFiles(
            database: database, eventLog: try LineLog(path: run.events),
            store: try CheckpointStore(directory: run.checkpoints), lock: lock)
    }

    /// Writes a fresh token to `checkpoints/.pbt-store` (atomically): a worker that finds the
    /// token it was welcomed with there sees this very directory, and uses it directly.
    private func writeStoreToken(_ store: CheckpointStore) throws -> String {
        let token = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined(separator: "-")
        try RunDirectory.writeAtomically(token + "\n", to: store.directory + "/" + CheckpointStore.tokenFile)
        return token
    }

    /// Binds the work ROUTER and the inlet PULL (each watched by the connection limiter and,
    /// with CURVE, by the handshake watcher) and makes the explore PUSH.
    private func bindSockets(_ context: ZMQContext, server: ServerSecurity?) throws -> Sockets {
        let limiter = ConnectionLimiter(requested: options.maxConnections, stage: "selector", handshakes: server)
        let router = try ZMQSocket(context, .router, linger: Self.workLingerMilliseconds)
        try limiter.watch(router, context: context, security: server)
        try router.setRouterMandatory(true)
        try router.setRouterHandover(true)
        // No ZMTP heartbeats of the ROUTER's own. A connection whose routing id another took
        // over stays open, and libzmq reads no more from it once it sends a message; if that
        // client then hangs up while the ROUTER's ping timer is armed, libzmq 4.3.4 aborts the
        // process (`!_io_error`, stream_engine_base.cpp). Clients' heartbeats end such a
        // connection instead: their pings go unanswered, so they reconnect under their id and
        // take it back, and the TTL their pings carry (5 s for pbt's workers) makes libzmq
        // drop the connection here too, as it drops one whose peer died.
        try router.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try router.setSendHighWaterMark(StageTiming.highWaterMark)
        try router.setReceiveHighWaterMark(StageTiming.highWaterMark)
        router.recordsPeerAddress = true
        try router.bind(options.bind, option: "--bind")
        let inlet = try ZMQSocket(context, .pull, linger: 0)
        try limiter.watch(inlet, context: context, security: server)
        try inlet.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try inlet.setReceiveHighWaterMark(StageTiming.highWaterMark)
        try inlet.bind(options.inletBind, option: "--inlet-bind")
        let explore = try ZMQSocket(context, .push, linger: 0)
        try explore.setImmediate(true)
        try explore.setSendHighWaterMark(StageTiming.highWaterMark)
        return Sockets(
            router: router, inlet: inlet, explore: explore,
            exploreKeeper: try explore.inletKeeper(context, logger: logger), limiter: limiter,
            endpoint: try router.lastEndpoint,
            inletEndpoint: try inlet.lastEndpoint)
    }

    /// Whether `path` holds a summary of this experiment that says how it ended.
    func holdsOutcome(_ path: String) -> Bool {
        RunSupervisor.readSummary(path, experiment: options.experiment.name) != nil
    }

    /// Starts the experiment, or goes on from the store: the event log is cut back to the last
    /// commit, and an experiment that already finished only gets its outcome written if it
    /// was not.
    private func begin(_ files: RunFiles) throws -> Beginning {
        let now = Clock.monotonic
        guard let (saved, finished) = try files.database.load() else { return .fresh(machine.start(now: now)) }
        let run = options.runDirectory
        // Events appended for a batch that a crash kept from committing: cut the log back.
        if let end = try files.database.committedLogEnd(), end < files.eventLog.size {
            try files.eventLog.truncate(to: end)
        } else if let end = try files.database.committedLogEnd(), end > files.eventLog.size {
            logger.warning(
                "\(run.events) holds \(files.eventLog.size) bytes of the \(end) the store committed to it: the run's record has a gap there (going on, as --accept-partial-log says)"
            )
        }
        // (A log that was cut within a line goes on with only `--accept-partial-log`.)
        files.eventLog.endLastLine()
        machine = SelectorMachine(
            settings: machine.settings, name: machine.name, restoring: saved, now: now,
            routesEpoch: Self.routesEpoch())
        if let reason = finished {
            logger.notice("the experiment in \(run.path) has already finished; nothing to do")
            guard !holdsOutcome(run.summary) else { return .alreadyFinished(exitCode: 0) }
            // It finished, but its outcome was never written (a full disk, no file handles), or
            // the file was damaged since: write it now.
            logger.notice("\(run.summary) is missing or damaged; writing it again from the store")
            machine.refreshBest()
            let written = writeSummary(machine.makeSummary(reason: reason, seconds: saved.elapsed))
            return .alreadyFinished(exitCode: written ? 0 : 1)
        }
        let leased = machine.members.filter(\.phase.isLeased).count
        let done = machine.membersDone
        logger.notice(
            "resuming \(options.experiment.name) from \(run.database): \(saved.steps) steps trained, \(done) members done, \(leased) tasks out"
        )
        pending.append(.publish(.experimentResumed(steps: saved.steps, membersDone: done, leased: leased)))
        return .resumed
    }

    /// The stage loop: messages in, ticks, explores pushed, checkpoints collected, a commit a
    /// turn; once the experiment finishes, the workers are told and the loop waits (a grace at
    /// most) for them to go.
    private func loop(_ resources: Resources, outcomeWritten: inout Bool) throws {
        let router = resources.router
        var lastTick = Clock.monotonic
        var lastCollection = Clock.monotonic
        var finishedAt: Double?
        try StageLoop.run(sockets: { [router, resources.inlet] }, stop: options.stop) { input in
            switch input {
            case .message(let socket, let frames):
                receive(frames, on: socket === router ? .work : .inlet, resources)
                return true
            case .stop:
                return false
            case .turn(let now):
                if now - lastTick >= StageTiming.tick {
                    resources.exploreKeeper.check()
                    resources.publisher.maintain()
                    absorb(machine.tick(now: now), resources)
                    pending += resources.server?.takeEvents(now: now).map { .publish($0) } ?? []
                    pending += resources.limiter.check(now: now).map { .publish($0) }
                    pending += resources.service.takeEvents().map { .publish($0) }
                    connectionsRefused = resources.limiter.refused
                    lastTick = now
                }
                if !unsentExplores.isEmpty { pushExplores(resources) }
                if let collector = resources.collector, now - lastCollection >= options.experiment.collectionInterval,
                    !machine.isFinished
                {
                    lastCollection = now
                    collect(collector, now: now)
                }
                try commit(resources, outcomeWritten: &outcomeWritten)
                guard machine.isFinished else { return true }
                let finished = finishedAt ?? now
                if finishedAt == nil {
                    finishedAt = now
                    for id in machine.workers.keys { send(.finished, to: id, resources) }
                }
                // Until every worker told has said goodbye or hung up (a goodbye sent just before
                // a process exits can be lost with it), or the grace is over.
                pending += resources.limiter.check(now: now).map { .publish($0) }
                let everyoneGone = machine.workers.isEmpty || resources.limiter.count == 0
                return now - finished < StageTiming.finishGrace && !everyoneGone
            }
        }
    }

    /// After the loop: on a signal, the state stays in the store (128 + signal); at the end,
    /// a final sweep of checkpoints, the last events, and the exit code the outcome calls for.
    private func stop(_ resources: Resources, outcomeWritten: inout Bool) throws -> Int32 {
        if let signal = options.stop.received, !machine.isFinished {
            logger.notice(
                "selector stopping on signal \(signal) before the experiment finished; its state is in \(options.runDirectory.database)"
            )
            pending.append(.publish(.stageStopped(stage: "selector", worker: "selector", reason: "signal \(signal)")))
            try commit(resources, outcomeWritten: &outcomeWritten)
            try close(resources)
            return 128 + signal
        }
        if !machine.workers.isEmpty {
            logger.debug(
                "stopping without a goodbye from \(machine.workers.values.map(\.name).sorted().joined(separator: ", ")); \(resources.limiter.count) connections open"
            )
        }
        if let collector = resources.collector {
            // Nothing will load a checkpoint no member holds any more: sweep them all now.
            collect(collector, now: Clock.monotonic, final: true)
        }
        pending.append(.publish(.stageStopped(stage: "selector", worker: "selector", reason: "experiment finished")))
        try commit(resources, outcomeWritten: &outcomeWritten)
        try close(resources)
        if !outcomeWritten { return 1 }
        if machine.summary?.reason == .allFailed {
            logger.error("every member failed; the first failure: \(machine.firstFailure ?? "unknown")")
            return 1
        }
        return 0
    }

    /// Waits for `options.awaitFiles` (each stage `pbt run` starts beside the selector writes
    /// one when it is ready); goes on without a file that has not come within the time, saying
    /// so. Returns an exit code when a signal stops the wait.
    private func awaitFiles() -> Int32? {
        guard !options.awaitFiles.isEmpty else { return nil }
        let deadline = Clock.monotonic + options.awaitSeconds
        var missing = options.awaitFiles
        while !missing.isEmpty {
            missing.removeAll { FileManager.default.fileExists(atPath: $0) }
            if missing.isEmpty { break }
            if let signal = options.stop.received { return 128 + signal }
            if Clock.monotonic >= deadline {
                logger.warning(
                    "starting without \(missing.joined(separator: ", ")), which did not appear within \(Int(options.awaitSeconds)) s"
                )
                break
            }
            usleep(2_000)
        }
        return nil
    }

    /// Commits what is queued, writes the log into the store file and lets go of the store,
    /// so that a finished run leaves no `-wal` or `-shm` file beside it.
    private func close(_ resources: Resources) throws {
        try resources.writer.drain()
        resources.writer.stop()
        do {
            try resources.database.checkpointLog()
        } catch {
            logger.warning("could not fold the write-ahead log into \(resources.database.path): \(error)")
        }
    }

    /// Deletes checkpoints nobody can load any more. During the run, a checkpoint newer than
    /// the oldest cycle still out may belong to a result on its way and is kept; at the end
    /// (`final`) only what members hold and the best ever reached stay.
    private func collect(_ collector: CheckpointCollector, now: Double, final: Bool = false) {
        let grace = final ? 0 : (machine.oldestLeaseStart.map { now - $0 } ?? 0) + 1
        let keep = final ? machine.finalCheckpoints() : machine.referencedCheckpoints()
        let outcome = collector.collect(keeping: keep, grace: grace)
        if outcome.deleted > 0 {
            pending.append(
                .publish(
                    .checkpointsCollected(
                        deleted: outcome.deleted, freedBytes: outcome.freedBytes, kept: outcome.kept,
                        keptBytes: outcome.keptBytes)))
        }
    }

    /// Takes the machine's output: messages go out at once, what to persist is gathered, the
    /// rest waits for the batch's commit.
    private func absorb(_ actions: [SelectorMachine.Action], _ resources: Resources) {
        for action in actions { perform(action, resources) }
    }

    /// Performs a batch: tasks go to workers first (they wait for nothing), then the batch's
    /// changes and events go to the store writer, which commits them (with the batches beside
    /// them) in one transaction, then appends the events to events.jsonl and publishes them.
    ///
    /// A crash loses the decisions of the batches not yet committed (at most 50 ms of them),
    /// never more: the store still has each of their members as it was (queued, or leased at
    /// an older version), and a restarted selector skips versions (see
    /// `SelectorMachine(restoring:)`), so a result for a task it never committed is dropped as
    /// stale and the member is handed out again.
    private func commit(_ resources: Resources, outcomeWritten: inout Bool) throws {
        for action in machine.endBatch() { perform(action, resources) }
        guard !pending.isEmpty || !changes.isEmpty else { return }
        let actions = pending
        pending = []
        let batch = changes
        changes = SelectorMachine.Changes()
        let time = Clock.wall
        var events: [(event: PBTEvent, time: Double)] = []
        for action in actions {
            if case .publish(let event) = action { events.append((event, time)) }
        }
        let counters = SelectorDatabase.Counters(
            // A finished run keeps its outcome's seconds, so a summary written again from the
            // store says what the first one and `experiment.finished` said.
            steps: machine.steps, exploits: machine.exploits,
            elapsed: machine.summary?.seconds ?? machine.elapsed(now: Clock.monotonic),
            forgottenBelow: machine.forgottenBelow, finished: machine.isFinished, reason: machine.summary?.reason)
        try resources.writer.submit(
            .init(changes: batch, bestEver: machine.bestEver, counters: counters, events: events))
        for action in actions {
            switch action {
            case .publish(let event): log(event)
            case .finish(let summary):
                // The summary is written once everything it reports is in the store.
                try resources.writer.drain()
                outcomeWritten = writeSummary(summary) && outcomeWritten
            default: break
            }
        }
    }

    private enum Socket { case work, inlet }

    private func receive(_ frames: [[UInt8]], on socket: Socket, _ resources: Resources) {
        guard frames.count == 2 else {
            let sender = frames.first.map { " from \(WorkerID($0))" } ?? ""
            dropFrame(
                reason: WireError.wrongFrameCount(max(frames.count - 1, 0)).reason,
                detail: "\(frames.count) frames\(sender) on the \(socket)")
            return
        }
        let id = WorkerID(frames[0])
        var report: WorkerReport
        do {
            report = try WireProtocol.decodeReport(frames[1])
        } catch {
            dropFrame(reason: error.reason, detail: "\(error) from \(id) on the \(socket)")
            return
        }
        switch (socket, report) {
        case (.inlet, .scored), (.inlet, .explored), (.inlet, .failed):
            break
        case (.work, .scored), (.work, .explored), (.inlet, _):
            dropFrame(reason: "wrong_socket", detail: "a \(Self.kind(of: report)) from \(id) on the \(socket)")
            return
        case (.work, .ready(var ready)):
            // An inlet bound on every interface is reached at the address this worker's
            // connection came from.
            if let inlet = ready.inlet, let peer = resources.router.lastPeerAddress {
                ready.inlet?.endpoint = EndpointAddress.replacingWildcardHost(in: inlet.endpoint, with: peer)
                report = .ready(ready)
            }
        default:
            break
        }
        // Tasks go out at once; the rest of the batch's actions wait for its end.
        for action in machine.handle(report, from: id, now: Clock.monotonic, holds: resources.store.contains) {
            perform(action, resources)
        }
    }

    private static func kind(of report: WorkerReport) -> String {
        switch report {
        case .ready: "ready"
        case .progress: "progress"
        case .trained: "trained"
        case .scored: "scored"
        case .explored: "explored"
        case .failed: "failed"
        case .released: "released"
        case .goodbye: "goodbye"
        }
    }

    /// Sends a message now (a task, a welcome, an explore, a connection change); keeps the
    /// rest for the batch's commit.
    private func perform(_ action: SelectorMachine.Action, _ resources: Resources) {
        switch action {
        case .send(let id, let command): send(command, to: id, resources)
        case .welcome(let id): sendFrame(id, WireProtocol.encode(.welcome(welcome(resources))), resources)
        case .explore(let task):
            unsentExplores.append(WireProtocol.encode(.explore(task)))
            pushExplores(resources)
        case .connectMutator(let peer):
            resources.explore.connect(
                toInlet: peer, of: "mutator", security: options.security, keeper: resources.exploreKeeper,
                logger: logger)
        case .disconnectMutator(let peer):
            resources.explore.disconnect(fromInlet: peer.endpoint, keeper: resources.exploreKeeper)
        case .persist(let batch):
            changes.append(batch)
        case .publish, .finish:
            pending.append(action)
        }
    }

    private func welcome(_ resources: Resources) -> Welcome {
        let experiment = options.experiment
        return Welcome(
            experimentID: experiment.id, experiment: Array(experiment.source.utf8),
            checkpointDirectory: options.runDirectory.absolute + "/checkpoints", inlet: resources.inletEndpoint,
            evaluators: machine.evaluatorRoutes,
            store: PeerEndpoint(
                endpoint: resources.service.endpoint, publicKey: options.security?.keyPair.publicKey ?? []),
            storeToken: resources.storeToken)
    }

    /// Pushes the explore decisions waiting, in order, while a mutator takes them.
    private func pushExplores(_ resources: Resources) {
        var sent = 0
        for frame in unsentExplores {
            guard (try? resources.explore.send([frame], dontWait: true)) == true else { break }
            sent += 1
        }
        unsentExplores.removeFirst(sent)
    }

    private func dropFrame(reason: String, detail: String) {
        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) {
            pending.append(.publish(event))
        }
    }

    private func send(_ command: WorkerCommand, to id: WorkerID, _ resources: Resources) {
        sendFrame(id, WireProtocol.encode(command), resources)
    }

    private func sendFrame(_ id: WorkerID, _ frame: [UInt8], _ resources: Resources) {
        do {
            if try !resources.router.send([id.bytes, frame], dontWait: true) {
                unroutable += 1
                logger.warning("could not queue a message to \(id): its queue is full")
            }
        } catch {
            // The worker is gone (ROUTER_MANDATORY): it falls silent, and what it held goes out again.
            unroutable += 1
            logger.debug("could not send to \(id): \(error)")
        }
    }

    private func log(_ event: PBTEvent) {
        switch event {
        case .workerJoined(let role, let worker), .workerLeft(let role, let worker, _):
            logger.info("\(event.topic)", metadata: ["pbt.role": "\(role)", "pbt.worker": "\(worker)"])
        case .workerBenched(let role, let worker, let failures, let seconds):
            logger.warning("\(role) \(worker) failed \(failures) tasks in a row: no work for it for \(Int(seconds)) s")
        case .leaseExpired(let member, let version, _, let worker):
            logger.warning(
                "lease expired",
                metadata: ["pbt.member.id": "\(member)", "pbt.member.version": "\(version)", "pbt.worker": "\(worker)"])
        case .memberFailed(let member, _, let worker, let reason, let givenUp):
            logger.warning(
                "member failed\(givenUp ? " and was given up" : "")",
                metadata: ["pbt.member.id": "\(member)", "pbt.worker": "\(worker)", "pbt.reason": "\(reason)"])
        case .checkpointsCollected(let deleted, let freed, let kept, let keptBytes):
            logger.info(
                "checkpoints collected",
                metadata: [
                    "pbt.deleted": "\(deleted)", "pbt.freed_bytes": "\(freed)", "pbt.kept": "\(kept)",
                    "pbt.kept_bytes": "\(keptBytes)",
                ])
        default:
            break
        }
    }

    /// Writes `summary.json`; false (and an error in the log) when it cannot be written.
    private func writeSummary(_ summary: ExperimentSummary) -> Bool {
        let text = SummaryJSON.encode(summary, experiment: options.experiment.name) { o in
            o.field("run_directory", self.options.runDirectory.absolute)
            o.field("frames_dropped", self.drops.total)
            o.field("connections_refused", self.connectionsRefused)
        }
        do {
            try RunDirectory.writeAtomically(text + "\n", to: options.runDirectory.summary)
        } catch {
            logger.error(
                "could not write \(options.runDirectory.summary): \(error); the outcome is in \(options.runDirectory.database): pbt selector (or pbt run --resume) on this directory writes it again"
            )
            return false
        }
        logger.info(
            "experiment finished",
            metadata: [
                "pbt.reason": "\(summary.reason.rawValue)", "pbt.best.member": "\(summary.best?.member ?? -1)",
                "pbt.best.score": "\(summary.best?.score ?? .nan)", "pbt.steps": "\(summary.steps)",
            ])
        return true
    }
}
