import ArgumentParser

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
            MonitorCommand.self, ExporterCommand.self, ReportCommand.self, ReplayCommand.self, KeygenCommand.self,
        ]
    )
}

enum PBTVersion {
    static let current = "0.1.0"
}
