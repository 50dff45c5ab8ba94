import Foundation
import PBTConfig
import PBTCore
import PBTSystem

/// `pbt bench pipeline`: what the pipeline costs beside raw ZeroMQ of the same shape, how
/// busy it keeps trainers beside a synchronous (generational) run, and how the selector
/// scales. Every figure is measured in this invocation.
public struct PipelineBench {
    public struct Options: Sendable {
        public var executable: String
        public var output: String
        /// Small sizes: checks that every part runs and prints its table (for CI).
        public var smoke: Bool
        /// Another build's `pbt` to run the throughput experiment beside this one, or nil.
        public var baseline: String?
        /// Rounds of that comparison: each runs the other build, then this one a process a
        /// stage, then this one in one process.
        public var rounds: Int

        public init(executable: String, output: String, smoke: Bool, baseline: String? = nil, rounds: Int = 3) {
            self.executable = executable
            self.output = output
            self.smoke = smoke
            self.baseline = baseline
            self.rounds = rounds
        }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Runs every part; returns the tables.
    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        // The comparison the user asked for by name goes first: a baseline that is not a build of
        // pbt fails in seconds, not after the rest.
        var sections = try options.baseline.map { [try against(baseline: $0, log: log)] } ?? []
        sections += try throughputAndTurnaround(log: log)
        sections.append(try utilisation(log: log))
        sections.append(try selectorScale(log: log))
        sections.append(try growth(log: log))
        return sections.joined(separator: "\n\n")
    }

