import PBTSystem
import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTStore
import PBTWire
import ZeroMQ

/// `pbt run`: the whole pipeline on this machine, each stage its own `pbt` process.
///
///     pbt run ─┬─ pbt events proxy      (binds the publisher and subscriber sides)
///              ├─ pbt exporter, pbt tensorboard (subscribe to the proxy)
///              ├─ pbt selector          (binds work and inlet, writes the run directory)
///              ├─ pbt evaluator ×M ─┐   (each binds its inlet)
///              ├─ pbt mutator ×K ───┼── connect to the selector and the proxy
///              └─ pbt trainer ×N ───┘
///
/// Over Unix domain sockets every endpoint is known before anything binds, so every stage
/// starts at once: workers retry their connections every few milliseconds until the selector
/// listens, and the selector waits for the proxy's and the subscribers' ready files before
/// the experiment's first event. Over TCP each binding stage reports its port first, and the
/// stages start in the order drawn.
/// It shows progress from the event stream, waits for the selector to finish, stops the
/// rest, and prints the outcome. Every child dies with it, even on SIGKILL.
///
/// With `inProcess` (`pbt run --in-process`) the proxy, the selector and the workers are
/// threads of this process instead (`StageThread`), in one ZeroMQ context over inproc://,
/// each logging to its file in `logs/`; the exporter and the TensorBoard writer stay
/// processes and subscribe where they always do.
public final class RunSupervisor {
    public struct Options: Sendable {
        public var experiment: Experiment
        /// The run directory; default `runs/NAME-YYYYMMDD-HHMMSS`.
        public var output: String?
        /// Go on with the run in `output` instead of starting a new one.
        public var resume: Bool
        public var trainers: Int
        public var evaluators: Int
        public var mutators: Int
        /// The `pbt` executable to start the stages with.
        public var executable: String
        public var logLevel: String
        /// Print only the final outcome.
        public var quiet: Bool
        /// Where the metrics exporter serves HTTP (`HOST:PORT`, port 0 a free one); nil starts none.
        public var metrics: String?
        /// Where a TensorBoard writer puts its event files as the run goes; nil starts none.
        public var tensorboard: String?
        /// How the stages reach each other: `ipc` (Unix domain sockets, the default) or `tcp` (loopback).
        public var transport: String = "ipc"
        /// CURVE on every socket, with keys made in `RUN_DIR/keys` (also when the experiment says
        /// `security: {curve: true}`).
        public var secure = false
        /// GPU devices to deal to the trainers (`--gpus 0,1`): `resources.gpus` each (one when
        /// the experiment asks for none), as `CUDA_VISIBLE_DEVICES`.
        public var gpus: [String]?
        /// Every stage on the member's path (the event proxy, the selector, the evaluators,
        /// the mutators, the trainers) a thread of this process, talking over inproc://; the
        /// metrics exporter and the TensorBoard writer stay processes of their own.
        public var inProcess = false
        /// `--accept-partial-log`: resume although `events.jsonl` lost part of what the store
        /// committed to it (the record then has a gap).
        public var acceptPartialLog = false

        public init(
            experiment: Experiment, output: String?, resume: Bool = false, trainers: Int, evaluators: Int = 1,
            mutators: Int = 1,
            executable: String, logLevel: String = "info", quiet: Bool = false, metrics: String? = "127.0.0.1:0"
        ) {
            self.experiment = experiment
            self.output = output
            self.resume = resume
            self.trainers = trainers
            self.evaluators = evaluators
            self.mutators = mutators
            self.executable = executable
            self.logLevel = logLevel
            self.quiet = quiet
            self.metrics = metrics
        }
    }

    /// A stage `pbt run` started: a process, or a thread of this one (`--in-process`).
    struct Stage {
        let name: String
        let runner: Runner
        let log: String
        /// When the stage stops among the others (`stopAll`): lower first.
        var stopOrder = StopOrder.selector

        /// The order in which `stopAll` stops stages: a group at a time, each told at once.
        enum StopOrder: Int, Comparable, CaseIterable {
            /// Trainers hand back their members while the selector still listens.
            case trainers
            /// Evaluators and mutators pass on what they hold.
            case workers
            case selector

            static func < (a: StopOrder, b: StopOrder) -> Bool { a.rawValue < b.rawValue }
        }

        enum Runner {
            case process(ChildProcess)
            case thread(StageThread)
        }

        /// How the stage ended (whether it succeeded, and how, in words), or nil while it runs.
        func poll() -> (succeeded: Bool, description: String)? {
            switch runner {
            case .process(let process): process.poll().map { ($0.succeeded, $0.description) }
            case .thread(let thread): thread.poll().map { ($0.succeeded, $0.description) }
            }
        }

        /// Asks the stage to stop: SIGTERM to a process, its own stop to a thread.
        func requestStop() {
            switch runner {
            case .process(let process): process.send(SIGTERM)
            case .thread(let thread): thread.stop.request(SIGTERM)
            }
        }

        /// Stops the stage and waits `grace` seconds for it: a process is then killed; a
        /// thread that has not ended is left to end with this process. Returns whether it
        /// ended within the grace.
        @discardableResult
        func stop(grace: Double) -> Bool {
            switch runner {
            case .process(let process):
                return process.stop(grace: grace).signal != SIGKILL
            case .thread(let thread):
                thread.stop.request(SIGTERM)
                return thread.wait(seconds: grace)
            }
        }

        var label: String {
            switch runner {
            case .process(let process): "\(name) (pid \(process.pid))"
            case .thread: name
            }
        }
    }

    /// Milliseconds the progress loop waits for an event before it looks at the stages again.
    static let tapMilliseconds = 20
    /// Microseconds between looks for a starting stage's ready file.
    static let readyPollMicroseconds: UInt32 = 2_000

