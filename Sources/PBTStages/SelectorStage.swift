import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTStore
import PBTSystem
import PBTWire
import ZeroMQ

/// The selector stage: the one stateful process. It binds the work endpoint that every
/// trainer, evaluator and mutator connects to, runs `SelectorMachine` over it, and keeps
/// the machine's state in `selector.sqlite` so that a restart goes on where it stopped.
///
///     trainers ─┐                                    ┌─ tasks to workers (first)
///     evaluators├─ DEALER ⇄ ROUTER ── selector ──────┼─ selector.sqlite (then)
///     mutators ─┘       (work endpoint)              └─ events.jsonl, PUB ─▶ event proxy (last)
///
/// Each loop turn handles a batch of messages, sending each task as soon as it is decided,
/// then hands what changed and the batch's events to the store writer, which commits the
/// batches of the last 10 ms in one transaction and only then logs and publishes their events.
/// Workers ask for work when they are free (`ready`), so a task never waits behind a busy
/// trainer while another is idle.
public final class SelectorStage {
    public struct Options: Sendable {
        public var experiment: Experiment
        public var runDirectory: RunDirectory
        /// Where to bind the work endpoint, e.g. `tcp://*:5555` or `tcp://127.0.0.1:*`.
        public var bind: String
        /// The event proxy's publisher endpoint, or nil for no stream.
        public var events: String?
        /// Training starts when this many trainers are connected, or after `startTimeout` seconds.
        public var minTrainers: Int
        public var startTimeout: Double
        /// Where to write the bound endpoints as JSON once listening.
        public var readyFile: String?
        /// CURVE: the work endpoint admits only authorized client keys, and events go to the
        /// proxy encrypted. Required when the experiment says `security: {curve: true}`.
        public var security: CurveSecurity? = nil

        public init(experiment: Experiment, runDirectory: RunDirectory, bind: String, events: String?, minTrainers: Int = 1, startTimeout: Double = 10, readyFile: String? = nil) {
            self.experiment = experiment
            self.runDirectory = runDirectory
            self.bind = bind
            self.events = events
            self.minTrainers = minTrainers
            self.startTimeout = startTimeout
            self.readyFile = readyFile
        }
    }