    /// Member-steps a second at 64 members on 4 trainers beside the raw ring, and turnaround.
    func throughputAndTurnaround(log: (String) -> Void) throws -> [String] {
        var sections: [String] = []
        let steps = options.smoke ? 20 : 200
        // 1 and 2: throughput and turnaround, pipeline beside raw ring. The ring takes the
        // pipeline's path (hub ROUTER → trainer DEALER, trainer PUSH → evaluator PULL, evaluator
        // PUSH → hub PULL) and runs twice: with the pipeline's flow control (a message waits at
        // the hub until a trainer asks for it; a trainer holds one) and without (PUSH/PULL on
        // every leg: messages queue at the trainers, which invariant 2 forbids).
        log("throughput: population 64, 4 trainers, ready every step")
        let loaded = try pipeline(
            name: "throughput", population: 64, trainers: 4, maxSteps: steps, exploit: "truncation", turnaround: true)
        // The same run with every stage a thread of `pbt run` over inproc:// (no turnaround:
        // the turnaround log is the trainer process's).
        let inProcess = try pipeline(
            name: "throughput-in-process", population: 64, trainers: 4, maxSteps: steps, exploit: "truncation",
            runArguments: ["--in-process"])
        let rawFlow = try raw(
            trainers: 4, inFlight: 64, seconds: options.smoke ? 0.5 : 3, flowControl: Self.flowControl)
        let rawUnbounded = try raw(trainers: 4, inFlight: 64, seconds: options.smoke ? 0.5 : 3, flowControl: .unbounded)
        // The same two runs at a tenth of the steps: what start-up and shutdown cost cancels out
        // of the difference, which leaves the CPU of the member-steps alone.
        log("CPU a member-step: the same runs, a tenth of the steps (raw: a sixth of the time)")
        let loadedShort = try pipeline(
            name: "throughput-short", population: 64, trainers: 4, maxSteps: max(steps / 10, 2), exploit: "truncation")
        let inProcessShort = try pipeline(
            name: "throughput-in-process-short", population: 64, trainers: 4, maxSteps: max(steps / 10, 2),
            exploit: "truncation", runArguments: ["--in-process"])
        let rawFlowShort = try raw(
            trainers: 4, inFlight: 64, seconds: options.smoke ? 0.1 : 0.5, flowControl: Self.flowControl)
        let rawUnboundedShort = try raw(
            trainers: 4, inFlight: 64, seconds: options.smoke ? 0.1 : 0.5, flowControl: .unbounded)
        log("turnaround: one member in flight")
        let single = try pipeline(
            name: "latency", population: 1, trainers: 1, maxSteps: options.smoke ? 50 : 2000, exploit: "none",
            turnaround: true)
        let rawSingle = try raw(
            trainers: 1, inFlight: 1, seconds: options.smoke ? 0.5 : 3, flowControl: Self.flowControl)
        var throughput = BenchTable(["", "pipeline", "raw ZeroMQ ring", "pipeline / raw"])
        throughput.add([
            "member-steps/s (population 64, 4 trainers; raw: 64 in flight, the same flow control)",
            Self.rate(loaded.rate), Self.rate(rawFlow.rate), Self.percent(loaded.rate / rawFlow.rate),
        ])
        throughput.add([
            "the same; raw: 64 in flight, queued at the workers", Self.rate(loaded.rate), Self.rate(rawUnbounded.rate),
            Self.percent(loaded.rate / rawUnbounded.rate),
        ])
        throughput.add([
            "in one process (pbt run --in-process); raw: the same flow control", Self.rate(inProcess.rate),
            Self.rate(rawFlow.rate), Self.percent(inProcess.rate / rawFlow.rate),
        ])
        throughput.add([
            "in one process; raw: queued at the workers", Self.rate(inProcess.rate), Self.rate(rawUnbounded.rate),
            Self.percent(inProcess.rate / rawUnbounded.rate),
        ])
        sections.append(
            "Throughput (no-op workload, population 64, 4 trainers, ready every step; raw: laps hub → trainer → evaluator → hub, the pipeline's path, a process each)\n"
                + throughput.description + "\n"
                + "In one process the pipeline makes \(String(format: "%.2f", inProcess.rate / loaded.rate))× the member-steps of a process a stage.\n"
                + "The flow control alone: the raw ring makes \(Self.rate(rawFlow.rate)) laps/s with it, \(Self.rate(rawUnbounded.rate)) without "
                + "(\(Self.percent(rawFlow.rate / rawUnbounded.rate))).")
        sections.append(
            Self.cpuTable(
                pipelines: [
                    ("pipeline, a process a stage", loaded, loadedShort),
                    ("pipeline, in one process", inProcess, inProcessShort),
                ],
                rings: [
                    ("raw ring, the same flow control", rawFlow, rawFlowShort),
                    ("raw ring, queued at the workers", rawUnbounded, rawUnboundedShort),
                ]))
        var latency = BenchTable([
            "turnaround (ms)", "pipeline median", "pipeline p99", "raw median", "raw p99", "median ÷ raw",
        ])
        for (label, pipe, rawRun) in [
            ("one member in flight", single, rawSingle), ("population 64, 4 trainers", loaded, rawFlow),
        ] {
            latency.add([
                label, Self.ms(Statistics.median(pipe.turnarounds)),
                Self.ms(Statistics.percentile(pipe.turnarounds, 0.99)),
                Self.ms(Statistics.median(rawRun.turnarounds)),
                Self.ms(Statistics.percentile(rawRun.turnarounds, 0.99)),
                String(
                    format: "%.2f×",
                    (Statistics.median(pipe.turnarounds) ?? 0) / max(Statistics.median(rawRun.turnarounds) ?? 1, 1e-9)),
            ])
        }
        sections.append(
            "Turnaround: from a trainer sending its result to it receiving the member's next task\n"
                + latency.description)

        return sections
    }

    /// The throughput experiment on another build of `pbt` (an earlier commit, say) and on this
    /// one, in rounds that take turns so that both see the machine alike; medians of the
    /// rounds. Every run is measured the same way, from the `member.trained` lines of its
    /// event log (time, `from_step`, `step`), which every version of the log has.
    func against(baseline: String, log: (String) -> Void) throws -> String {
        let steps = options.smoke ? 20 : 200
        let rounds = max(options.rounds, 1)
        var rates: [[Double]] = [[], [], []]
        for round in 1...rounds {
            log("against the baseline: round \(round) of \(rounds)")
            for (index, (name, executable, arguments)) in [
                ("baseline", baseline, [String]()), ("processes", options.executable, []),
                ("in-process", options.executable, ["--in-process"]),
            ].enumerated() {
                let run = "against-\(name)-\(round)"
                _ = try pipeline(
                    name: run, population: 64, trainers: 4, maxSteps: steps, exploit: "truncation",
                    runArguments: arguments, executable: executable)
                rates[index].append(try Self.trainedRate(log: "\(options.output)/\(run)/events.jsonl"))
            }
        }
        let base = Statistics.median(rates[0]) ?? 0
        var table = BenchTable(["build", "member-steps/s (median)", "lowest", "highest", "÷ baseline"])
        for (label, samples) in zip(
            ["baseline: \(baseline)", "this build, a process a stage", "this build, in one process"], rates)
        {
            let median = Statistics.median(samples) ?? 0
            table.add([
                label, Self.rate(median), Self.rate(samples.min() ?? 0), Self.rate(samples.max() ?? 0),
                String(format: "%.2f×", median / max(base, 1e-9)),
            ])
        }
        return
            "Against another build (the throughput experiment: no-op workload, population 64, 4 trainers, ready every step; \(rounds) rounds, the builds taking turns)\n"
            + table.description
    }

