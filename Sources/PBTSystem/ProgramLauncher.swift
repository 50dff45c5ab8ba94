#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pbt exec-program -- PROGRAM ARGS…`: how a worker starts a command workload's program so
/// that it dies with the worker, even one killed with SIGKILL. A program posix_spawn starts
/// cannot ask for a parent-death signal itself; `pbt` can (`ParentWatch`, first thing in
/// `main`), and the request survives `execvp`, which then puts the program in its place
/// (same pid, same pipes, default signal handling).
public enum ProgramLauncher {
    /// The word after `pbt` that makes it a launcher (not a subcommand: nothing is parsed).
    public static let command = "exec-program"

    /// The arguments that go before a program's own to launch it with `executable` (`pbt`).
    public static func prefix(executable: String) -> [String] {
        [executable, command, "--"]
    }

    /// Replaces this process with the program in `arguments` (what follows `--`); when it
    /// cannot, says why on stderr and exits 127, as a shell does.
    public static func exec(_ arguments: [String]) -> Never {
        let program = arguments.first == "--" ? Array(arguments.dropFirst()) : arguments
        guard let name = program.first, !name.isEmpty else {
            StandardStream.error.write("error: \(command) needs a program after --\n")
            exit(2)
        }
        unsetenv(ParentWatch.environmentKey)
        // The program gets what a program started directly gets: default handling of the
        // signals `pbt` catches or ignores, none blocked.
        for number in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT] { signal(number, SIG_DFL) }
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        var argv: [UnsafeMutablePointer<CChar>?] = program.map { strdup($0) }
        argv.append(nil)
        execvp(name, argv)
        let reason = String(cString: strerror(errno))
        StandardStream.error.write("error: cannot run \(name): \(reason)\n")
        exit(127)
    }
}
