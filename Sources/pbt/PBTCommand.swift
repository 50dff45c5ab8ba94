import ArgumentParser
import PBTSystem

/// `pbt`: asynchronous Population Based Training as a pipeline of ZeroMQ-connected stages.
struct PBTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pbt",
        abstract: "Population Based Training as an asynchronous pipeline of processes connected by ZeroMQ.",
        discussion: """
            Run a whole experiment on this machine:  pbt run topologies/experiments/toy.yml
            Or start the stages yourself (each is its own process): pbt events proxy, pbt selector,
            pbt trainer, pbt evaluator, pbt mutator; then tap the stream with pbt events.
            """,
        version: PBTVersion.current,
        subcommands: [
            RunCommand.self, ValidateCommand.self, SelectorCommand.self, TrainerCommand.self, EvaluatorCommand.self,
            MutatorCommand.self, EventsCommand.self, BenchCommand.self, HealthCommand.self,
            MonitorCommand.self, ExporterCommand.self, TensorBoardCommand.self, ReportCommand.self, ReplayCommand.self,
            KeygenCommand.self,
        ]
    )
}

enum PBTVersion {
    static let current = "0.1.0"
}

extension PBTCommand {
    /// What `pbt` exits with, documented in the README:
    ///
    ///     0        finished (also --help and --version)
    ///     1        a stage failed
    ///     2        bad input: flags, the experiment file, paths that cannot be used
    ///     128 + N  stopped by signal N
    static let badInput: Int32 = 2

    /// Prints what there is to say about `error` (help on stdout, an error and the usage on
    /// stderr) and returns the exit code. ArgumentParser's own code for a bad command line is
    /// 64 (EX_USAGE); here every kind of bad input is 2.
    static func exitCode(reporting error: Error) -> Int32 {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { StandardStream.output.write(message + "\n") }
            return 0
        }
        if !message.isEmpty { StandardStream.error.write(message + "\n") }
        if error is ExitCode { return code.rawValue }  // the command chose it
        return code == .validationFailure ? badInput : code.rawValue
    }
}