    /// Trainers busy, asynchronous beside synchronous.
    func utilisation(log: (String) -> Void) throws -> String {
        var sections: [String] = []
        // 3: utilisation, asynchronous beside synchronous.
        log("utilisation: 8 trainers, steps of 10–50 ms")
        var utilisation = BenchTable([
            "mode", "trainers busy: whole run", "until the first member finishes", "wall seconds", "member-steps",
        ])
        for synchronous in [false, true] {
            let run = try pipeline(
                name: synchronous ? "utilisation-sync" : "utilisation-async", population: 32, trainers: 8,
                maxSteps: options.smoke ? 8 : 120,
                exploit: "truncation", interval: 4, stepSeconds: (0.01, 0.05), synchronous: synchronous)
            utilisation.add([
                synchronous ? "synchronous (barrier)" : "asynchronous pipeline", Self.percent(run.busy),
                Self.percent(run.steadyBusy),
                String(format: "%.1f", run.window), String(run.steps),
            ])
        }
        sections.append(
            "Utilisation (8 trainers, population 32, ready every 4 steps, each step 10–50 ms drawn per member and step)\n"
                + utilisation.description)

        return sections.joined()
    }

    /// The selector's state machine alone, at 1,000 to 100,000 members.
    func selectorScale(log: (String) -> Void) throws -> String {
        var sections: [String] = []
        // 4: the selector at scale, in process.
        log("selector scale")
        var scale = BenchTable(["population", "decisions/s", "µs a decision", "resident KiB a member"])
        for population in options.smoke ? [1_000] : [1_000, 10_000, 100_000] {
            let result = SelectorScale.measure(
                population: population, decisions: options.smoke ? 5_000 : max(50_000, population * 2))
            scale.add([
                String(population), Self.rate(result.decisionsPerSecond),
                String(format: "%.1f", 1e6 / result.decisionsPerSecond),
                String(format: "%.2f", result.residentBytesPerMember / 1024),
            ])
        }
        sections.append(
            "The selector's state machine alone (simulated workers answering at once; truncation, ready every step)\n"
                + scale.description)

        return sections.joined()
    }

    /// Throughput and turnaround as trainers and population grow.
    func growth(log: (String) -> Void) throws -> String {
        var sections: [String] = []
        let steps = options.smoke ? 20 : 200
        // 5: growth with trainers and population.
        log("growth")
        var growth = BenchTable([
            "population", "trainers", "member-steps/s", "raw laps/s: flow control", "pipeline / raw",
            "raw laps/s: queued at workers", "pipeline / raw",
            "turnaround median (ms)",
        ])
        let shapes: [(Int, Int)] =
            options.smoke
            ? [(16, 1), (16, 4)]
            : [(64, 1), (64, 2), (64, 4), (64, 8), (64, 16), (64, 32), (16, 4), (256, 4), (1024, 4)]
        for (population, trainers) in shapes {
            let run = try pipeline(
                name: "growth-\(population)-\(trainers)", population: population, trainers: trainers,
                maxSteps: max(steps * 64 / population, 10), exploit: "truncation", turnaround: true)
            let flow = try raw(
                trainers: trainers, inFlight: population, seconds: options.smoke ? 0.5 : 2,
                flowControl: Self.flowControl)
            let unbounded = try raw(
                trainers: trainers, inFlight: population, seconds: options.smoke ? 0.5 : 2, flowControl: .unbounded)
            growth.add([
                String(population), String(trainers), Self.rate(run.rate), Self.rate(flow.rate),
                Self.percent(run.rate / flow.rate), Self.rate(unbounded.rate),
                Self.percent(run.rate / unbounded.rate), Self.ms(Statistics.median(run.turnarounds)),
            ])
        }
        sections.append(
            "Growth (no-op workload, ready every step; raw: as many messages in flight as members)\n"
                + growth.description)
        return sections.joined()
    }

