import PBTSystem
import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTStore
import PBTWire
import ZeroMQ

/// The selector stage: the one stateful process. It binds the work endpoint that every
/// trainer, evaluator and mutator connects to, and runs `SelectorMachine` over it.
///
///     trainers ─┐                     ┌─ events.jsonl
///     evaluators├─ DEALER ⇄ ROUTER ── selector ─ PUB ─▶ event proxy
///     mutators ─┘       (work endpoint)
///
/// Workers ask for work when they are free (`ready`), so a task never waits behind a busy
/// worker while another is idle.
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
    private let drops: DropCounter
    private let welcome: [UInt8]
    private var unroutable = 0

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
        try run.create()
        if !FileManager.default.fileExists(atPath: run.experiment) {
            try RunDirectory.writeAtomically(options.experiment.source, to: run.experiment)
        }
        eventLog = try LineLog(path: run.events)
        let context = try ZMQContext()
        router = try ZMQSocket(context, .router, linger: 200)
        try router.setRouterMandatory(true)
        try router.setMaximumMessageSize(Int64(WireProtocol.maximumFrameBytes) * 2)
        try router.setSendHighWaterMark(100_000)
        try router.setReceiveHighWaterMark(100_000)
        try router.bind(options.bind)
        let endpoint = try router.lastEndpoint
        publisher = try EventPublisher(context: context, endpoint: options.events)
        logger.info("selector listening", metadata: ["pbt.endpoint": "\(endpoint)", "pbt.experiment": "\(options.experiment.name)", "pbt.run": "\(run.absolute)"])
        try writeReadyFile(options.readyFile, stage: "selector", endpoints: ["work": endpoint])
        record(.stageStarted(stage: "selector", worker: "selector", pid: Int(getpid())))

        perform(machine.start(now: Clock.monotonic))
        var lastTick = Clock.monotonic
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
                perform(machine.tick(now: now))
                lastTick = now
            }
            eventLog.flush()
            if machine.isFinished {
                if finishedAt == nil {
                    finishedAt = now
                    for id in machine.workers.keys { send(id, .finished) }
                }
                if now - finishedAt! >= 0.5 { break }
            }
        }
        if let signal = StopSignal.received, !machine.isFinished {
            logger.notice("selector stopping on signal \(signal) before the experiment finished")
            record(.stageStopped(stage: "selector", worker: "selector", reason: "signal \(signal)"))
            eventLog.flush()
            return 128 + signal
        }
        record(.stageStopped(stage: "selector", worker: "selector", reason: "experiment finished"))
        eventLog.flush()
        return 0
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
        perform(machine.handle(report, from: id, now: Clock.monotonic))
    }

    private func dropFrame(reason: String, detail: String) {
        record(drops.drop(reason: reason, detail: detail) { logger.warning("\($0)") })
    }

    private func perform(_ actions: [SelectorMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let id, let command):
                send(id, command)
            case .welcome(let id):
                sendFrame(id, welcome)
            case .publish(let event):
                record(event)
            case .finish(let summary):
                finish(summary)
            }
        }
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

    private func record(_ event: PBTEvent) {
        let json = publisher.publish(event)
        eventLog.append(json)
        switch event {
        case .workerJoined(let role, let worker), .workerLeft(let role, let worker, _):
            logger.info("\(event.topic)", metadata: ["pbt.role": "\(role)", "pbt.worker": "\(worker)"])
        case .leaseExpired(let member, let version, _, let worker):
            logger.warning("lease expired", metadata: ["pbt.member.id": "\(member)", "pbt.member.version": "\(version)", "pbt.worker": "\(worker)"])
        case .memberFailed(let member, _, let reason, let givenUp):
            logger.warning("member failed\(givenUp ? " and was given up" : "")", metadata: ["pbt.member.id": "\(member)", "pbt.reason": "\(reason)"])
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
