import Foundation
import PBTConfig
import PBTCore
import PBTMonitor
import PBTReport
import PBTWire
import Testing

/// The HTML report: built from a simulated run's texts, with every figure and the numbers of
/// its summary; and the errors for what is not a run.
@Suite("Run report")
struct RunReportTests {
    @Test(arguments: [1, 2, 3])
    func aReportShowsTheRunAndItsLineageAgreesWithTheSummary(seed: Int) throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText(seed: seed))
        let summary = try JSONValue.parse(run.summary)
        let (html, facts) = try RunReport.html(
            .init(runDirectory: "runs/sim", events: run.events, summary: run.summary, experiment: run.text))
        #expect(facts.name == "sim")
        #expect(facts.lineageAgrees == true)
        #expect(facts.bestMember == summary["best"]?["member"]?.int)
        #expect(facts.bestScore == summary["best"]?["score"]?.double)
        #expect(facts.scheduleRows == summary["best"]?["schedule"]?.array?.count)
        #expect(facts.exploits == summary["exploits"]?.int)
        #expect(facts.exploits > 0)
        #expect(html.contains("id=\"best-score\" data-value=\"\(summary["best"]!["score"]!.double!)\""))
        #expect(html.contains("id=\"lineage-check\""))
        // A plot for the scores, one per hyperparameter, the lineage; a series per member.
        for id in ["scores", "hp-lr", "hp-batch", "hp-depth", "lineage"] { #expect(html.contains("<svg id=\"\(id)\"")) }
        #expect(html.components(separatedBy: "class=\"schedule-row\"").count - 1 == facts.scheduleRows)
        for member in 0..<4 { #expect(html.contains("class=\"series\" data-member=\"\(member)\"")) }
        // Self-contained: nothing is fetched.
        #expect(!html.contains("<script"))
        let fetchable = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!fetchable.contains("http://") && !fetchable.contains("https://") && !fetchable.contains(" src="))
    }

    @Test func theScorePlotHasAPointPerScoreAndAJumpPerExploitWithAScore() throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText(seed: 4))
        let (html, _) = try RunReport.html(
            .init(runDirectory: "r", events: run.events, summary: run.summary, experiment: run.text))
        let log = EventLog(text: run.events)
        let scores = try #require(html.components(separatedBy: "<svg id=\"hp-lr\"").first)
        for member in 0..<4 {
            let scored = log.events.filter {
                if case .memberScored(member, _, _, _, _) = $0.event { true } else { false }
            }.count
            let exploited = log.events.filter {
                if case .memberExploited(let event) = $0.event { event.member == member } else { false }
            }.count
            let group = try #require(
                scores.components(separatedBy: "class=\"series\" data-member=\"\(member)\" ").dropFirst().first)
            // Runs hold every score plus the copied point that starts each run after an exploit.
            #expect(group.hasPrefix("data-points=\"\(scored + exploited)\" data-jumps=\"\(exploited)\""))
        }
    }

    /// A hyperparameter plot's exploit says what was copied and what explore made of it, as the
    /// exploit table does (it showed the member's own old value beside the donor's operation).
    /// With every event at one time (a fast run commits many in one batch, at one time), each
    /// exploit still gets its jump: the plot follows the events' order, not their times.
    @Test(arguments: [false, true])
    func anExploitJumpShowsTheCopiedValueAndWhatExploreMadeOfIt(oneTime: Bool) throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText(seed: 4))
        let events =
            oneTime
            ? run.events.replacingOccurrences(
                of: #""time":[0-9.eE+-]+"#, with: #""time":1"#, options: .regularExpression)
            : run.events
        let (html, _) = try RunReport.html(
            .init(runDirectory: "r", events: events, summary: run.summary, experiment: run.text))
        var model = PopulationModel(options: .init(recordSeries: true))
        for event in EventLog(text: events).events { model.apply(event) }
        let exploits = model.exploitLog.filter { $0.copied["lr"] != $0.old["lr"] }
        #expect(!exploits.isEmpty)
        for exploit in exploits {
            let copied = try #require(exploit.copied["lr"]?.shown)
            let new = try #require(exploit.new["lr"]?.shown)
            let old = try #require(exploit.old["lr"]?.shown)
            let title = "copied member \(exploit.donor) at step \(exploit.step): lr \(copied) → \(new)"
            #expect(html.contains(title), "\(title)")
            #expect(!html.contains("copied member \(exploit.donor) at step \(exploit.step): lr \(old) → "))
        }
    }

    @Test func aRunWithoutASummarySaysItDidNotFinish() throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText())
        let cut = run.events.split(separator: "\n").prefix(60).joined(separator: "\n") + "\n{\"event\":\"member.tr"
        let (html, facts) = try RunReport.html(.init(runDirectory: "r", events: cut, summary: nil, experiment: nil))
        #expect(html.contains("<b>not finished</b>"))
        #expect(html.contains("1 unreadable lines skipped"))
        #expect(facts.lineageAgrees == nil)
    }

    /// A run stopped mid-step: its best member handed back steps past its last score. The
    /// best row gives the step of the score (the summary's way), not the member's step.
    @Test func anUnfinishedRunsBestIsShownAtTheStepOfItsScore() throws {
        let run = try SimulatedRun.run(SimulatedRun.experimentText())
        var model = PopulationModel(options: .init(recordSeries: true))
        let log = EventLog(text: run.events)
        for event in log.events { model.apply(event) }
        let best = try #require(model.best?.member)
        let scored = try #require(model.members[best]?.scoreStep)
        let handedBack = PBTEvent.memberTrained(
            .init(
                member: best, version: 999, trainer: "t", fromStep: scored, step: scored + 3, seconds: 1,
                checkpoint: String(repeating: "a", count: 64), hyperparameters: Hyperparameters(), metrics: [:],
                interrupted: true))
        let events = run.events + EventJSON.encode(handedBack, time: (log.events.last?.time ?? 0) + 1) + "\n"
        let (html, _) = try RunReport.html(.init(runDirectory: "r", events: events, summary: nil, experiment: nil))
        #expect(html.contains("<span id=\"best-member\">\(best)</span>, score "), "\(html.prefix(2000))")
        let row = try #require(html.components(separatedBy: "<span id=\"best-member\">").dropFirst().first)
        #expect(row.prefix(200).contains("at step \(scored)<"), "\(row.prefix(200))")
    }

    @Test func namesAreEscaped() throws {
        let events =
            #"{"event":"experiment.started","time":1,"name":"<b>x</b>","population":1,"hyperparameters":["a&b"]}"#
        let (html, _) = try RunReport.html(.init(runDirectory: "dir<1>", events: events, summary: nil, experiment: nil))
        #expect(html.contains("pbt report: &lt;b&gt;x&lt;/b&gt;"))
        #expect(html.contains("dir&lt;1&gt;"))
        #expect(!html.contains("<b>x</b>"))
    }

    /// A hyperparameter's name goes into plot ids and `url(#…)` references too: a name that
    /// would close the attribute and open a script becomes an id of plain characters.
    @Test func aHyperparameterNameCannotPutMarkupInThePage() throws {
        let name = #"a"><script>alert(1)</script><x y=""#
        let text = SimulatedRun.experimentText().replacingOccurrences(
            of: "  lr: {log_uniform: [0.001, 1.0]}", with: "  '\(name)': {log_uniform: [0.001, 1.0]}")
        let run = try SimulatedRun.run(text)
        let (html, _) = try RunReport.html(
            .init(runDirectory: "r", events: run.events, summary: run.summary, experiment: text))
        #expect(!html.lowercased().contains("<script"))
        #expect(html.contains("&lt;script&gt;"), "the name is shown, escaped")
    }

    @Test func noEventsIsAnError() {
        #expect(throws: ReportError.self) {
            try RunReport.html(.init(runDirectory: "r", events: "\n", summary: nil, experiment: nil))
        }
    }
}