    private let options: Options
    private var stages: [Stage] = []
    /// The run directory of a `--resume`.
    private var resumed: RunDirectory?

    /// A resumed run's selector ended at once, its store saying the experiment had finished.
    struct FinishedBeforeStart: Error {}
    /// `--in-process`: the one ZeroMQ context the stages' threads share.
    private var inProcess: InProcess?
    private let started = Clock.monotonic
    private let console = Console()

    public init(options: Options) {
        self.options = options
        console.quiet = options.quiet
    }

    /// Runs the experiment. Exit codes: 0 finished, 1 a stage failed, 128+signal interrupted.
    public func run() throws -> Int32 {
        let experiment = options.experiment
        let resources = try Self.resources(for: experiment, trainers: options.trainers, gpus: options.gpus)
        // A resumed run (its directory is --output) keeps the CURVE it was started with.
        let resumedPath = options.resume ? options.output : nil
        let resumesSecure =
            resumedPath.map { FileManager.default.fileExists(atPath: $0 + "/keys/server.key") } ?? false
        let secure = options.secure || experiment.requiresCurve || resumesSecure
        // Refused before the run directory is made, so that nothing is left behind.
        if options.inProcess {
            guard !secure else {
                let why =
                    options.secure
                    ? "--secure"
                    : experiment.requiresCurve
                        ? "experiment \(experiment.name) says security: {curve: true}"
                        : "\(resumedPath ?? "") was started with CURVE (its keys are in \(resumedPath ?? "")/keys)"
                throw BadInputError(
                    "--in-process runs the stages in one process over inproc://, which has no CURVE, and \(why): drop --in-process"
                )
            }
            inProcess = try InProcess(stages: options.trainers + options.evaluators + options.mutators + 2)
        }
        // Without --output the directory is named for the experiment and the time, and made
        // now, once nothing can be refused any more.
        let run = RunDirectory(path: try options.output ?? Self.claimRunDirectory(for: experiment.name))
        if let finished = try prepare(run) { return finished }
        if options.resume { resumed = run }
        let readyDirectory = run.path + "/.ready"
        try FileManager.default.createDirectory(atPath: readyDirectory, withIntermediateDirectories: true)

        console.line(
            "pbt run: \(options.resume ? "resuming " : "")\(experiment.name), population \(experiment.population), \(experiment.stop.maxSteps) steps a member, ready every \(experiment.interval)"
        )
        console.line("run directory: \(run.path)")
        console.line("resources: \(resources.description)")
        if options.inProcess, let threads = Int(resources.threads), threads > 1 {
            console.line(
                "warning: --in-process: the trainers share this process's OpenBLAS pool, so with \(threads) threads a trainer the built-in workloads' matrix products wait for each other; a process a stage (without --in-process) gives each trainer its own"
            )
        }
        defer { stopAll() }

        // Stages on one machine talk over Unix domain sockets (cheaper than loopback TCP), in a
        // short private directory (socket paths are limited to about 100 bytes). Directories
        // that runs killed with SIGKILL left behind go first.
        var sockets: SocketDirectory?
        if options.transport != "tcp" {
            SocketDirectory.removeAbandoned()
            sockets = try SocketDirectory.make()
        }
        defer { sockets?.remove() }
        let keys = secure ? try RunKeys.prepare(in: run.path + "/keys") : nil
        if let keys { console.line("CURVE on every socket; keys in \(keys.directory)") }
        let plan = LaunchPlan(sockets: sockets, keys: keys, run: run, readyDirectory: readyDirectory)
        let tap: ZMQSocket
        do {
            tap = try startStages(plan, resources: resources)
        } catch is FinishedBeforeStart {
            // Its store said it had finished; the selector wrote the outcome that was missing.
            stopAll()
            guard let summary = summary(of: run) else { return 1 }
            console.line("\(run.path) has already finished; its outcome (summary.json written again from the store):")
            print(Self.describe(summary: summary, run: run, wall: summary["seconds"] as? Double ?? 0))
            return 0
        }
        if let interrupted = try supervise(run, tap: tap) { return interrupted }
        stopAll()
        return try report(run)
    }

    /// Checks the run directory before anything starts: a run to resume must have its store
    /// (one that has finished only prints its outcome: 0 is returned), a new one must not exist.
    private func prepare(_ run: RunDirectory) throws -> Int32? {
        let experiment = options.experiment
        if options.resume {
            // A run whose selector still runs (another `pbt run --resume`) is refused first, with
            // its pid: its log may be ahead of what is on disk, and only the lock says why. The
            // selector's own lock is what guarantees it.
            if FileManager.default.fileExists(atPath: run.path + "/selector.lock") {
                do { _ = try RunDirectoryLock(run: run) } catch { throw BadInputError(error.description) }
            }
            do {
                try SelectorDatabase.validateForResume(
                    run: run, experimentID: experiment.id, acceptPartialLog: options.acceptPartialLog)
            } catch {
                throw BadInputError("\(error)")
            }
            guard FileManager.default.fileExists(atPath: run.database) else {
                throw BadInputError("\(run.path) has no selector.sqlite to resume from")
            }
            if let summary = summary(of: run) {
                console.line("\(run.path) has already finished; its outcome:")
                print(Self.describe(summary: summary, run: run, wall: summary["seconds"] as? Double ?? 0))
                return 0
            }
            return nil
        }
        if FileManager.default.fileExists(atPath: run.events) {
            throw BadInputError(
                "\(run.path) already holds a run (events.jsonl exists); choose another --output, or --resume it")
        }
        do {
            // A store of another experiment is refused.
            try SelectorDatabase.validateForResume(run: run, experimentID: experiment.id)
            try run.create()
        } catch {
            throw BadInputError("\(error)")
        }
        try RunDirectory.writeAtomically(experiment.source, to: run.experiment)
        return nil
    }