    /// CPU (user and system, every process of the run) a member-step, and the rate it allows
    /// on this machine's cores: from a run less a shorter run of the same (a pipeline's at a
    /// tenth of the steps, a raw ring's at a sixth of the time), so that start-up and shutdown
    /// cancel out.
    static func cpuTable(pipelines: [(String, PipelineRun, PipelineRun)], rings: [(String, RawRun, RawRun)]) -> String {
        let cores = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
        var table = BenchTable([
            "", "member-steps/s (raw: laps/s)", "CPU µs a member-step (raw: a lap)",
            "at most, if only CPU limited it (\(cores) cores)",
        ])
        func row(_ label: String, rate: Double, cpuSeconds: Double, steps: Int) {
            let perStep = cpuSeconds / Double(max(steps, 1))
            table.add([
                label, Self.rate(rate), String(format: "%.0f", perStep * 1e6),
                perStep > 0 ? Self.rate(Double(cores) / perStep) : "-",
            ])
        }
        for (label, run, short) in pipelines {
            row(label, rate: run.rate, cpuSeconds: run.cpuSeconds - short.cpuSeconds, steps: run.steps - short.steps)
        }
        for (label, ring, short) in rings {
            row(label, rate: ring.rate, cpuSeconds: ring.cpuSeconds - short.cpuSeconds, steps: ring.laps - short.laps)
        }
        return
            "CPU a member-step (user and system time of every process: a run less a shorter run of the same, so that start-up and shutdown cancel)\n"
            + table.description
    }

    struct PipelineRun {
        var rate: Double
        var steps: Int
        var window: Double
        var busy: Double
        /// Busy fraction until the first member finishes (before the population starts to thin).
        var steadyBusy: Double
        var turnarounds: [Double]
        /// CPU seconds of `pbt run` and every process it started, start-up included.
        var cpuSeconds: Double
    }

    /// Member-steps a second between the first and the last `member.trained` line of an event
    /// log (the steps of the first excluded), read as plain JSON: a log of any version of pbt.
    static func trainedRate(log path: String) throws -> Double {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var first: Double?
        var last = 0.0
        var steps = 0
        for line in text.split(separator: "\n") where line.contains("\"member.trained\"") {
            guard
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["event"] as? String == "member.trained", let time = object["time"] as? Double,
                let step = object["step"] as? Int, let fromStep = object["from_step"] as? Int
            else { continue }
            if first == nil { first = time } else { steps += step - fromStep }
            last = time
        }
        guard let first, last > first else { throw BenchError("\(path) has too few member.trained lines for a rate") }
        return Double(steps) / (last - first)
    }

