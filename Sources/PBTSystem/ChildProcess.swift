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
    /// Our end of the child's stdin, when it was started with `stdin: .pipe`.
    public let standardInput: Int32?
    /// Our end of the child's stdout, when it was started with `stdout: .pipe`.
    public let standardOutput: Int32?
    private let lock = NSLock()
    private var status: Int32?
    private var usage: rusage?

    /// Where a child's standard stream goes.
    public enum Stream: Sendable {
        /// The same as ours.
        case inherit
        /// /dev/null.
        case null
        /// A file (output is appended; input is read).
        case file(String)
        /// A pipe to this process.
        case pipe
    }

    /// Starts `executable` with `arguments`; stdout and stderr go to `output` (a file,
    /// appended to) or are inherited when nil. Extra `environment` entries are added to ours.
    /// With `ownProcessGroup`, the child leads a process group of its own (see the full init).
    public convenience init(
        executable: String, arguments: [String], environment: [String: String] = [:], output: String? = nil,
        ownProcessGroup: Bool = false
    ) throws {
        let stream: Stream = output.map { .file($0) } ?? .inherit
        try self.init(
            executable: executable, arguments: arguments, environment: environment, stdin: .null, stdout: stream,
            stderr: output == nil ? .inherit : stream, ownProcessGroup: ownProcessGroup)
    }

    /// Starts `executable` (looked up in PATH when it has no slash) with full control of its
    /// streams. With `ownProcessGroup`, the child leads a process group of its own, so a
    /// signal a terminal sends to our group (Ctrl-C is SIGINT to the foreground group) does
    /// not reach it: we decide when and how it stops.
    public init(
        executable: String, arguments: [String], environment: [String: String] = [:], stdin: Stream, stdout: Stream,
        stderr: Stream, ownProcessGroup: Bool = false
    ) throws {
        self.arguments = arguments
        let launch = ChildSpawner.Launch(
            executable: executable, arguments: arguments, environment: environment, stdin: stdin, stdout: stdout,
            stderr: stderr, ownProcessGroup: ownProcessGroup)
        switch ChildSpawner.shared.spawn(launch) {
        case .success(let spawned):
            pid = spawned.pid
            standardInput = spawned.stdin
            standardOutput = spawned.stdout
        case .failure(let error):
            throw error
        }
    }

    deinit {
        if let standardInput { close(standardInput) }
        if let standardOutput { close(standardOutput) }
    }

    /// Closes our end of the child's stdin (it then reads end of file).
    public func closeStandardInput() {
        if let standardInput { shutdown(standardInput) }
    }

    private func shutdown(_ descriptor: Int32) {
        // Closing twice would be a bug elsewhere; dup2 /dev/null over it keeps the number valid until deinit.
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        if null >= 0 {
            dup2(null, descriptor)
            close(null)
        }
    }

    /// Writes all of `bytes` to the child's stdin. Fails if the child has gone.
    public func write(_ bytes: [UInt8]) throws {
        guard let standardInput else { throw SpawnError(description: "the child's stdin is not a pipe") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(standardInput, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SpawnError(description: "cannot write to the child's stdin: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Reads what the child's stdout has, waiting up to `milliseconds`. Returns nil at end
    /// of file, an empty array when nothing came in time.
    public func read(waitingUpTo milliseconds: Int32) throws -> [UInt8]? {
        guard let standardOutput else { throw SpawnError(description: "the child's stdout is not a pipe") }
        var descriptor = pollfd(fd: standardOutput, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&descriptor, 1, milliseconds)
        if ready < 0 {
            if errno == EINTR { return [] }
            throw SpawnError(description: "poll on the child's stdout failed: \(String(cString: strerror(errno)))")
        }
        if ready == 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(standardOutput, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR || errno == EAGAIN { return [] }
            throw SpawnError(description: "cannot read the child's stdout: \(String(cString: strerror(errno)))")
        }
        if count == 0 { return nil }
        return Array(buffer[0..<count])
    }

    /// The exit status if the child has ended (reaping it), else nil. Never blocks.
    public func poll() -> Termination? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return Termination(status) }
        var raw: Int32 = 0
        var used = rusage()
        let result = wait4(pid, &raw, WNOHANG, &used)
        if result == pid {
            status = raw
            usage = used
            return Termination(raw)
        }
        return nil
    }

    /// Seconds of CPU (user and system) the child used, with every descendant it waited for
    /// (`pbt run` waits for its stages); nil until the child has been reaped.
    public var cpuSeconds: Double? {
        lock.lock()
        defer { lock.unlock() }
        return usage.map { used in
            func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
            return seconds(used.ru_utime) + seconds(used.ru_stime)
        }
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

    /// What to start and how.
    struct Launch: Sendable {
        let executable: String
        let arguments: [String]
        let environment: [String: String]
        let stdin: ChildProcess.Stream
        let stdout: ChildProcess.Stream
        let stderr: ChildProcess.Stream
        let ownProcessGroup: Bool
    }

    struct Spawned: Sendable {
        let pid: pid_t
        let stdin: Int32?
        let stdout: Int32?
    }

    func spawn(_ launch: Launch) -> Result<Spawned, SpawnError> {
        let done = NSCondition()
        nonisolated(unsafe) var result: Result<Spawned, SpawnError>?
        condition.lock()
        jobs.append {
            let value = Self.spawnNow(launch)
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

    private static func spawnNow(_ launch: Launch) -> Result<Spawned, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var closeInParent: [Int32] = []
        var ourStdin: Int32?
        var ourStdout: Int32?
        func failure(_ message: String) -> Result<Spawned, SpawnError> {
            closeInParent.forEach { close($0) }
            ourStdin.map { _ = close($0) }
            ourStdout.map { _ = close($0) }
            return .failure(SpawnError(description: message))
        }
        for (target, stream) in [(Int32(0), launch.stdin), (1, launch.stdout), (2, launch.stderr)] {
            switch stream {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                if target == 2, case .file(let other) = launch.stdout, other == path {
                    posix_spawn_file_actions_adddup2(&actions, 1, 2)
                } else {
                    posix_spawn_file_actions_addopen(
                        &actions, target, path, target == 0 ? O_RDONLY : (O_WRONLY | O_CREAT | O_APPEND), 0o644)
                }
            case .pipe:
                var ends: [Int32] = [0, 0]
                // All spawns happen on this one thread, so no other child can inherit these
                // descriptors between pipe() and the close-on-exec flag.
                guard pipe(&ends) == 0 else {
                    return failure("cannot make a pipe: \(String(cString: strerror(errno)))")
                }
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let (childEnd, parentEnd) = target == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
                closeInParent.append(childEnd)
                if target == 0 { ourStdin = parentEnd } else { ourStdout = parentEnd }
            }
        }
        var merged = ProcessInfo.processInfo.environment
        merged[ParentWatch.environmentKey] = String(getpid())
        for (key, value) in launch.environment { merged[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([launch.executable] + launch.arguments).map { strdup($0) } + [nil]
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
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if launch.ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let code =
            launch.executable.contains("/")
            ? posix_spawn(&pid, launch.executable, &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, launch.executable, &actions, &attributes, argv, envp)
        guard code == 0 else {
            return failure("cannot start \(launch.executable): \(String(cString: strerror(code)))")
        }
        closeInParent.forEach { close($0) }
        return .success(Spawned(pid: pid, stdin: ourStdin, stdout: ourStdout))
    }
}