    /// `--in-process`: what the stages' threads share.
    struct InProcess {
        /// The context every stage makes its sockets in (inproc:// reaches only sockets of the
        /// same context). It is never terminated: terminating waits for every socket to close,
        /// and a stage thread that has not stopped within its grace would hold the run's exit;
        /// the process ends with the run.
        let context: ZMQContext

        /// Sockets a stage may hold, at most: a trainer holds about ten (its DEALER, PUB and
        /// PUSH with their monitors, its work thread's PAIRs).
        static let socketsPerStage = 16
        /// Files a stage holds open: its sockets, its log, a checkpoint being read or written.
        static let filesPerStage = 12

        /// A context for `stages` stages: libzmq's default of 1,023 sockets a context would
        /// stop a run of a hundred trainers, and each socket holds a file descriptor.
        init(stages: Int) throws {
            let context = try ZMQContext()
            let sockets = Self.socketsPerStage * stages + 64
            try context.setMaximumSockets(Int32(sockets))
            // A socket holds a file descriptor (its mailbox), and so does each stage's log.
            let needed = Self.filesPerStage * stages + 128
            let files = FileLimits.raiseToHardLimit()
            guard files >= needed else {
                throw BadInputError(
                    "--in-process with \(stages) stages needs about \(needed) open files, and this process may open \(files) (ulimit -n): raise the limit, or run fewer trainers"
                )
            }
            _ = Unmanaged.passRetained(context)
            self.context = context
        }
    }

    /// `--in-process`: the endpoints of the member's path, inside this process.
    enum InProcessEndpoints {
        static let work = "inproc://pbt.run.work"
        static let publishers = "inproc://pbt.run.events-in"

        /// An evaluator's or a mutator's inlet.
        static func inlet(of name: String) -> String { "inproc://pbt.run.\(name).inlet" }
    }

    /// Where the stages of one run find each other.
    struct LaunchPlan {
        let sockets: SocketDirectory?
        let keys: RunKeys?
        let run: RunDirectory
        let readyDirectory: String

        /// Over ipc every endpoint is known before anything binds.
        var endpointsKnown: Bool { sockets != nil }

        func endpoint(_ name: String) -> String { sockets.map { "ipc://\($0.path)/\(name)" } ?? "tcp://127.0.0.1:*" }

        func curve(binds: Bool = false, connects: Bool = true) -> [String] {
            keys?.arguments(binds: binds, connects: connects) ?? []
        }
    }

    /// Starts every stage and returns the progress tap, subscribed before the selector starts.
    ///
    /// With Unix domain sockets every endpoint is known before anything binds, so every stage
    /// starts at once (workers retry their connections every few milliseconds until the
    /// selector listens; the selector waits for the proxy's and the subscribers' ready files
    /// before its first event). Over TCP each binding stage reports the port it got before the
    /// stages that connect to it start.
    private func startStages(_ plan: LaunchPlan, resources: WorkerResources) throws -> ZMQSocket {
        let run = plan.run
        let known = plan.endpointsKnown
        // In one process the stages publish over inproc://; subscribers (the exporter, the
        // TensorBoard writer, `pbt monitor`) are processes and connect over ipc:// or TCP.
        let publishersEndpoint = inProcess != nil ? InProcessEndpoints.publishers : plan.endpoint("events-in")
        let proxy: Launch
        if let inProcess {
            var proxyOptions = EventProxyStage.Options(
                publishers: publishersEndpoint, subscribers: plan.endpoint("events-out"))
            proxyOptions.context = inProcess.context
            proxy = try startThread("events", run: run, ready: plan.readyDirectory) { logger, stop, readyFile in
                proxyOptions.stop = stop
                proxyOptions.readyFile = readyFile
                return { [proxyOptions] in try EventProxyStage(options: proxyOptions, logger: logger).run() }
            }
        } else {
            proxy = try spawn(
                "events",
                ["events", "proxy", "--publishers", publishersEndpoint, "--subscribers", plan.endpoint("events-out")]
                    + plan.curve(binds: true, connects: false),
                run: run, ready: plan.readyDirectory)
        }
        let eventEndpoints =
            known
            ? ["publishers": publishersEndpoint, "subscribers": plan.endpoint("events-out")]
            : try awaitReady(proxy)
        guard let publishers = eventEndpoints["publishers"], let subscribers = eventEndpoints["subscribers"] else {
            throw RunError("the event proxy did not report its endpoints")
        }
        // The metrics exporter and the TensorBoard writer subscribe before the experiment's first
        // event, so they see the whole experiment (the writer makes its directory before it says
        // it is ready).
        let exporter = try options.metrics.map { listen in
            try spawn(
                "exporter", ["exporter", "--events", subscribers, "--listen", listen] + plan.curve(), run: run,
                ready: plan.readyDirectory)
        }
        let writer = try options.tensorboard.map { directory in
            try spawn(
                "tensorboard", ["tensorboard", "--events", subscribers, "--output", directory] + plan.curve(), run: run,
                ready: plan.readyDirectory)
        }
        var metricsURL: String?
        if !known {
            metricsURL = try exporter.map { try awaitReady($0)["metrics"] ?? "?" }
            if let writer { _ = try awaitReady(writer) }
        }

        // Subscribe before the selector and the workers start, so no progress is missed.
        let context = try ZMQContext()
        let tap = try ZMQSocket(context, .sub)
        if let keys = plan.keys { try tap.secureClient(try keys.clientSecurity()) }
        try tap.subscribe(PBTEvent.Topic.family("experiment"))
        try tap.subscribe(PBTEvent.Topic.memberFailed.bytes)
        try tap.connect(subscribers)

        let awaitedFiles = known ? [proxy, exporter, writer].compactMap { $0?.readyFile } : []
        let selector: Launch
        let work: String
        if let inProcess {
            var selectorOptions = SelectorStage.Options(
                experiment: options.experiment, runDirectory: run, bind: InProcessEndpoints.work,
                inletBind: InletAddress.selector(work: InProcessEndpoints.work), events: publishers,
                minTrainers: options.trainers)
            selectorOptions.storeBind = InletAddress.store(work: InProcessEndpoints.work)
            selectorOptions.awaitFiles = awaitedFiles
            selectorOptions.context = inProcess.context
            selector = try startThread("selector", run: run, ready: plan.readyDirectory) { logger, stop, readyFile in
                selectorOptions.stop = stop
                selectorOptions.readyFile = readyFile
                return { [selectorOptions] in try SelectorStage(options: selectorOptions, logger: logger).run() }
            }
            work = InProcessEndpoints.work
        } else {
            selector = try spawn(
                "selector",
                [
                    "selector", run.experiment, "--run-dir", run.path, "--bind", plan.endpoint("work"), "--inlet-bind",
                    plan.endpoint("inlet"), "--events", publishers, "--min-trainers", String(options.trainers),
                ] + awaitedFiles.flatMap { ["--await-file", $0] } + plan.curve(binds: true)
                    + (options.acceptPartialLog ? ["--accept-partial-log"] : []), run: run,
                ready: plan.readyDirectory)
            work = known ? plan.endpoint("work") : try awaitReady(selector)["work"] ?? ""
        }
        guard !work.isEmpty else { throw RunError("the selector did not report its endpoint") }

        let allowed = options.experiment.writtenCommand?.first.map { ["--allow-command", $0] } ?? []
        if let inProcess {
            try startWorkerThreads(
                inProcess, run: run, publishers: publishers, subscribers: subscribers, resources: resources,
                allowed: allowed.dropFirst().map { $0 })
        } else {
            try startWorkers(
                plan, work: work, publishers: publishers, subscribers: subscribers, resources: resources,
                allowed: allowed)
        }
        // A stage that cannot start says so now, with its log, rather than leaving the others waiting.
        if known {
            _ = try awaitReady(proxy)
            metricsURL = try exporter.map { try awaitReady($0)["metrics"] ?? "?" }
            if let writer { _ = try awaitReady(writer) }
        }
        if known || inProcess != nil { _ = try awaitReady(selector) }
        announce(
            work: work, publishers: publishers, subscribers: subscribers, keys: plan.keys, allowed: allowed,
            metricsURL: metricsURL)
        return tap
    }

