import PBTSystem
import ArgumentParser
import Foundation
import PBTMonitor
import PBTWire
import PBTReport

/// `pbt replay RUN_DIR --member ID`: an experiment that retrains one member on its schedule.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract:
            "Rebuild a member's hyperparameter schedule from a run's event log, as an experiment that retrains it alone.",
        discussion: """
            Writes an experiment file (population 1, exploit and explore off, a schedule: the hyperparameters \
            the member's weights were trained with, step range by step range, and whose seed trained each). \
            Run it with pbt run FILE; with the toy and mlp workloads it reaches the same score.
            """)

    @Argument(help: "The run directory (what pbt run wrote).")
    var runDirectory: String

    @Option(
        name: .long, parsing: .unconditional, help: "The member to replay: its id, or 'best' (the run's best member).")
    var member: String

    @Option(
        name: [.short, .long],
        help: "Where to write the experiment file (default: RUN_DIR/replay-member-ID.yml; - for standard output).")
    var output: String?

    func validate() throws {
        try RunFiles.checkOutput(output)
        guard member == "best" || Int(member).map({ $0 >= 0 }) == true else {
            throw ValidationError("--member must be a member id (0, 1, …) or 'best', got '\(member)'")
        }
    }

    func run() throws {
        try runReportingErrors {
            let files = try RunFiles.read(runDirectory)
            guard let experiment = files.experiment else {
                throw UserError("\(runDirectory) has no experiment.yml to replay")
            }
            let id: Int
            if let number = Int(member) {
                id = number
            } else {
                guard let summary = files.summary, let best = (try? JSONValue.parse(summary))?["best"]?["member"]?.int
                else {
                    throw UserError("\(runDirectory) has no summary.json naming a best member; give --member ID")
                }
                id = best
            }
            let plan: ReplayPlan.Plan
            do {
                plan = try ReplayPlan.make(
                    member: id, events: files.events, experiment: experiment, runDirectory: runDirectory)
            } catch {
                throw UserError("\(error)")
            }
            let path = output ?? (runDirectory as NSString).appendingPathComponent("replay-member-\(id).yml")
            if path == "-" {
                StandardStream.output.write(plan.yaml)
                return 0
            }
            do {
                try OutputFile.write(plan.yaml, to: path)
            } catch {
                throw UserError("cannot write \(path): \(error)")
            }
            print(
                "member \(id): \(plan.steps) steps in \(plan.schedule.count) range\(plan.schedule.count == 1 ? "" : "s")\(plan.originalScore.map { ", score \(NumberFormat.score($0)) in the run" } ?? "")"
            )
            for segment in plan.schedule.prefix(12) {
                let values = segment.hyperparameters.keys.sorted().map { "\($0)=\(segment.hyperparameters[$0]!.shown)" }
                    .joined(separator: " ")
                print(
                    "  steps \(segment.fromStep)–\(segment.toStep) (trained by member \(segment.trainedBy)): \(values)")
            }
            if plan.schedule.count > 12 {
                print("  … \(plan.schedule.count - 12) more range\(plan.schedule.count == 13 ? "" : "s") in the file")
            }
            if let first = plan.unreadable.first {
                StandardStream.error.write(
                    "warning: \(plan.unreadable.count) line\(plan.unreadable.count == 1 ? "" : "s") of events.jsonl skipped as not events (first: line \(first.line): \(first.problem.prefix(200)))\n"
                )
            }
            print("wrote \(path); retrain it with: pbt run \(path)")
            return 0
        }
    }
}
