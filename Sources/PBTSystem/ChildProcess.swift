import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process spawned with posix_spawn, which dies with its parent (see `ParentWatch`).
///
/// Spawning happens on one long-lived thread: Linux sends the parent-death signal when the
/// *thread* that spawned a child exits, and threads of a pool come and go.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let arguments: [String]
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` with `arguments`; stdout and stderr go to `output` (a file,
    /// appended to) or are inherited when nil. Extra `environment` entries are added to ours.
    public init(executable: String, arguments: [String], environment: [String: String] = [:], output: String? = nil, stdin: String? = "/dev/null") throws {
        self.arguments = arguments
        let result = ChildSpawner.shared.spawn(executable: executable, arguments: arguments, environment: environment, output: output, stdin: stdin)
        switch result {
        case .success(let pid): self.pid = pid
        case .failure(let error): throw error
        }
    }

    /// The exit status if the child has ended (reaping it), else nil. Never blocks.
    public func poll() -> Termination? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return Termination(status) }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            status = raw
            return Termination(raw)
        }
        return nil
    }

    /// Waits up to `seconds` for the child to end.
    @discardableResult
    public func wait(seconds: Double) -> Termination? {
        let deadline = Clock.monotonic + seconds
        while true {
            if let termination = poll() { return termination }
            if Clock.monotonic >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// Sends `signal` unless the child has already been reaped.
    public func send(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if status == nil { kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not ended after `grace` seconds; returns once reaped.
    @discardableResult
    public func stop(grace: Double = 5) -> Termination {
        if let done = poll() { return done }
        send(SIGTERM)
        if let done = wait(seconds: grace) { return done }
        send(SIGKILL)
        return wait(seconds: 30) ?? Termination(9)
    }

    /// How a child ended.
    public struct Termination: Sendable, Equatable, CustomStringConvertible {
        public let exitCode: Int32?
        public let signal: Int32?

        init(_ raw: Int32) {
            if raw & 0x7f == 0 {
                exitCode = (raw >> 8) & 0xff
                signal = nil
            } else {
                exitCode = nil
                signal = raw & 0x7f
            }
        }

        public var succeeded: Bool { exitCode == 0 }

        public var description: String {
            if let exitCode { return "exit code \(exitCode)" }
            return "signal \(signal ?? 0)"
        }
    }
}

/// The path of the running executable (for spawning `pbt` again).
public var currentExecutablePath: String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if count > 0 { return String(cString: Array(buffer[0..<count]) + [0]) }
    return CommandLine.arguments[0]
}

/// Why a child could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
}

/// The one thread that spawns children.
final class ChildSpawner: @unchecked Sendable {
    static let shared = ChildSpawner()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "pbt-spawner"
        thread.start()
    }

    private func serve() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    func spawn(executable: String, arguments: [String], environment: [String: String], output: String?, stdin: String?) -> Result<pid_t, SpawnError> {
        let done = NSCondition()
        nonisolated(unsafe) var result: Result<pid_t, SpawnError>?
        condition.lock()
        jobs.append {
            let value = Self.spawnNow(executable: executable, arguments: arguments, environment: environment, output: output, stdin: stdin)
            done.lock()
            result = value
            done.signal()
            done.unlock()
        }
        condition.signal()
        condition.unlock()
        done.lock()
        while result == nil { done.wait() }
        done.unlock()
        return result!
    }

    private static func spawnNow(executable: String, arguments: [String], environment: [String: String], output: String?, stdin: String?) -> Result<pid_t, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0) }
        if let output {
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var merged = ProcessInfo.processInfo.environment
        merged[ParentWatch.environmentKey] = String(getpid())
        for (key, value) in environment { merged[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // A child starts with no signal blocked and default handlers, whatever the spawning
        // thread had: threads of a pool often block signals, and the child would inherit that.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard code == 0 else {
            return .failure(SpawnError(description: "cannot start \(executable): \(String(cString: strerror(code)))"))
        }
        return .success(pid)
    }
}