    /// Starts the evaluators, the mutators and the trainers, each connected to the selector's
    /// work endpoint and the event proxy. The experiment is this user's own: trainers and
    /// evaluators may run its command workload's program (`allowed`: argv[0] as the file
    /// writes it, which is what a worker compares) and nothing else.
    private func startWorkers(
        _ plan: LaunchPlan, work: String, publishers: String, subscribers: String, resources: WorkerResources,
        allowed: [String]
    ) throws {
        for (role, count) in [
            ("evaluator", options.evaluators), ("mutator", options.mutators), ("trainer", options.trainers),
        ] {
            for index in 1...max(count, 1) where count > 0 {
                let name = "\(role)-\(index)"
                var arguments =
                    [role, "--connect", work, "--events", publishers, "--name", name]
                    + (role == "mutator" ? [] : allowed)
                if role != "mutator" { arguments += ["--threads", resources.threads] }
                if role == "trainer", let devices = resources.devices?[index - 1] {
                    arguments += ["--gpus", devices.joined(separator: ",")]
                }
                // Evaluators and mutators bind their inlet: a CURVE server as well as a client.
                arguments +=
                    role == "trainer" ? plan.curve() : ["--inlet-bind", plan.endpoint(name)] + plan.curve(binds: true)
                if role == "mutator" { arguments += ["--events-subscribe", subscribers] }
                _ = try spawn(
                    name, arguments, run: plan.run, ready: nil, stopOrder: role == "trainer" ? .trainers : .workers)
            }
        }
    }

    /// `--in-process`: starts the evaluators, the mutators and the trainers as threads of this
    /// process, each binding or connecting over inproc:// in the run's one context.
    private func startWorkerThreads(
        _ inProcess: InProcess, run: RunDirectory, publishers: String, subscribers: String,
        resources: WorkerResources, allowed: [String]
    ) throws {
        for (role, count) in [
            (WorkerRole.evaluator, options.evaluators), (.mutator, options.mutators), (.trainer, options.trainers),
        ] where count > 0 {
            for index in 1...count {
                let name = "\(role)-\(index)"
                var workerOptions = WorkerStage.Options(
                    role: role, connect: InProcessEndpoints.work, events: publishers, name: name,
                    eventsSubscribe: role == .mutator ? subscribers : nil)
                workerOptions.context = inProcess.context
                workerOptions.bind = InProcessEndpoints.inlet(of: name)
                workerOptions.allowedCommands = role == .mutator ? [] : allowed
                workerOptions.programLog = "\(run.logs)/\(name).log"
                workerOptions.programLauncher = ProgramLauncher.prefix(executable: options.executable)
                if role != .mutator { workerOptions.threads = ResourceSettings.Threads(resources.threads) }
                if role == .trainer { workerOptions.devices = resources.devices?[index - 1] }
                _ = try startThread(
                    name, run: run, ready: nil, stopOrder: role == .trainer ? .trainers : .workers
                ) { logger, stop, _ in
                    workerOptions.stop = stop
                    return { [workerOptions] in try WorkerStage(options: workerOptions, logger: logger).run() }
                }
            }
        }
    }