    private let options: Options
    private let logger: Logger
    private var machine: SelectorMachine
    private var router: ZMQSocket!
    private var publisher: EventPublisher!
    private var eventLog: LineLog!
    private var database: SelectorDatabase!
    private var writer: StoreWriter!
    private var collector: CheckpointCollector?
    private let drops: DropCounter
    private let welcome: [UInt8]
    private var unroutable = 0
    /// The ZAP handler and refusal events, with CURVE.
    private var server: ServerSecurity?
    /// Actions of the current batch, performed once the batch is committed.
    private var pending: [SelectorMachine.Action] = []
    /// The last event sequence number known to be in events.jsonl (deleted from the store next commit).
    private var written: Int64?

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        let experiment = options.experiment
        machine = SelectorMachine(
            settings: experiment.selectorSettings(minTrainers: options.minTrainers, startTimeout: options.startTimeout),
            name: experiment.name, initial: experiment.initialHyperparameters())
        drops = DropCounter(stage: "selector", worker: "selector")
        welcome = WireProtocol.encode(.welcome(
            experimentID: experiment.id, experiment: Array(experiment.source.utf8),
            checkpointDirectory: options.runDirectory.absolute + "/checkpoints"))
    }

    /// Runs until the experiment finishes (exit code 0) or a signal stops it (128 + signal).
    public func run() throws -> Int32 {
        let run = options.runDirectory
        let experiment = options.experiment
        if experiment.requiresCurve && options.security == nil {
            throw RunError("experiment \(experiment.name) says security: {curve: true}, but the selector has no keys: give --key, --server-key and --authorized-keys (pbt keygen writes them), or use pbt run --secure")
        }
        try run.create()
        if !FileManager.default.fileExists(atPath: run.experiment) {
            try RunDirectory.writeAtomically(experiment.source, to: run.experiment)
        }
        database = try SelectorDatabase(path: run.database)
        if let stored = try database.experimentID(), stored != experiment.id {
            throw RunError("\(run.path) holds experiment \(stored), not \(experiment.id) (the experiment file differs); use another run directory")
        }
        eventLog = try LineLog(path: run.events)
        if experiment.garbageCollection {
            collector = CheckpointCollector(store: try CheckpointStore(directory: run.checkpoints))
        }

        let context = try ZMQContext()
        server = try options.security.map { try ServerSecurity($0, context: context, stage: "selector", logger: logger) }
        defer { server?.stop() }
        router = try ZMQSocket(context, .router, linger: 200)
        try server?.secure(router)
        try router.setRouterMandatory(true)
        try router.setRouterHandover(true)
        try router.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try router.setSendHighWaterMark(100_000)
        try router.setReceiveHighWaterMark(100_000)
        try router.bind(options.bind)
        let endpoint = try router.lastEndpoint
        publisher = try EventPublisher(context: context, endpoint: options.events, security: options.security, logger: logger)

        let now = Clock.monotonic
        if let (saved, finished) = try database.load() {
            // Events committed before a crash may or may not be in the log: cut it back to
            // where the first of them goes, and append them all.
            let committed = try database.pendingEvents()
            if let offset = committed.first?.logOffset { try eventLog.truncate(to: offset) }
            for event in committed {
                eventLog.append(event.json)
                written = event.seq
            }
            eventLog.flush()
            if finished {
                logger.notice("the experiment in \(run.path) has already finished; nothing to do")
                return 0
            }
            machine = SelectorMachine(settings: machine.settings, name: machine.name, restoring: saved, now: now)
            let leased = machine.members.filter { if case .leased = $0.phase { return true } else { return false } }.count
            let done = machine.members.filter(\.isDone).count
            logger.notice("resuming \(experiment.name) from \(run.database): \(saved.steps) steps trained, \(done) members done, \(leased) tasks out")
            pending.append(.publish(.experimentResumed(steps: saved.steps, membersDone: done, leased: leased)))
        } else {
            pending += machine.start(now: now)
        }
        pending.insert(.publish(.stageStarted(stage: "selector", worker: "selector", pid: Int(getpid()))), at: 0)
        writer = StoreWriter(database: database, eventLog: eventLog, publisher: publisher, experimentID: experiment.id, written: written)
        try commit()
        logger.info("selector listening", metadata: ["pbt.endpoint": "\(endpoint)", "pbt.experiment": "\(experiment.name)", "pbt.run": "\(run.absolute)"])
        try writeReadyFile(options.readyFile, stage: "selector", endpoints: ["work": endpoint])

        var lastTick = Clock.monotonic
        var lastCollection = Clock.monotonic
        var finishedAt: Double?
        while !StopSignal.isRequested {
            if try ZMQPoll.readable([router], timeoutMilliseconds: 50)[0] {
                var handled = 0
                while handled < 1000, let frames = try router.receive(dontWait: true) {
                    handled += 1
                    receive(frames)
                }
            }
            let now = Clock.monotonic
            if now - lastTick >= 0.05 {
                pending += machine.tick(now: now)
                if let server { pending += server.takeEvents(now: now).map { .publish($0) } }
                lastTick = now
            }
            if let collector, now - lastCollection >= experiment.collectionInterval, !machine.isFinished {
                lastCollection = now
                let outcome = collector.collect(keeping: machine.referencedCheckpoints(), grace: experiment.leaseTimeout + 1)
                if outcome.deleted > 0 {
                    pending.append(.publish(.checkpointsCollected(
                        deleted: outcome.deleted, freedBytes: outcome.freedBytes, kept: outcome.kept, keptBytes: outcome.keptBytes)))
                }
            }
            try commit()
            if machine.isFinished {
                if finishedAt == nil {
                    finishedAt = now
                    for id in machine.workers.keys { send(id, .finished) }
                }
                if now - finishedAt! >= 0.5 { break }
            }
        }
        if let signal = StopSignal.received, !machine.isFinished {
            logger.notice("selector stopping on signal \(signal) before the experiment finished; its state is in \(run.database)")
            pending.append(.publish(.stageStopped(stage: "selector", worker: "selector", reason: "signal \(signal)")))
            try commit()
            try writer.drain()
            return 128 + signal
        }
        pending.append(.publish(.stageStopped(stage: "selector", worker: "selector", reason: "experiment finished")))
        try commit()
        try writer.drain()
        return 0
    }

    /// Performs a batch: tasks go to workers first (they wait for nothing), then the batch's
    /// changes and events go to the store writer, which commits them (with the batches beside
    /// them) in one transaction, then appends the events to events.jsonl and publishes them.
    ///
    /// A crash loses the decisions of the batches not yet committed (a few milliseconds' worth),
    /// never more: the store still has each of their members as it was (queued, or leased at
    /// an older version), and a restarted selector skips versions (see
    /// `SelectorMachine(restoring:)`), so a result for a task it never committed is dropped as
    /// stale and the member is handed out again.
    private func commit() throws {
        let (changes, members) = machine.takeChanges()
        guard !pending.isEmpty || !changes.isEmpty else { return }
        let actions = pending
        pending = []
        for action in actions { _ = sendIfMessage(action) }
        let time = Clock.wall
        var events: [(event: PBTEvent, time: Double)] = []
        for action in actions {
            if case .publish(let event) = action { events.append((event, time)) }
        }
        let counters = SelectorDatabase.Counters(
            steps: machine.steps, exploits: machine.exploits, elapsed: machine.elapsed(now: Clock.monotonic),
            forgottenBelow: machine.forgottenBelow, finished: machine.isFinished)
        try writer.submit(.init(changes: changes, members: members, bestEver: machine.bestEver, counters: counters, events: events))
        for action in actions {
            switch action {
            case .publish(let event): log(event)
            case .finish(let summary):
                // The summary is written once everything it reports is in the store.
                try writer.drain()
                finish(summary)
            default: break
            }
        }
    }

    private func receive(_ frames: [[UInt8]]) {
        guard frames.count == 2 else {
            if let id = frames.first, frames.count > 2 {
                dropFrame(reason: WireError.wrongFrameCount(frames.count - 1).reason, detail: "\(frames.count - 1) frames from \(WorkerID(id))")
            } else {
                dropFrame(reason: "wrong_frame_count", detail: "\(frames.count) frames")
            }
            return
        }
        let id = WorkerID(frames[0])
        let report: WorkerReport
        do {
            report = try WireProtocol.decodeReport(frames[1])
        } catch {
            dropFrame(reason: error.reason, detail: "\(error) from \(id)")
            return
        }
        // Tasks go out at once; the rest of the batch's actions wait for its end.
        for action in machine.handle(report, from: id, now: Clock.monotonic) where !sendIfMessage(action) {
            pending.append(action)
        }
    }

    /// Sends `action` if it is a message to a worker (a task, a welcome); false for any other.
    private func sendIfMessage(_ action: SelectorMachine.Action) -> Bool {
        switch action {
        case .send(let id, let command): send(id, command)
        case .welcome(let id): sendFrame(id, welcome)
        default: return false
        }
        return true
    }

    private func dropFrame(reason: String, detail: String) {
        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) { pending.append(.publish(event)) }
    }

    private func send(_ id: WorkerID, _ command: WorkerCommand) {
        sendFrame(id, WireProtocol.encode(command))
    }

    private func sendFrame(_ id: WorkerID, _ frame: [UInt8]) {
        do {
            if try !router.send([id.bytes, frame], dontWait: true) {
                unroutable += 1
                logger.warning("could not queue a message to \(id): its queue is full")
            }
        } catch {
            // The worker is gone (ROUTER_MANDATORY): its lease will expire and the task go to another.
            unroutable += 1
            logger.debug("could not send to \(id): \(error)")
        }
    }

    private func log(_ event: PBTEvent) {
        switch event {
        case .workerJoined(let role, let worker), .workerLeft(let role, let worker, _):
            logger.info("\(event.topic)", metadata: ["pbt.role": "\(role)", "pbt.worker": "\(worker)"])
        case .leaseExpired(let member, let version, _, let worker):
            logger.warning("lease expired", metadata: ["pbt.member.id": "\(member)", "pbt.member.version": "\(version)", "pbt.worker": "\(worker)"])
        case .memberFailed(let member, _, let reason, let givenUp):
            logger.warning("member failed\(givenUp ? " and was given up" : "")", metadata: ["pbt.member.id": "\(member)", "pbt.reason": "\(reason)"])
        case .checkpointsCollected(let deleted, let freed, let kept, let keptBytes):
            logger.info("checkpoints collected", metadata: ["pbt.deleted": "\(deleted)", "pbt.freed_bytes": "\(freed)", "pbt.kept": "\(kept)", "pbt.kept_bytes": "\(keptBytes)"])
        default:
            break
        }
    }

    private func finish(_ summary: ExperimentSummary) {
        let text = SummaryJSON.encode(summary, experiment: options.experiment.name) { o in
            o.field("run_directory", self.options.runDirectory.absolute)
            o.field("frames_dropped", self.drops.total)
        }
        do {
            try RunDirectory.writeAtomically(text + "\n", to: options.runDirectory.summary)
        } catch {
            logger.error("could not write \(options.runDirectory.summary): \(error)")
        }
        logger.info("experiment finished", metadata: [
            "pbt.reason": "\(summary.reason.rawValue)", "pbt.best.member": "\(summary.best?.member ?? -1)",
            "pbt.best.score": "\(summary.best?.score ?? .nan)", "pbt.steps": "\(summary.steps)",
        ])
    }
}
