import PBTSystem
import ArgumentParser
import Foundation
import PBTMonitor
import PBTReport

/// `pbt report RUN_DIR`: one self-contained HTML page about a run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Write one self-contained HTML page about a run: score and hyperparameter plots, the best member's lineage and schedule.",
        discussion:
            "Reads RUN_DIR/events.jsonl (and summary.json, experiment.yml when there). Inline SVG, no script: it opens offline."
    )

    @Argument(help: "The run directory (what pbt run wrote).")
    var runDirectory: String

    @Option(
        name: [.short, .long], help: "Where to write the page (default: RUN_DIR/report.html; - for standard output).")
    var output: String?

    func validate() throws {
        try RunFiles.checkOutput(output)
    }

    func run() throws {
        try runReportingErrors {
            let input = try RunFiles.read(runDirectory)
            let (html, facts): (String, RunReport.Facts)
            do {
                (html, facts) = try RunReport.html(
                    RunReport.Input(
                        runDirectory: runDirectory, events: input.events, summary: input.summary,
                        experiment: input.experiment))
            } catch {
                throw UserError("\(error)")
            }
            let path = output ?? (runDirectory as NSString).appendingPathComponent("report.html")
            if path == "-" {
                StandardStream.output.write(html)
                return 0
            }
            do {
                try OutputFile.write(html, to: path)
            } catch {
                throw UserError("cannot write \(path): \(error)")
            }
            var line =
                "wrote \(path) (\(html.utf8.count / 1024) KiB): \(facts.name), \(facts.members) members, \(facts.exploits) exploits, \(facts.figures) figures"
            if let best = facts.bestMember, let score = facts.bestScore {
                line +=
                    "; best member \(best), score \(NumberFormat.score(score)), schedule of \(facts.scheduleRows) range\(facts.scheduleRows == 1 ? "" : "s")"
            }
            if input.summary == nil { line += "; no summary.json (the run did not finish)" }
            if facts.lineageAgrees == false { line += "; WARNING: the event log's lineage differs from summary.json's" }
            if let first = facts.firstUnreadable {
                StandardStream.error.write(
                    "warning: \(facts.unreadableLines) line\(facts.unreadableLines == 1 ? "" : "s") of events.jsonl \(facts.unreadableLines == 1 ? "is" : "are") not an event and \(facts.unreadableLines == 1 ? "was" : "were") skipped (first: line \(first.line): \(first.problem.prefix(200)))\n"
                )
            }
            print(line)
            return 0
        }
    }
}

/// The files of a run directory that the report, replay and TensorBoard conversion read.
enum RunFiles {
    /// The path of `directory`'s events.jsonl, refused when there is none or it is not a
    /// regular file (a FIFO would hang the reader, a directory cannot be read).
    static func eventLog(in directory: String) throws -> String {
        let events = (directory as NSString).appendingPathComponent("events.jsonl")
        var status = stat()
        guard stat(events, &status) == 0 else {
            throw UserError("\(directory) is not a run directory: it has no events.jsonl")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw UserError("\(events) is not a regular file, so not a run's event log")
        }
        return events
    }

    /// Refuses an empty `-o` (it names no file).
    static func checkOutput(_ output: String?) throws {
        if output == "" { throw ValidationError("-o takes a file name, or - for standard output; got ''") }
    }

    static func read(_ directory: String) throws -> (events: String, summary: String?, experiment: String?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw UserError(
                "\(directory) is not a directory (give the run directory pbt run wrote, e.g. runs/toy-20261126-130501)")
        }
        let events = try eventLog(in: directory)
        guard let data = FileManager.default.contents(atPath: events) else {
            throw UserError("cannot read \(events)")
        }
        func text(_ name: String) -> String? {
            FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name)).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        return (String(decoding: data, as: UTF8.self), text("summary.json"), text("experiment.yml"))
    }
}