    /// Starts one stage as a thread of this process (`--in-process`), logging to its file in
    /// the run's `logs/`. `make` gets the stage's logger, its stop and its ready file (for a
    /// binding stage) and returns what the thread runs.
    private func startThread(
        _ name: String, run: RunDirectory, ready directory: String?, stopOrder: Stage.StopOrder = .selector,
        _ make: (Logger, StageStop, String?) throws -> @Sendable () throws -> Int32
    ) throws -> Launch {
        let log = "\(run.logs)/\(name).log"
        let file = FileLog(path: log)
        let level = Logger.Level(rawValue: options.logLevel) ?? .info
        let logger = Logger(label: "pbt.\(name)") { label in FileLogHandler(label: label, file: file, logLevel: level) }
        let readyFile = directory.map { "\($0)/\(name).json" }
        if let readyFile { try? FileManager.default.removeItem(atPath: readyFile) }
        // The run stops its threads itself, in order (`stopAll`), whatever signal it gets.
        let stop = StageStop(followsProcessSignals: false)
        let body = try make(logger, stop, readyFile)
        let thread = StageThread(name: name, stop: stop, log: file, body)
        let stage = Stage(name: name, runner: .thread(thread), log: log, stopOrder: stopOrder)
        stages.append(stage)
        return Launch(stage: stage, readyFile: readyFile)
    }

    /// Prints the stages started, and how to add a trainer, tap the events and read the metrics.
    private func announce(
        work: String, publishers: String, subscribers: String, keys: RunKeys?, allowed: [String], metricsURL: String?
    ) {
        var threads: [String] = []
        var processes: [String] = []
        for stage in stages {
            if case .thread = stage.runner { threads.append(stage.name) } else { processes.append(stage.label) }
        }
        let clientKeys = keys.map { " --key \($0.clientKey) --server-key \($0.serverPublic)" } ?? ""
        if threads.isEmpty {
            console.line("stages: " + processes.joined(separator: ", "))
            let allowedText = allowed.isEmpty ? "" : " " + allowed.joined(separator: " ")
            console.line(
                "work: \(work) — add a trainer: pbt trainer --connect \(work) --events \(publishers)\(allowedText)\(clientKeys)"
            )
        } else {
            console.line(
                "stages: threads of this process (pid \(getpid())) over inproc://: " + threads.joined(separator: ", ")
                    + (processes.isEmpty ? "" : "; processes: " + processes.joined(separator: ", ")))
            console.line(
                "work: inside this process (--in-process): trainers on other machines or in other processes cannot join"
            )
        }
        console.line(
            "events: pbt events --endpoint \(subscribers)\(clientKeys)   watch: pbt monitor --events \(subscribers)\(clientKeys)"
        )
        if let metricsURL { console.line("metrics: \(metricsURL)") }
        if let tensorboard = options.tensorboard {
            console.line("tensorboard: event files in \(tensorboard) — see them: tensorboard --logdir \(tensorboard)")
        }
    }

    /// Shows progress until the selector finishes (nil) or a signal stops the run (128 + the
    /// signal); a stage that fails ends it with its log's last lines.
    private func supervise(_ run: RunDirectory, tap: ZMQSocket) throws -> Int32? {
        let selector = stages.first { $0.name == "selector" }!
        var lastLine = Clock.monotonic - 10
        var latest: PBTEvent.Progress?
        // Workers whose log a failure line has already named.
        var logsNamed: Set<String> = []
        while true {
            if let signal = StopSignal.received {
                console.finishLine()
                // Said with --quiet too: how to go on is part of the outcome.
                StandardStream.error.write(
                    "interrupted by signal \(signal): stopping every stage; go on later with: pbt run --resume \(run.path)\n"
                )
                return 128 + signal
            }
            // A short wait: the selector's exit is noticed within it (the end of a short run).
            if let frames = try tap.receive(timeoutMilliseconds: Self.tapMilliseconds), frames.count == 2,
                let timed = try? EventJSON.decode(frames[1])
            {
                switch timed.event {
                case .progress(let progress):
                    latest = progress
                case .memberFailed(let member, _, let worker, let reason, let givenUp):
                    console.finishLine()
                    // The first failure a worker reports names its log (a program's stderr is there).
                    let log = "\(run.logs)/\(worker).log"
                    let pointer =
                        !logsNamed.contains(worker) && FileManager.default.fileExists(atPath: log)
                        ? "\n  (\(worker)'s log: \(log))" : ""
                    logsNamed.insert(worker)
                    console.line(
                        "member \(member) failed\(worker.isEmpty ? "" : " on \(worker)"): \(reason)\(givenUp ? " (given up)" : "")\(pointer)"
                    )
                default:
                    break
                }
            }
            if let done = selector.poll() {
                console.finishLine()
                // A run in which every member failed ended (exit 1) with its outcome written.
                guard done.succeeded || reason(of: run) == FinishReason.allFailed.rawValue else {
                    throw RunError(
                        "the selector stopped with \(done.description); its state is safe in \(run.database): go on with\n  pbt run --resume \(run.path)\n"
                            + Self.tail(of: selector.log))
                }
                return nil
            }
            for stage in stages where stage.name != "selector" {
                if let done = stage.poll(), !done.succeeded {
                    console.finishLine()
                    throw RunError("\(stage.name) stopped with \(done.description)\n" + Self.tail(of: stage.log))
                }
            }
            if !options.quiet, Clock.monotonic - lastLine >= (console.isTerminal ? 0.25 : 5), let latest {
                console.progress(Self.describe(progress: latest, elapsed: Clock.monotonic - started))
                lastLine = Clock.monotonic
            }
        }
    }

