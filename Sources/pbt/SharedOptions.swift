import PBTSystem
import ArgumentParser
import Foundation
import Logging
import PBTConfig
import PBTCore
import PBTStages

/// Reads an environment variable, for option defaults that compose files set.
func environment(_ key: String) -> String? {
    ProcessInfo.processInfo.environment[key].flatMap { $0.isEmpty ? nil : $0 }
}

/// Options every command has.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical (env PBT_LOG_LEVEL).")
    var logLevel: String = environment("PBT_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'")
        }
    }

    /// Sends logs to stderr at the chosen level and returns a logger for `label`.
    func bootstrap(_ label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// Where a stage publishes events.
struct EventsOption: ParsableArguments {
    @Option(
        name: .customLong("events"), help: "The event proxy's publisher endpoint, or 'none' (env PBT_EVENTS_PUBLISH).")
    var endpoint: String = environment("PBT_EVENTS_PUBLISH") ?? "tcp://127.0.0.1:5556"

    var value: String? { endpoint == "none" ? nil : endpoint }

    func validate() throws {
        try checkEndpoint(value, "--events (or PBT_EVENTS_PUBLISH)", binding: false)
    }
}

/// Refuses (exit 2, before anything starts) an endpoint libzmq would not take, or would take
/// for another one (a port over 65,535 wraps round).
func checkEndpoint(_ endpoint: String?, _ option: String, binding: Bool) throws {
    guard let endpoint else { return }
    if endpoint.hasPrefix("inproc://") {
        // A command is a process of its own: nothing else can reach it there (pbt run
        // --in-process uses inproc:// between its own threads).
        throw ValidationError(
            "\(option) '\(endpoint.prefix(80))': inproc:// reaches only sockets of the same process; give tcp:// or ipc://"
        )
    }
    guard let problem = EndpointAddress.problem(with: endpoint, binding: binding) else { return }
    throw ValidationError("\(option) '\(endpoint.prefix(80))': \(problem)")
}

/// Loads an experiment file, turning any problem into one clear line and exit code 2.
func loadExperiment(_ path: String) throws -> Experiment {
    do {
        return try Experiment.load(path: path)
    } catch {
        throw UserError("\(path): \(error)")
    }
}

/// An error meant for the user: printed as one line, exit code 2.
struct UserError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Runs a command body, printing user errors without a stack of noise.
func runReportingErrors(_ body: () throws -> Int32) throws {
    let code: Int32
    do {
        code = try body()
    } catch let error where StopSignal.received != nil && !(error is ExitCode) {
        // A signal cut short what the command was doing (a write to a FIFO nobody reads, a
        // wait): the signal is the outcome, as the exit-code table says.
        StandardStream.error.write("stopped by signal \(StopSignal.received ?? 0) (\(error))\n")
        throw ExitCode(128 + (StopSignal.received ?? 0))
    } catch let error as UserError {
        StandardStream.error.write("error: \(error.description)\n")
        throw ExitCode(PBTCommand.badInput)
    } catch let error as BadInputError {
        StandardStream.error.write("error: \(error.description)\n")
        throw ExitCode(PBTCommand.badInput)
    } catch let error as RunError {
        StandardStream.error.write("error: \(error.description)\n")
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch {
        StandardStream.error.write("error: \(error)\n")
        throw ExitCode(1)
    }
    if code != 0 { throw ExitCode(code) }
}
