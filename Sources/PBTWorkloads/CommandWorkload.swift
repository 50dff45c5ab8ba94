import Foundation
import PBTConfig
import PBTCore
import PBTSystem

/// Workload `command`: the trainer runs the user's program, in any language.
///
/// For each training task the program gets one JSON request (one line on stdin) and answers
/// with one JSON result (one line on stdout); its stderr goes to the trainer's log.
///
///     request: {"protocol": 1, "member": 3, "step": 100, "steps": 50, "seed": 1234, "seed32": 1234,
///               "hyperparameters": {"lr": 0.01, ...},
///               "restore": "/run/checkpoints/ab/ab…" or null,   (read it; never modify it)
///               "save": "/tmp/pbt-…/save-3.ckpt",                 (write the new checkpoint here)
///               "evaluate": false}                                 (true: only measure `restore`)
///     result:  {"score": 0.97, "metrics": {"loss": 0.08}, "steps": 50}
///
/// Every number at the top level of the result, and every number under `metrics`, becomes a
/// metric; `steps` (default: all of them) says how many steps were trained.
/// `seed32` is the 64-bit `seed` folded to 32 bits, for libraries that take no more (numpy's
/// legacy seeding, scikit-learn, gymnasium).
/// Settings: `command` (an argv array, never a shell; relative paths are beside the experiment
/// file, see `Experiment.resolve(command:against:exists:)`), `mode` (`once`: a process a task;
/// `persistent`: one process answers a request a line), `timeout` (a task, default 10m),
/// `environment` (extra variables, over the trainer's thread budget and GPU devices: see
/// `ThreadBudget`). A non-zero exit, a timeout, a missing checkpoint or an
/// answer that is not a result fails the task; the selector retries it from the last good
/// checkpoint, and gives the member up after `leases.max_failures` failures in a row.
public final class CommandWorkload: Workload, @unchecked Sendable {
    public enum Mode: String, Sendable {
        case once, persistent
    }

    public let command: [String]
    public let mode: Mode
    public let timeout: Double
    public let environment: [String: String]
    /// Where the program's stderr goes: a file (appended to), or nil for the trainer's own
    /// stderr (its log when it is a process of `pbt run`).
    public let errorLog: String?
    /// What the program is started through (`pbt exec-program --`, so that it dies with the
    /// trainer even when the trainer is killed), or nil to start it directly.
    public let launcher: [String]?
    /// Where requests' `save` (and a `restore` from bytes) go; swept if this trainer is killed.
    private let scratch = ScratchDirectory(prefix: "pbt-command-")
    private let lock = NSLock()
    private var running: ChildProcess?
    private var pending: [UInt8] = []

    public init(
        command: [String], mode: Mode, timeout: Double, environment: [String: String] = [:], errorLog: String? = nil,
        launcher: [String]? = nil
    ) {
        self.command = command
        self.errorLog = errorLog
        self.launcher = launcher
        self.mode = mode
        self.timeout = timeout
        self.environment = environment
    }

    convenience init(
        settings: ConfigNode, experiment: Experiment, resources: TrainingResources? = nil
    ) throws(ConfigError) {
        _ = try settings.map(allowed: ["kind", "command", "mode", "timeout", "environment"])
        let node = try settings.require("command")
        var argv: [String] = []
        for item in try node.list() { argv.append(try item.text()) }
        guard let program = argv.first, !program.isEmpty else {
            throw node.error("needs at least the program, e.g. [python3, train.py]")
        }
        if let directory = experiment.directory {
            argv = Experiment.resolve(command: argv, against: directory, exists: Self.exists)
        }
        let mode = Mode(rawValue: try settings["mode"]?.choice(["once", "persistent"]) ?? "once")!
        var environment: [String: String] = [:]
        for (key, value) in try settings["environment"]?.map() ?? [] { environment[key] = try value.text() }
        // The trainer's thread budget and devices, under what the user set explicitly.
        if let resources { environment = resources.environment(user: environment) }
        self.init(
            command: argv, mode: mode, timeout: try settings["timeout"]?.seconds() ?? 600, environment: environment,
            errorLog: resources?.errorLog, launcher: resources?.launcher)
    }

    deinit {
        running?.stop(grace: 1)
    }