    /// Prints the outcome from `summary.json`; a run in which every member failed is an error.
    private func report(_ run: RunDirectory) throws -> Int32 {
        guard let summary = summary(of: run) else {
            throw RunError("the selector finished without writing \(run.summary)")
        }
        console.finishLine()
        print(Self.describe(summary: summary, run: run, wall: Clock.monotonic - started))
        if summary["reason"] as? String == FinishReason.allFailed.rawValue {
            let first = summary["first_failure"] as? String ?? "unknown (see \(run.logs))"
            throw RunError(
                "every member failed, so nothing was trained to the end; the first failure: \(first) (the stages' logs are in \(run.logs))"
            )
        }
        return 0
    }

    /// The run's `summary.json`, if it is there and says how the experiment ended (one that
    /// is damaged, or `{}`, is not: a selector started on the directory writes it again).
    func summary(of run: RunDirectory) -> [String: Any]? {
        Self.readSummary(run.summary, experiment: options.experiment.name)
    }

    /// The summary at `path` if it is one of `experiment` that says how it ended: its name,
    /// a reason an experiment ends for, its steps and its members (a damaged one, `{}`, or
    /// another experiment's is not: a selector started on the directory writes it again).
    static func readSummary(_ path: String, experiment: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let reason = object["reason"] as? String, FinishReason(rawValue: reason) != nil,
            object["experiment"] as? String == experiment, object["steps"] is Int, object["members"] is [Any]
        else { return nil }
        return object
    }

    /// What `pbt run` gives its workers: a thread budget (`--threads`) and each trainer's devices.
    struct WorkerResources: CustomStringConvertible {
        /// The `--threads` value: the experiment's number, `inherit`, or this machine's share.
        let threads: String
        let source: String
        /// Each trainer's devices, in trainer order; nil when no GPUs are dealt.
        let devices: [[String]]?

        var description: String {
            let budget =
                threads == "inherit"
                ? "threads inherited from the environment"
                : "\(threads) thread\(threads == "1" ? "" : "s") a trainer (\(source))"
            guard let devices else { return budget }
            return budget + "; GPUs "
                + devices.enumerated().map { "trainer-\($0.offset + 1): \($0.element.joined(separator: ","))" }.joined(
                    separator: ", ")
        }
    }

    /// Decides the workers' resources before anything starts; a device list that cannot serve
    /// the trainers is bad input.
    static func resources(for experiment: Experiment, trainers: Int, gpus: [String]?) throws -> WorkerResources {
        var devices: [[String]]?
        if gpus != nil || experiment.resources.gpus > 0 {
            let perTrainer = max(experiment.resources.gpus, 1)
            switch DeviceAssignment.assign(
                devices: gpus ?? [], trainers: trainers, perTrainer: perTrainer, share: experiment.resources.shareGPUs)
            {
            case .success(let dealt): devices = dealt
            case .failure(let problem): throw BadInputError("\(problem)")
            }
        }
        switch experiment.resources.threads {
        case .inherit:
            return WorkerResources(threads: "inherit", source: "", devices: devices)
        case .count(let count):
            return WorkerResources(
                threads: String(count), source: "the experiment's resources.threads", devices: devices)
        case .auto:
            let share = ThreadBudget.shared(cores: Cores.usable, trainers: trainers)
            return WorkerResources(threads: String(share.threads), source: share.source, devices: devices)
        }
    }

    /// The reason in a run directory's summary, if it has one.
    func reason(of run: RunDirectory) -> String? {
        summary(of: run)?["reason"] as? String
    }

    /// A stage started and, for a binding stage, the file where it says it is listening.
    struct Launch {
        let stage: Stage
        let readyFile: String?
    }

    /// Starts one stage; a binding stage (with a ready directory) writes its endpoints to a
    /// ready file, which `awaitReady` waits for.
    private func spawn(
        _ name: String, _ arguments: [String], run: RunDirectory, ready directory: String?,
        stopOrder: Stage.StopOrder = .selector
    ) throws -> Launch {
        let log = "\(run.logs)/\(name).log"
        var arguments = arguments + ["--log-level", options.logLevel]
        let readyFile = directory.map { "\($0)/\(name).json" }
        if let readyFile {
            try? FileManager.default.removeItem(atPath: readyFile)  // a resumed run's old endpoints
            arguments += ["--ready-file", readyFile]
        }
        // CURVE comes from the run's own keys (--secure) as arguments, never from keys this
        // shell's environment names for stages started by hand (empty is unset to a stage).
        // Each stage in a process group of its own: Ctrl-C in a terminal signals the foreground
        // group, and only this process may act on it, stopping the stages in order (a trainer
        // signalled with the selector would hand its member back to a selector already gone).
        let process = try ChildProcess(
            executable: options.executable, arguments: arguments, environment: Self.clearedKeyVariables, output: log,
            ownProcessGroup: true)
        let stage = Stage(name: name, runner: .process(process), log: log, stopOrder: stopOrder)
        stages.append(stage)
        return Launch(stage: stage, readyFile: readyFile)
    }

