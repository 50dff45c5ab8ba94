import Foundation
import PBTSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `pbt` process run to its end under an address-space limit, with its wall time and its
/// peak resident memory measured by wait4(2) — for that child alone, unlike
/// getrusage(RUSAGE_CHILDREN), which mixes in every child of the test process.
///
///     /bin/sh -c 'ulimit -v LIMIT; exec pbt ARGUMENTS'      (the same pid throughout)
///
/// The limit keeps a test of a memory bomb from taking the machine down when the bomb goes off.
struct MeasuredProcess {
    /// Where the child's stderr goes; stdout always goes to the output file.
    enum StandardError: Sendable {
        /// The output file, after stdout.
        case output
        /// Closed: the child starts without descriptor 2 (`2>&-`).
        case closed
        /// A pipe whose reading end is already closed: every write fails with EPIPE.
        case brokenPipe
    }

    let exitCode: Int32?
    let signal: Int32?
    let seconds: Double
    /// ru_maxrss: the most memory the child ever had resident.
    let peakResidentKiB: Int
    let output: String

    /// Runs `pbt ARGUMENTS` (in `workingDirectory`, or the test's), killing it after `timeout`
    /// seconds (the result then says signal 9).
    static func run(
        _ arguments: [String], in directory: TemporaryDirectory, standardError: StandardError = .output,
        addressSpaceKiB: Int = 4 << 20, timeout: Double = 30, workingDirectory: String? = nil
    ) throws -> MeasuredProcess {
        let outputFile = directory.file("measured-\(UInt32.random(in: 0...UInt32.max)).txt")
        let change = workingDirectory.map { "cd '\($0)' && " } ?? ""
        let argv =
            ["/bin/sh", "-c", change + "ulimit -v \(addressSpaceKiB) && exec \"$0\" \"$@\"", PBTBinary.path] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pipeEnds: [Int32] = [-1, -1]
        switch standardError {
        case .output:
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .closed:
            posix_spawn_file_actions_addclose(&actions, 2)
        case .brokenPipe:
            guard pipe(&pipeEnds) == 0 else { throw MeasurementError("pipe: \(String(cString: strerror(errno)))") }
            close(pipeEnds[0])
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        }
        defer { if pipeEnds[1] >= 0 { close(pipeEnds[1]) } }

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let started = Clock.monotonic
        let result = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard result == 0 else { throw MeasurementError("posix_spawn: \(String(cString: strerror(result)))") }

        var status: Int32 = 0
        var usage = rusage()
        let deadline = started + timeout
        while true {
            let reaped = wait4(pid, &status, WNOHANG, &usage)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw MeasurementError("wait4: \(String(cString: strerror(errno)))") }
            if Clock.monotonic > deadline {
                kill(pid, SIGKILL)
                _ = wait4(pid, &status, 0, &usage)
                break
            }
            usleep(2_000)
        }
        let seconds = Clock.monotonic - started
        let signalled = status & 0x7f != 0
        return MeasuredProcess(
            exitCode: signalled ? nil : (status >> 8) & 0xff, signal: signalled ? status & 0x7f : nil, seconds: seconds,
            peakResidentKiB: Int(usage.ru_maxrss),
            output: (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "")
    }

    var description: String {
        "\(exitCode.map { "exit code \($0)" } ?? "signal \(signal ?? 0)") after \(String(format: "%.2f", seconds)) s, "
            + "peak \(peakResidentKiB / 1024) MiB resident; output: \(output.prefix(2_000))"
    }
}

/// A measured process that could not be started or waited for.
struct MeasurementError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