    public func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8] {
        []  // The program starts a member from nothing when `restore` is null.
    }

    public func train(
        _ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        let outcome = try run(request, state: state, evaluate: false, progress: progress)
        return outcome
    }

    public func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double] {
        let request = TrainingRequest(member: 0, step: 0, steps: 0, hyperparameters: hyperparameters, seed: 0)
        return try run(request, state: state, evaluate: true) { _ in true }.metrics
    }

    private func run(
        _ request: TrainingRequest, state: [UInt8], evaluate: Bool, progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        lock.lock()
        defer { lock.unlock() }
        try scratch.make()
        var restore: String?
        if let path = request.checkpointPath {
            restore = path
        } else if !state.isEmpty {
            restore = "\(scratch.path)/restore-\(request.member).ckpt"
            try Data(state).write(to: URL(fileURLWithPath: restore!))
        }
        let save = "\(scratch.path)/save-\(request.member).ckpt"
        try? FileManager.default.removeItem(atPath: save)
        defer {
            try? FileManager.default.removeItem(atPath: save)
            if request.checkpointPath == nil, let restore { try? FileManager.default.removeItem(atPath: restore) }
        }
        let message: [String: Any] = [
            "protocol": 1, "member": request.member, "step": request.step, "steps": request.steps, "seed": request.seed,
            "seed32": Self.seed32(request.seed),
            "hyperparameters": Dictionary(
                uniqueKeysWithValues: request.hyperparameters.sorted.map { ($0.name, Self.json($0.value)) }),
            "restore": restore ?? NSNull(), "save": save, "evaluate": evaluate,
        ]
        var line = try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])
        line.append(0x0A)
        let answer = try exchange([UInt8](line), progress: progress)
        do {
            let result = try Self.parse(answer, persistent: mode == .persistent)
            var steps = request.steps
            if let reported = result.steps {
                guard (0...request.steps).contains(reported) else {
                    throw WorkloadError("\(command[0]) reported \(reported) steps; it was asked for \(request.steps)")
                }
                steps = reported
            }
            if evaluate { return TrainingOutcome(state: state, stepsDone: 0, metrics: result.metrics) }
            guard let saved = FileManager.default.contents(atPath: save) else {
                throw WorkloadError("\(command[0]) did not write its checkpoint to the path in 'save' (\(save))")
            }
            return TrainingOutcome(state: [UInt8](saved), stepsDone: steps, metrics: result.metrics)
        } catch {
            // An answer that is not the one asked for may be a line the program printed besides
            // its answers: the next request would read this request's answer. The next task
            // starts the program afresh.
            discardProgram()
            throw error
        }
    }

    /// Where the program's stderr went, for a message about a program that ended early.
    private var whereItSaidWhy: String {
        errorLog.map { " (its stderr is in \($0))" } ?? ""
    }

    /// Stops the persistent program, if one runs: the next request starts another.
    private func discardProgram() {
        running?.stop(grace: 1)
        running = nil
        pending = []
    }

    /// Sends one request and waits for one line of answer, heartbeating through `progress`.
    private func exchange(_ request: [UInt8], progress: (Int) -> Bool) throws -> String {
        let process: ChildProcess
        if mode == .persistent, running != nil, !saidNothingSinceItsAnswer() {
            // A program that wrote more than its answer since (a log line on stdout) is out of
            // step with its requests: it is started afresh instead.
            discardProgram()
        }
        if mode == .persistent, let running, running.poll() == nil {
            process = running
        } else {
            pending = []
            let argv = (launcher ?? []) + command
            process = try ChildProcess(
                executable: argv[0], arguments: Array(argv.dropFirst()), environment: environment,
                stdin: .pipe, stdout: .pipe, stderr: errorLog.map { .file($0) } ?? .inherit)
            running = process
        }
        let started = Clock.monotonic
        do {
            try process.write(request)
            if mode == .once { process.closeStandardInput() }
            var output = pending
            pending = []
            while true {
                if mode == .persistent, let newline = output.firstIndex(of: 0x0A) {
                    // A blank line is no answer: skip it.
                    if output[..<newline].allSatisfy(Self.isBlank) {
                        output.removeSubrange(...newline)
                        continue
                    }
                    pending = Array(output[(newline + 1)...])
                    return String(decoding: output[..<newline], as: UTF8.self)
                }
                if Clock.monotonic - started > timeout {
                    throw WorkloadError("\(command[0]) did not answer within \(Int(timeout)) s; stopped it")
                }
                _ = progress(0)
                guard let chunk = try process.read(waitingUpTo: 250) else {
                    // End of file: the program exited (or closed stdout).
                    let termination = process.wait(seconds: 5)
                    if mode == .once, termination?.succeeded == true {
                        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").filter {
                            !$0.allSatisfy(\.isWhitespace)
                        }
                        guard let last = lines.last else {
                            throw WorkloadError("\(command[0]) exited without writing a result\(whereItSaidWhy)")
                        }
                        running = nil
                        return String(last)
                    }
                    throw WorkloadError(
                        "\(command[0]) exited with \(termination.map { "\($0)" } ?? "no status") before answering\(whereItSaidWhy)"
                    )
                }
                output += chunk
            }
        } catch {
            discardProgram()  // `process` is `running`
            throw error
        }
    }

    /// Reads what the persistent program wrote since its last answer; true when that is
    /// nothing but blank lines (as the protocol has it: a line of answer for each request).
    private func saidNothingSinceItsAnswer() -> Bool {
        guard let running else { return true }
        while let chunk = try? running.read(waitingUpTo: 0), !chunk.isEmpty { pending += chunk }
        if pending.allSatisfy(Self.isBlank) { pending = [] }
        return pending.isEmpty
    }

    /// Whether a byte of the program's output is white space (a line of it is no answer).
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D || byte == 0x20 || byte == 0x09 }

    /// `seed` folded to 32 bits (its two halves XORed): what libraries that refuse seeds of
    /// 2³² and more (numpy's `RandomState`, scikit-learn, gymnasium) can take.
    public static func seed32(_ seed: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: seed ^ (seed >> 32))
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// Checks that the program of the experiment's `command` can be started here: argv[0]
    /// resolved beside the experiment file when it has a '/', else found on PATH; an
    /// executable file either way. Run by `pbt validate` and `pbt run` before anything starts.
    public static func checkProgram(
        of experiment: Experiment, path searchPath: String? = ProcessInfo.processInfo.environment["PATH"]
    ) throws(ConfigError) {
        guard let written = experiment.writtenCommand?.first, !written.isEmpty,
            let program = experiment.resolvedCommand?.first
        else { return }
        let node = try? experiment.workload.settings["command"]?.list().first
        func refuse(_ problem: String) -> ConfigError {
            ConfigError(
                path: "workload.command[0]", message: "the program \(ConfigNode.quoted(written)) \(problem)",
                line: node?.line)
        }
        try checkScript(of: experiment)
        if program.contains("/") {
            var status = stat()
            guard stat(program, &status) == 0 else {
                let place =
                    program == written
                    ? ""
                    : " (\(ConfigNode.capped(program, to: 200)): relative paths in command are beside the experiment file)"
                throw refuse("does not exist\(place)")
            }
            guard status.st_mode & S_IFMT != S_IFDIR else { throw refuse("is a directory") }
            guard access(program, X_OK) == 0 else {
                throw refuse("is not executable (chmod +x \(ConfigNode.capped(program, to: 200)))")
            }
            return
        }
        for directory in (searchPath ?? "").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + program
            var status = stat()
            if stat(candidate, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return
            }
        }
        throw refuse("is not an executable on PATH (\(ConfigNode.capped(searchPath ?? "", to: 200)))")
    }

    /// Interpreters whose first argument that is not a flag, when it ends in a script's
    /// extension, is the script they run.
    static let interpreters: Set<String> = [
        "python", "python3", "bash", "sh", "zsh", "Rscript", "julia", "node", "ruby", "perl",
    ]
    static let scriptExtensions: Set<String> = ["py", "sh", "R", "r", "jl", "js", "mjs", "rb", "pl"]

    /// The script an interpreter is to run (`[python3, train.py]`) must be there: beside the
    /// experiment file (where a relative path in the command points) or, as written, in the
    /// working directory. A misspelt name would fail every task, each with the interpreter's
    /// complaint in a log, rather than once, here.
    static func checkScript(
        of experiment: Experiment, workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigError) {
        guard let written = experiment.writtenCommand, let resolved = experiment.resolvedCommand,
            written.count >= 2, resolved.count == written.count
        else { return }
        let interpreter = String(written[0].split(separator: "/").last ?? "")
        guard interpreters.contains(interpreter) || interpreter.hasPrefix("python3.") else { return }
        guard let index = written.indices.dropFirst().first(where: { !written[$0].hasPrefix("-") }) else { return }
        let script = written[index]
        guard let dot = script.lastIndex(of: "."),
            scriptExtensions.contains(String(script[script.index(after: dot)...]))
        else { return }
        if exists(resolved[index]) || (!script.hasPrefix("/") && exists(workingDirectory + "/" + script)) { return }
        let node = try? experiment.workload.settings["command"]?.list()[index]
        let places =
            script.hasPrefix("/")
            ? "does not exist"
            : "is neither beside the experiment file\(experiment.directory.map { " (\($0))" } ?? "") nor in the working directory (\(workingDirectory))"
        throw ConfigError(
            path: "workload.command[\(index)]",
            message: "the script \(ConfigNode.quoted(script)) \(places): \(interpreter) would fail every task",
            line: node?.line)
    }

    struct Result {
        var metrics: [String: Double]
        var steps: Int?
    }

    static func parse(_ line: String, persistent: Bool = false) throws -> Result {
        let shown = line.count > 200 ? String(line.prefix(200)) + "…" : line
        guard
            let object = (try? JSONSerialization.jsonObject(with: Data(Self.standardJSON(line).utf8)))
                as? [String: Any]
        else {
            let hint =
                persistent
                ? " (with mode: persistent, stdout carries the answers alone, a line each: print anything else to stderr; the program is started afresh for the next task)"
                : ""
            throw WorkloadError("the program's answer is not a JSON object: '\(shown)'\(hint)")
        }
        var metrics: [String: Double] = [:]
        var steps: Int?
        for (key, value) in object {
            if key == "steps" {
                guard let number = value as? Int else {
                    throw WorkloadError("'steps' in the program's answer is not a whole number: '\(shown)'")
                }
                steps = number
            } else if key == "metrics" {
                guard let nested = value as? [String: Any] else {
                    throw WorkloadError("'metrics' in the program's answer is not an object: '\(shown)'")
                }
                for (name, value) in nested {
                    if let number = Self.number(value) { metrics[name] = number }
                }
            } else if let number = Self.number(value) {
                metrics[key] = number
            }
        }
        guard !metrics.isEmpty else {
            throw WorkloadError("the program's answer has no numbers (expected at least a score): '\(shown)'")
        }
        return Result(metrics: metrics, steps: steps)
    }

    /// What stands for a number JSON cannot hold (see `standardJSON`): a string no program
    /// writes, as it starts with a NUL.
    static let nonFinite: [String: Double] = ["\u{0}nan": .nan, "\u{0}inf": .infinity, "\u{0}-inf": -.infinity]

    /// `line` with the numbers JSON has no words for written as strings `number` reads back:
    /// `NaN`, `Infinity` and `-Infinity` (what Python's `json.dumps` writes for a diverged
    /// loss) and a number too large for a double (`1e999`). Text inside strings is left alone.
    static func standardJSON(_ line: String) -> String {
        let bytes = Array(line.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        func marker(_ name: String) -> [UInt8] { Array("\"\\u0000\(name)\"".utf8) }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                // A string, copied whole with its escapes.
                var end = index + 1
                while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                    end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                end = min(end + 1, bytes.count)
                out += bytes[index..<end]
                index = end
                continue
            }
            let rest = bytes[index...]
            if rest.starts(with: Array("NaN".utf8)) {
                out += marker("nan")
                index += 3
            } else if rest.starts(with: Array("-Infinity".utf8)) {
                out += marker("-inf")
                index += 9
            } else if rest.starts(with: Array("Infinity".utf8)) {
                out += marker("inf")
                index += 8
            } else if byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                var end = index + 1
                while end < bytes.count, Array("0123456789.eE+-".utf8).contains(bytes[end]) { end += 1 }
                let token = String(decoding: bytes[index..<end], as: UTF8.self)
                if let value = Double(token), value.isInfinite {
                    out += marker(value < 0 ? "-inf" : "inf")
                } else {
                    out += bytes[index..<end]
                }
                index = end
            } else {
                out.append(byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON number as a Double; true and false are not numbers. A number JSON has no
    /// words for comes as the string `standardJSON` made of it.
    static func number(_ value: Any) -> Double? {
        if let text = value as? String { return nonFinite[text] }
        guard let number = value as? NSNumber, String(describing: type(of: number)) != "__NSCFBoolean" else {
            return nil
        }
        return number.doubleValue
    }

    static func json(_ value: HyperparameterValue) -> Any {
        switch value {
        case .real(let x): x
        case .integer(let x): x
        case .text(let x): x
        }
    }
}