    /// Waits (30 s at most) for a binding stage's ready file; returns the endpoints it reports.
    private func awaitReady(_ launch: Launch) throws -> [String: String] {
        let name = launch.stage.name
        guard let readyFile = launch.readyFile else { return [:] }
        let deadline = Clock.monotonic + 30
        while Clock.monotonic < deadline {
            if let data = FileManager.default.contents(atPath: readyFile),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let endpoints = object["endpoints"] as? [String: String]
            {
                return endpoints
            }
            if let done = launch.stage.poll() {
                // A resumed run whose store says it finished: its selector only wrote the
                // outcome that summary.json lacked, and ended.
                if name == "selector", done.succeeded, let resumed, summary(of: resumed) != nil {
                    throw FinishedBeforeStart()
                }
                throw RunError(
                    "\(name) stopped with \(done.description) before it was ready\n" + Self.tail(of: launch.stage.log))
            }
            if StopSignal.isRequested { throw RunError("interrupted while starting \(name)") }
            usleep(Self.readyPollMicroseconds)
        }
        throw RunError("\(name) was not ready after 30 s\n" + Self.tail(of: launch.stage.log))
    }

    /// The CURVE key variables, emptied for the stages `pbt run` starts.
    public static let clearedKeyVariables = ["PBT_KEY": "", "PBT_SERVER_KEY": "", "PBT_AUTHORIZED_KEYS": ""]

    /// Seconds a stage (or a group of threads) has to stop before it is killed (a process) or
    /// left to end with this process (a thread).
    static let stopGrace = 5.0

    /// Stops every stage still running: SIGTERM, then SIGKILL after a grace period. The event
    /// proxy goes last, so that what the selector published just before it finished still
    /// reaches the subscribers (a TensorBoard writer drains until `experiment.finished`).
    /// Stages stop a group at a time, each group told at once and given one grace: trainers,
    /// then evaluators and mutators, then the selector (with the exporter and the TensorBoard
    /// writer), so that what a worker hands back on its way out reaches a selector that still
    /// runs and keeps it in its store. (Each stage has a process group of its own, so Ctrl-C in
    /// a terminal reaches this process alone.) A stage that does not stop in time is named: a
    /// trainer in the middle of a long step loses the steps of its task.
    private func stopAll() {
        let (proxy, others) = (stages.filter { $0.name == "events" }, stages.filter { $0.name != "events" })
        var late: [Stage] = []
        for order in Stage.StopOrder.allCases {
            let group = others.reversed().filter { $0.stopOrder == order }
            for stage in group { stage.requestStop() }
            let deadline = Clock.monotonic + Self.stopGrace
            for stage in group where !stage.stop(grace: max(deadline - Clock.monotonic, 0)) { late.append(stage) }
        }
        for stage in proxy where !stage.stop(grace: Self.stopGrace) { late.append(stage) }
        for stage in late {
            let what =
                stage.name.hasPrefix("trainer") ? " (the steps of its task are lost: its member trains them again)" : ""
            switch stage.runner {
            case .process:
                console.warning("\(stage.label) did not stop within \(Int(Self.stopGrace)) s and was killed\(what)")
            case .thread:
                console.warning(
                    "\(stage.label) did not stop within \(Int(Self.stopGrace)) s; it ends with this process\(what)")
            }
        }
    }

