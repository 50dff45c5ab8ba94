import PBTSystem
import PBTStages

#if canImport(Glibc)
import Glibc
#endif

// A child of `pbt run` (or of a test) dies with its parent, even one killed by SIGKILL.
ParentWatch.applyFromEnvironment()
// `pbt exec-program -- PROGRAM …`: a command workload's program, started so that it dies with
// the worker that started it (the parent-death signal above survives the exec).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == ProgramLauncher.command {
    ProgramLauncher.exec(Array(CommandLine.arguments.dropFirst(2)))
}
// SIGTERM, SIGINT, SIGHUP and SIGQUIT become a flag the loops check; SIGPIPE is ignored, so a closed pipe is an
// error to handle, not a death.
StopSignal.install()
do {
    var command = try PBTCommand.parseAsRoot()
    try command.run()
} catch {
    exit(PBTCommand.exitCode(reporting: error))
}