    func pipeline(
        name: String, population: Int, trainers: Int, maxSteps: Int, exploit: String, interval: Int = 1,
        stepSeconds: (Double, Double) = (0, 0), synchronous: Bool = false, turnaround: Bool = false,
        runArguments: [String] = [], executable: String? = nil
    ) throws -> PipelineRun {
        let run = "\(options.output)/\(name)"
        try? FileManager.default.removeItem(atPath: run)
        let logs = "\(options.output)/\(name)-turnaround"
        try? FileManager.default.removeItem(atPath: logs)
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let file = "\(options.output)/\(name).yml"
        try """
        name: \(name)
        seed: 1
        workload: {kind: noop, step_seconds: \(stepSeconds.0), step_seconds_max: \(max(stepSeconds.1, stepSeconds.0))}
        population: \(population)
        interval: \(interval)
        stop: {max_steps: \(maxSteps)}
        synchronous: \(synchronous)
        exploit: {strategy: \(exploit)}
        explore: {strategy: perturb}
        hyperparameters:
          x: {uniform: [0, 1]}
        checkpoints: {garbage_collection: false}
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let program = executable ?? options.executable
        let process = try ChildProcess(
            executable: program,
            arguments: ["run", file, "--output", run, "--quiet", "--trainers", String(trainers)] + runArguments,
            environment: turnaround ? ["PBT_TURNAROUND_LOG_DIR": logs] : [:], output: "\(options.output)/\(name).log")
        guard let termination = process.wait(seconds: Self.runLimit) else {
            process.stop(grace: 2)
            throw BenchError(
                "\(program) run \(file) did not finish within \(Int(Self.runLimit)) s; see \(options.output)/\(name).log"
            )
        }
        guard termination.succeeded else {
            throw BenchError("\(program) run \(file) failed (\(termination)); see \(options.output)/\(name).log")
        }
        guard FileManager.default.fileExists(atPath: run + "/events.jsonl") else {
            throw BenchError(
                "\(program) run \(file) left no event log at \(run)/events.jsonl: is \(program) a build of pbt?")
        }
        var firstAssigned = Double.infinity
        var firstTrained = Double.infinity
        var lastTrained = 0.0
        var steps = 0
        var stepsAfterFirst = 0
        var busy = 0.0
        var firstFinished = Double.infinity
        var trainedTasks: [(end: Double, seconds: Double)] = []
        for timed in try BenchEvents.read(run + "/events.jsonl") {
            let time = timed.time
            switch timed.event {
            case .memberFinished:
                firstFinished = min(firstFinished, time)
            case .memberAssigned(_, _, .trainer, _, _):
                firstAssigned = min(firstAssigned, time)
            case .memberTrained(let event):
                let trained = event.stepsTrained
                steps += trained
                if firstTrained.isFinite { stepsAfterFirst += trained }
                firstTrained = min(firstTrained, time)
                lastTrained = max(lastTrained, time)
                busy += event.seconds
                trainedTasks.append((time, event.seconds))
            default:
                break
            }
        }
        var samples: [Double] = []
        // Trainers' logs only (workers are named by role in `pbt run`): the turnaround is a trainer's.
        for file in (try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? [] where file.hasPrefix("trainer") {
            let text = (try? String(contentsOfFile: "\(logs)/\(file)", encoding: .utf8)) ?? ""
            samples += text.split(separator: "\n").compactMap { Double($0) }
        }
        let window = lastTrained - firstAssigned
        // Until the first member finishes: the time of each task inside the window (clipped at its start).
        let steadyEnd = min(firstFinished, lastTrained)
        let steadyWork = trainedTasks.reduce(0.0) { sum, task in
            let start = max(task.end - task.seconds, firstAssigned)
            return sum + max(min(task.end, steadyEnd) - start, 0)
        }
        return PipelineRun(
            rate: Double(stepsAfterFirst) / max(lastTrained - firstTrained, 1e-9), steps: steps, window: window,
            busy: busy / (Double(trainers) * max(window, 1e-9)),
            steadyBusy: steadyWork / (Double(trainers) * max(steadyEnd - firstAssigned, 1e-9)), turnarounds: samples,
            cpuSeconds: process.cpuSeconds ?? 0)
    }

    struct RawRun {
        var rate: Double
        var turnarounds: [Double]
        /// Laps the hub counted, and the CPU seconds of every process of the ring, start-up included
        /// (`cpuTable` takes a shorter run's from it).
        var laps: Int
        var cpuSeconds: Double
    }

    /// Seconds one `pbt run` of the bench may take (each takes seconds; one that hangs, a
    /// baseline that is not pbt say, is stopped and named).
    static let runLimit = 600.0

    /// The pipeline's flow control for the raw ring: a trainer holds one message at a time and
    /// asks the hub for the next once it has pushed the last on to an evaluator.
    static let flowControl = RawRing.FlowControl.credits(window: 1)

    /// Runs the raw ring as the pipeline runs: hub, evaluators, trainers as processes, over
    /// ipc:// in a private directory (as `pbt run` connects its stages). The hub starts first,
    /// then the evaluators bind their inlets, then the trainers connect to the hub and to them.
    func raw(
        trainers: Int, evaluators: Int = 1, inFlight: Int, seconds: Double, flowControl: RawRing.FlowControl
    ) throws -> RawRun {
        let directory =
            "\(options.output)/raw-\(trainers)-\(inFlight)-\(flowControl == .unbounded ? "unbounded" : "flow")"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Socket paths are limited to about 100 bytes: a short directory of our own in /tmp.
        var template = Array("/tmp/pbt-raw-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw BenchError("cannot make a directory for the raw ring's sockets in /tmp")
        }
        let sockets = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: sockets) }
        var window: [String] = []
        if case .credits(let perTrainer) = flowControl { window = ["--trainer-window", String(perTrainer)] }
        let hub = try ChildProcess(
            executable: options.executable,
            arguments: [
                "bench", "raw-hub", "--bind", "ipc://\(sockets)/work", "--inlet", "ipc://\(sockets)/inlet",
                "--trainers", String(trainers),
                "--evaluators", String(evaluators), "--in-flight", String(inFlight), "--seconds", String(seconds),
                "--flow-control", flowControl.name,
                "--ready-file", "\(directory)/hub.json",
            ] + window,
            environment: [:], stdin: .null, stdout: .file("\(directory)/hub.out"), stderr: .file("\(directory)/hub.err")
        )
        var workers: [ChildProcess] = []
        // Whatever fails, no process of the ring outlives it (they would also die with this process).
        defer {
            if hub.poll() == nil { hub.stop(grace: 1) }
            for worker in workers where worker.poll() == nil { worker.stop(grace: 1) }
        }
        let hubEndpoints = try Self.endpoints(in: "\(directory)/hub.json", of: hub, log: "\(directory)/hub.err")
        guard let work = hubEndpoints["work"], let inlet = hubEndpoints["inlet"] else {
            throw BenchError("the raw hub did not report its endpoints")
        }
        var evaluatorInlets: [String] = []
        for index in 0..<evaluators {
            let evaluator = try ChildProcess(
                executable: options.executable,
                arguments: [
                    "bench", "raw-worker", "--evaluator", "--bind", "ipc://\(sockets)/e\(index)", "--connect", inlet,
                    "--name", "e\(index)",
                    "--ready-file", "\(directory)/e\(index).json",
                ],
                output: "\(directory)/e\(index).log")
            workers.append(evaluator)
            guard
                let endpoint = try Self.endpoints(
                    in: "\(directory)/e\(index).json", of: evaluator, log: "\(directory)/e\(index).log")["inlet"]
            else {
                throw BenchError("raw evaluator e\(index) did not report its endpoint")
            }
            evaluatorInlets.append(endpoint)
        }
        for index in 0..<trainers {
            workers.append(
                try ChildProcess(
                    executable: options.executable,
                    arguments: [
                        "bench", "raw-worker", "--connect", work, "--evaluators",
                        evaluatorInlets.joined(separator: ","), "--flow-control", flowControl.name,
                        "--name", "t\(index)", "--turnaround-log", "\(directory)/t\(index).turnaround",
                    ],
                    output: "\(directory)/t\(index).log"))
        }
        guard hub.wait(seconds: seconds + 60)?.succeeded == true else {
            throw BenchError("the raw hub failed; see \(directory)/hub.err")
        }
        for worker in workers where worker.wait(seconds: 10) == nil { worker.stop(grace: 1) }
        let output = try String(contentsOfFile: "\(directory)/hub.out", encoding: .utf8)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let laps = object["laps"] as? Int, let measured = object["seconds"] as? Double
        else { throw BenchError("the raw hub printed no result") }
        var samples: [Double] = []
        for index in 0..<trainers {
            let text = (try? String(contentsOfFile: "\(directory)/t\(index).turnaround", encoding: .utf8)) ?? ""
            samples += text.split(separator: "\n").compactMap { Double($0) }
        }
        let cpu = ([hub] + workers).reduce(0.0) { $0 + ($1.cpuSeconds ?? 0) }
        return RawRun(rate: Double(laps) / measured, turnarounds: samples, laps: laps, cpuSeconds: cpu)
    }

    /// The endpoints a raw ring process writes to its ready file once bound; fails when it
    /// ends first or takes more than 30 s.
    static func endpoints(in readyFile: String, of process: ChildProcess, log: String) throws -> [String: String] {
        let deadline = Clock.monotonic + 30
        while Clock.monotonic < deadline {
            if let data = FileManager.default.contents(atPath: readyFile),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let endpoints = object["endpoints"] as? [String: String]
            {
                return endpoints
            }
            if let end = process.poll() {
                throw BenchError(
                    "pbt \(process.arguments.prefix(2).joined(separator: " ")) ended (\(end)) before it was ready; see \(log)"
                )
            }
            usleep(10_000)
        }
        throw BenchError(
            "pbt \(process.arguments.prefix(2).joined(separator: " ")) was not ready after 30 s; see \(log)")
    }

    static func rate(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        return rounded >= 10_000 ? "\(rounded / 1000),\(String(format: "%03d", rounded % 1000))" : String(rounded)
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f %%", value * 100) }

    static func ms(_ value: Double?) -> String { value.map { String(format: "%.3f", $0 * 1000) } ?? "-" }
}

/// The selector's state machine driven by simulated workers that answer at once.
enum SelectorScale {
    struct Result {
        let decisionsPerSecond: Double
        let residentBytesPerMember: Double
    }

    static func residentBytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Double(fields[1]) ?? 0) * Double(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    static func measure(population: Int, decisions: Int) -> Result {
        let space = SearchSpace([
            Hyperparameter(name: "lr", domain: .logUniform(low: 1e-4, high: 1)),
            Hyperparameter(name: "m", domain: .uniform(low: 0, high: 1)),
        ])
        let settings = SelectorSettings(
            experimentID: "scale", seed: 1, interval: 1, stop: StopCondition(maxSteps: 1_000_000),
            exploit: .truncation(fraction: 0.25),
            explores: true, leaseTimeout: 1e9, silenceTimeout: 1e9, minTrainers: 1, progressInterval: 1e9, space: space)
        var random = SplitMix64(seed: 5)
        let before = residentBytes()
        let initial = (0..<population).map { _ in space.sample(using: &random) }
        var machine = SelectorMachine(settings: settings, name: "scale", initial: initial)
        var pending: [SelectorMachine.Action] = []
        func collect(_ actions: [SelectorMachine.Action]) {
            for action in actions {
                switch action {
                case .send(_, .train), .explore: pending.append(action)
                default: break
                }
            }
        }
        collect(machine.start(now: 0))
        let trainers = (0..<16).map { WorkerID([1, UInt8($0)]) }
        var received: [WorkerID: Int] = [:]
        let evaluator = WorkerID([2])
        let mutator = WorkerID([3])
        collect(
            machine.handle(
                .ready(
                    Ready(
                        role: .evaluator, received: 0, name: "e", experimentID: "scale",
                        inlet: PeerEndpoint(endpoint: "inproc://e"))), from: evaluator, now: 0))
        collect(
            machine.handle(
                .ready(
                    Ready(
                        role: .mutator, received: 0, name: "m", experimentID: "scale",
                        inlet: PeerEndpoint(endpoint: "inproc://m"))), from: mutator, now: 0))
        for trainer in trainers {
            collect(
                machine.handle(
                    .ready(
                        Ready(
                            role: .trainer, received: 0, name: "t", experimentID: "scale",
                            routes: machine.evaluatorRoutes.generation)), from: trainer, now: 0))
        }
        let checkpoint = String(repeating: "ab", count: 32)
        var scored = 0
        var started = 0.0
        var now = 0.0
        var cursor = 0
        while scored < decisions + population, cursor < pending.count {
            let action = pending[cursor]
            cursor += 1
            if cursor > 100_000 {
                pending.removeFirst(cursor)
                cursor = 0
            }
            now += 1e-6
            switch action {
            case .send(let id, .train(let task)):
                // The trainer hands the member on and asks for more; the evaluator scores it.
                received[id, default: 0] += 1
                let step = task.step + task.steps
                let credit = Ready(
                    role: .trainer, received: received[id]!, name: "t", experimentID: "scale",
                    routes: machine.evaluatorRoutes.generation,
                    handed: HandedOn(member: task.member, version: task.version, step: step))
                collect(machine.handle(.ready(credit), from: id, now: now))
                scored += 1
                if scored == population { started = Clock.monotonic }  // every member scored once: the board is full
                let trained = TrainResult(
                    member: task.member, version: task.version, fromStep: task.step, step: step, checkpoint: checkpoint,
                    metrics: [:], seconds: 0)
                collect(
                    machine.handle(
                        .scored(EvaluateResult(trained: trained, score: Double.random(in: 0..<1, using: &random))),
                        from: evaluator, now: now))
            case .explore(let task):
                collect(
                    machine.handle(
                        .explored(
                            ExploreResult(
                                member: task.member, version: task.version, hyperparameters: task.hyperparameters,
                                changes: [:])), from: mutator, now: now))
            default:
                break
            }
            if scored % 1000 == 0 { collect(machine.tick(now: now)) }
        }
        let seconds = max(Clock.monotonic - started, 1e-9)
        let after = residentBytes()
        return Result(
            decisionsPerSecond: Double(scored - population) / seconds,
            residentBytesPerMember: max(after - before, 0) / Double(population))
    }
}