    /// Makes `PARENT/NAME-TIME` (or `-2`, `-3`… when it exists) and returns it. `mkdir` claims
    /// it: two runs of one experiment started in the same second get a directory each (a check
    /// for existence, then a later mkdir, gave both the same one).
    public static func claimRunDirectory(for name: String, in parent: String = "runs") throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw BadInputError("cannot make the directory \(parent)/ for the run: \(error.localizedDescription)")
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let base = "\(parent)/\(name)-\(formatter.string(from: Date()))"
        for suffix in 1...1_000 {
            let path = suffix == 1 ? base : "\(base)-\(suffix)"
            if mkdir(path, 0o755) == 0 { return path }
            guard errno == EEXIST else {
                throw BadInputError("cannot make the run directory \(path): \(String(cString: strerror(errno)))")
            }
        }
        throw BadInputError("cannot make a run directory for \(name) in \(parent)/: a thousand names were taken")
    }

    /// The last lines of a stage's log; when the stage crashed (a Swift runtime failure, whose
    /// report ends with a register dump and a list of images), the line that says why first.
    public static func tail(of log: String, lines: Int = 15) -> String {
        guard let data = FileManager.default.contents(atPath: log) else { return "(no log at \(log))" }
        let text = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let last = text.suffix(lines)
        let crash = text.last { line in
            Self.crashMarkers.contains { line.contains($0) }
        }
        let cause = crash.flatMap { line in last.contains(line) ? nil : "it crashed: \(line.prefix(300))\n" } ?? ""
        return cause + "last lines of \(log):\n" + last.map { "  " + $0 }.joined(separator: "\n")
    }

    /// What the Swift runtime writes when a process traps.
    static let crashMarkers = ["Fatal error:", "Swift runtime failure:", "Program crashed:"]

    static func describe(progress: PBTEvent.Progress, elapsed: Double) -> String {
        // From the stream, which any publisher may write to: a rate that is no Int shows as 0.
        let rate = Int(exactly: progress.stepsPerSecond.rounded()) ?? 0
        let best = progress.bestScore.map { Self.number($0) } ?? "-"
        let bestMember = progress.bestMember.map { " (member \($0))" } ?? ""
        return String(format: "[%6.1fs] ", elapsed)
            + "steps \(progress.steps) (\(rate)/s)  best \(best)\(bestMember)  trainers \(progress.busyTrainers)/\(progress.trainers) busy  exploits \(progress.exploits)  finished \(progress.membersFinished)/\(progress.population)"
    }

    static func describe(summary: [String: Any], run: RunDirectory, wall: Double) -> String {
        var lines: [String] = []
        let steps = summary["steps"] as? Int ?? 0
        let seconds = summary["seconds"] as? Double ?? 0
        lines.append("")
        lines.append(
            "experiment \(summary["experiment"] as? String ?? "?") finished (\(summary["reason"] as? String ?? "?")) in \(Self.duration(seconds: seconds, wall: wall)): \(steps) member-steps, \(Int((Double(steps) / max(seconds, 1e-9)).rounded())) steps/s, \(summary["exploits"] as? Int ?? 0) exploits"
        )
        if let best = summary["best"] as? [String: Any] {
            lines.append(
                "best: member \(best["member"] as? Int ?? -1), score \(number(best["score"])) at step \(best["step"] as? Int ?? 0)"
            )
            lines.append("  hyperparameters: \(hyperparameters(best["hyperparameters"]))")
            if let metrics = best["metrics"] as? [String: Any], metrics.count > 1 {
                let shown = metrics.keys.sorted().filter { $0 != "score" }.map { "\($0)=\(number(metrics[$0]))" }
                lines.append("  metrics: " + shown.joined(separator: " "))
            }
            if let lineage = best["lineage"] as? [[String: Any]] {
                let chain = lineage.map {
                    "member \($0["member"] as? Int ?? -1) (steps \($0["from_step"] as? Int ?? 0)–\($0["to_step"] as? Int ?? 0))"
                }
                lines.append(
                    "  lineage: "
                        + (chain.count > 8
                            ? (chain.prefix(3) + ["…"] + chain.suffix(4)).joined(separator: " → ")
                            : chain.joined(separator: " → ")))
            }
            if let schedule = best["schedule"] as? [[String: Any]] {
                lines.append(
                    "  schedule (\(schedule.count) segment\(schedule.count == 1 ? "" : "s"); all in summary.json):")
                let shown =
                    schedule.count > 8 ? Array(schedule.prefix(4)) + [[:]] + Array(schedule.suffix(3)) : schedule
                for entry in shown {
                    if entry.isEmpty {
                        lines.append("    …")
                        continue
                    }
                    lines.append(
                        "    steps \(entry["from_step"] as? Int ?? 0)–\(entry["to_step"] as? Int ?? 0): \(hyperparameters(entry["hyperparameters"]))"
                    )
                }
            }
        }
        if let members = summary["members"] as? [[String: Any]] {
            let ranked = members.sorted {
                (($0["score"] as? Double) ?? -.infinity) > (($1["score"] as? Double) ?? -.infinity)
            }
            lines.append(members.count > 12 ? "top 10 of \(members.count) members:" : "members:")
            lines.append("  member   step  score        exploits  hyperparameters")
            for member in ranked.prefix(members.count > 12 ? 10 : members.count) {
                let id = String(member["member"] as? Int ?? -1).padding(toLength: 6, withPad: " ", startingAt: 0)
                let step = String(member["step"] as? Int ?? 0).padding(toLength: 5, withPad: " ", startingAt: 0)
                let shownScore = number(member["score"])
                let score = shownScore + String(repeating: " ", count: max(0, 12 - shownScore.count))
                let exploits = String(member["exploits"] as? Int ?? 0).padding(toLength: 8, withPad: " ", startingAt: 0)
                lines.append(
                    "  \(id)   \(step)  \(score) \(exploits)  \(hyperparameters(member["hyperparameters"]))\((member["failed"] as? Bool ?? false) ? "  (failed)" : "")"
                )
            }
        }
        lines.append("run directory: \(run.path) (summary.json, events.jsonl, checkpoints/, logs/)")
        return lines.joined(separator: "\n")
    }

    /// For a run resumed after an interruption, the experiment's time over all its runs
    /// (`summary.json`'s `seconds`) when it is longer than this run's: `" (61.44 s in all)"`.
    /// How long the experiment took: `seconds` as `summary.json` has it (the rate is of those),
    /// and this invocation's wall time beside it when that differs (start-up, the runs before
    /// a resume).
    static func duration(seconds: Double, wall: Double) -> String {
        if seconds > wall + 0.5 { return String(format: "%.2f s (%.2f s in all, with the runs before)", wall, seconds) }
        if wall > seconds + 0.05 { return String(format: "%.2f s (%.2f s with start-up)", seconds, wall) }
        return String(format: "%.2f s", seconds)
    }

    /// A score or a metric: four decimals; past ±1e9 (a run that diverged) four significant
    /// digits with an exponent.
    static func number(_ value: Any?) -> String {
        if let value = value as? Double { return String(format: abs(value) >= 1e9 ? "%.4g" : "%.4f", value) }
        if let value = value as? Int { return String(value) }
        return "-"
    }

    static func hyperparameters(_ value: Any?) -> String {
        guard let values = value as? [String: Any] else { return "-" }
        return values.keys.sorted().map { key in
            let raw = values[key]!
            if let whole = raw as? Int { return "\(key)=\(whole)" }
            if let number = raw as? Double { return "\(key)=\(HyperparameterValue.format(number))" }
            return "\(key)=\(raw)"
        }.joined(separator: " ")
    }
}

/// A failure of `pbt run` with a message for the user.
public struct RunError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Progress on stderr: one line rewritten in place on a terminal, plain lines elsewhere.
final class Console {
    let isTerminal = isatty(2) == 1
    var quiet = false
    private var open = false

    func line(_ text: String) {
        if quiet { return }
        warning(text)
    }

    /// A line printed even with --quiet: something went wrong that the user should know.
    func warning(_ text: String) {
        finishLine()
        StandardStream.error.write(text + "\n")
    }

    func progress(_ text: String) {
        if isTerminal {
            StandardStream.error.write("\r\u{1B}[K" + text)
            open = true
        } else {
            StandardStream.error.write(text + "\n")
        }
    }

    func finishLine() {
        if open {
            StandardStream.error.write("\n")
            open = false
        }
    }
}
