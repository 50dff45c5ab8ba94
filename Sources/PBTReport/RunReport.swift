import Foundation
import PBTConfig
import PBTCore
import PBTMonitor
import PBTWire

/// `pbt report`: one self-contained HTML page about a finished (or interrupted) run, made
/// from its `events.jsonl`, `summary.json` and `experiment.yml` — inline SVG and CSS, no
/// script, nothing fetched, so it opens offline and can be mailed around.
///
///     events.jsonl ──▶ PopulationModel (series, lineage) ─┐
///     summary.json ──▶ outcome, best schedule, members ───┼──▶ HTML: facts, score plot with
///     experiment.yml ─▶ domains (log / categorical axes) ─┘    exploit jumps, a plot a
///                                                              hyperparameter, the best
///                                                              member's lineage and schedule
///
/// A pure function of the three texts; the command reads and writes the files.
public enum RunReport {
    /// The texts of a run directory's files.
    public struct Input: Sendable {
        /// Shown in the page.
        public var runDirectory: String
        /// `events.jsonl`.
        public var events: String
        /// `summary.json`, absent when the run did not finish.
        public var summary: String?
        /// `experiment.yml`.
        public var experiment: String?

        public init(runDirectory: String, events: String, summary: String?, experiment: String?) {
            self.runDirectory = runDirectory
            self.events = events
            self.summary = summary
            self.experiment = experiment
        }
    }

    /// What the page shows, as numbers (for the command's summary line and for tests).
    public struct Facts: Sendable {
        public var name: String
        public var bestMember: Int?
        public var bestScore: Double?
        public var exploits: Int
        public var scheduleRows: Int
        public var members: Int
        public var figures: Int
        /// Whether the lineage rebuilt from the events matches `summary.json`'s.
        public var lineageAgrees: Bool?
        /// Lines of `events.jsonl` that are not events (skipped), and the first of them.
        public var unreadableLines = 0
        public var firstUnreadable: (line: Int, problem: String)?
    }

    /// The palette members are drawn in (member id modulo its size).
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
    ]

    static func color(_ member: Int) -> String { palette[member % palette.count] }

    /// What the page is made from: the events folded, the summary and the experiment read, and
    /// the best member's schedule (summary.json's, checked against the events').
    struct Run {
        var log: EventLog
        var model: PopulationModel
        var summary: JSONValue?
        var summaryProblem: String?
        var experiment: Experiment?
        var name: String
        var best: Int?
        var bestScore: Double?
        /// The hyperparameters, in the experiment's order.
        var names: [String]
        var schedule: [ScheduleSegment]
        var lineageAgrees: Bool?
        /// The steps the plots span.
        var steps: ClosedRange<Double>
        var members: [Int] { model.rows.map(\.id) }
    }

    /// Builds the page. Throws when the event log holds no event.
    public static func html(_ input: Input) throws(ReportError) -> (html: String, facts: Facts) {
        let run = try read(input)
        var figures = 0
        var body = ""
        body += "<header><h1>pbt report: \(HTML.escape(run.name))</h1>"
        body +=
            "<p class=\"sub\">run directory <code>\(HTML.escape(input.runDirectory))</code> · \(run.log.events.count) events"
        if let first = run.log.problems.first {
            body += " · \(run.log.problems.count) unreadable lines skipped (first: line \(first.line))"
        }
        body += "</p></header>"
        body += facts(
            summary: run.summary, model: run.model, best: run.best, bestScore: run.bestScore,
            problem: run.summaryProblem, experiment: run.experiment)
        body += legend(run.members, best: run.best)
        body += scoreSection(run, figures: &figures)
        body += hyperparameterSection(run, figures: &figures)
        body += lineageSection(run, figures: &figures)
        body += "<section><h2>The best member's schedule</h2>"
        body += scheduleTable(run.schedule, names: run.names)
        body +=
            "<p class=\"note\">Retrain this member alone on this schedule: <code>pbt replay \(HTML.escape(input.runDirectory)) --member \(run.best.map(String.init) ?? "ID")</code>.</p>"
        body += "</section>"
        body += membersTable(summary: run.summary, model: run.model, names: run.names, best: run.best)
        body += exploitsTable(run.model)

        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>pbt report: \(HTML.escape(run.name))</title>
            <style>\(css)</style></head>
            <body>\(body)
            <footer>Made by pbt report from events.jsonl\(run.summary == nil ? "" : ", summary.json")\(run.experiment == nil ? "" : " and experiment.yml"). Self-contained: no script, nothing fetched.</footer>
            </body></html>

            """
        let facts = Facts(
            name: run.name, bestMember: run.best, bestScore: run.bestScore,
            exploits: run.summary?["exploits"]?.int ?? run.model.totalExploits, scheduleRows: run.schedule.count,
            members: run.members.count, figures: figures, lineageAgrees: run.lineageAgrees,
            unreadableLines: run.log.problems.count, firstUnreadable: run.log.problems.first)
        return (page, facts)
    }

    /// Reads the run's texts: the events folded into a model, summary.json and the experiment.
    static func read(_ input: Input) throws(ReportError) -> Run {
        let log = EventLog(text: input.events)
        guard !log.events.isEmpty else {
            throw ReportError(
                "\(input.runDirectory)/events.jsonl holds no event"
                    + (log.problems.isEmpty ? "" : " (\(log.problems.count) unreadable lines)"))
        }
        var model = PopulationModel(options: .init(recordSeries: true))
        for event in log.events { model.apply(event) }
        var summary: JSONValue?
        var summaryProblem: String?
        if let text = input.summary {
            do {
                summary = try JSONValue.parse(text)
            } catch {
                summaryProblem = "summary.json is not JSON (\(error))"
            }
        }
        let experiment = input.experiment.flatMap { try? Experiment.parse(yaml: $0) }
        let best = summary?["best"]?["member"]?.int ?? model.best?.member
        let names =
            experiment?.space.names ?? model.hyperparameterNames.nonEmpty
            ?? Array(Set(model.trainedSeries.values.flatMap { $0.flatMap(\.hyperparameters.keys) })).sorted()
        // The best member's schedule and lineage: summary.json's, checked against the events'.
        let folded = best.map { model.schedule(of: $0) } ?? []
        var schedule = folded
        var lineageAgrees: Bool?
        if let rows = summary?["best"]?["schedule"]?.array {
            let fromSummary = rows.map { row in
                ScheduleSegment(
                    fromStep: row["from_step"]?.int ?? 0, toStep: row["to_step"]?.int ?? 0,
                    trainedBy: row["trained_by"]?.int ?? -1,
                    hyperparameters: row["hyperparameters"]?.object ?? [:])
            }
            lineageAgrees = fromSummary == folded
            schedule = fromSummary
        }
        let lastStep = model.trainedSeries.values.flatMap { $0.map(\.toStep) }.max() ?? 1
        return Run(
            log: log, model: model, summary: summary, summaryProblem: summaryProblem, experiment: experiment,
            name: summary?["experiment"]?.string ?? model.name ?? experiment?.name ?? "experiment", best: best,
            bestScore: summary?["best"]?["score"]?.double ?? model.best?.score, names: names, schedule: schedule,
            lineageAgrees: lineageAgrees, steps: 0...Double(max(1, lastStep)))
    }

    /// Every member's score against step, and a zoom on the best 90 % when early scores
    /// squash the interesting part.
    static func scoreSection(_ run: Run, figures: inout Int) -> String {
        var body = "<section><h2>Score against step</h2>"
        body +=
            "<p class=\"note\">Every member's score at each ready step. A dashed line ending in a triangle is an exploit: the member copied a better member's weights (and score) at the step the triangle marks, often stepping back to where they were compared. The thick black line follows the best member's weights back through whoever trained them.</p>"
        var scores = scorePlot(run.model, members: run.members, best: run.best)
        scores.xRange = run.steps
        body += scores.svg()
        figures += 1
        let values = run.model.scoreSeries.values.flatMap { $0.map(\.score) }.filter(\.isFinite).sorted()
        if values.count >= 20, let lo = values.first, let hi = values.last, hi > lo {
            let minimizing = run.experiment?.objective == .minimize
            let cut = MonitorScreen.percentile(values, minimizing ? 0.9 : 0.1)
            if (minimizing ? hi - cut : cut - lo) > 0.25 * (hi - lo) {
                var zoom = scores
                zoom.id = "scores-zoom"
                zoom.title = "Score against step, the best 90 % of scores"
                zoom.yRange = minimizing ? lo...cut : cut...hi
                body += "<h3>Zoomed on the best 90 % of scores</h3>" + zoom.svg()
                figures += 1
            }
        }
        return body + "</section>"
    }

    /// A plot a hyperparameter: what each member trained with, range by range.
    static func hyperparameterSection(_ run: Run, figures: inout Int) -> String {
        var body = "<section><h2>Hyperparameters against step</h2>"
        body +=
            "<p class=\"note\">What each member trained with, step range by step range; dashed lines are exploits (copy, then explore).</p>"
        for parameter in run.names {
            body += "<h3>\(HTML.escape(parameter))</h3>"
            var plot = hyperparameterPlot(
                run.model, parameter: parameter, domain: run.experiment?.space.domain(of: parameter),
                members: run.members)
            plot.xRange = run.steps
            body += plot.svg()
            figures += 1
        }
        return body + "</section>"
    }

    /// Whose training the best member's weights are, and whether the events agree with
    /// summary.json about it.
    static func lineageSection(_ run: Run, figures: inout Int) -> String {
        var body = "<section><h2>Lineage of the best member</h2>"
        guard let best = run.best else { return body + "<p>No member has been scored yet.</p></section>" }
        let lineage = lineageSpans(run.schedule)
        body += "<p>Member \(best)'s weights at step \(run.schedule.last?.toStep ?? 0) were trained by: "
        body += lineage.map {
            "<span class=\"chip\" style=\"border-color:\(color($0.member))\">member \($0.member), steps \($0.fromStep)–\($0.toStep)</span>"
        }.joined(separator: " → ")
        body += "</p>"
        body += lineagePlot(lineage, best: best).svg()
        figures += 1
        if let agrees = run.lineageAgrees {
            body +=
                agrees
                ? "<p class=\"ok\" id=\"lineage-check\">The lineage rebuilt from events.jsonl agrees with summary.json, range by range.</p>"
                : "<p class=\"warn\" id=\"lineage-check\">The lineage rebuilt from events.jsonl differs from summary.json (was the event log cut short?); the tables show summary.json's.</p>"
        }
        return body + "</section>"
    }

    // MARK: Parts

    static func facts(
        summary: JSONValue?, model: PopulationModel, best: Int?, bestScore: Double?, problem: String?,
        experiment: Experiment?
    ) -> String {
        var rows: [(String, String)] = []
        if let summary {
            rows.append(
                (
                    "outcome",
                    "finished: <b>\(HTML.escape(summary["reason"]?.string ?? "?"))</b> after \(NumberFormat.duration(summary["seconds"]?.double ?? 0))"
                ))
            rows.append(("member-steps", "<span id=\"steps\">\(summary["steps"]?.int ?? 0)</span>"))
        } else if let finish = model.finish {
            rows.append(
                (
                    "outcome",
                    "finished: <b>\(HTML.escape(finish.reason))</b> after \(NumberFormat.duration(finish.seconds)) (no summary.json)"
                ))
        } else {
            rows.append(
                (
                    "outcome",
                    "<b>not finished</b>: no summary.json, and no experiment.finished event (interrupted? resume it with pbt run --resume)"
                ))
        }
        if let problem { rows.append(("summary", "<span class=\"warn\">\(HTML.escape(problem))</span>")) }
        rows.append(
            (
                "population",
                "\(model.rows.count)"
                    + (experiment.map {
                        ", ready every \($0.interval) steps, \($0.stop.maxSteps) steps a member, exploit \($0.exploit.name), explore \($0.explore.name)"
                    } ?? "")
            ))
        rows.append(("exploits", "<span id=\"exploits\">\(summary?["exploits"]?.int ?? model.totalExploits)</span>"))
        if let best {
            let score =
                bestScore.map { "<span id=\"best-score\" data-value=\"\($0)\">\(NumberFormat.score($0))</span>" } ?? "-"
            rows.append(
                (
                    "best",
                    "member <span id=\"best-member\">\(best)</span>, score \(score) at step \(summary?["best"]?["step"]?.int ?? model.members[best]?.scoreStep ?? model.members[best]?.step ?? 0)"
                ))
            if let metrics = summary?["best"]?["metrics"]?.object, !metrics.isEmpty {
                rows.append(
                    (
                        "its metrics",
                        metrics.keys.sorted().map { "\(HTML.escape($0)) \(NumberFormat.score(metrics[$0]?.double))" }
                            .joined(separator: " · ")
                    ))
            }
        }
        if let ever = summary?["best_ever"], let score = ever["score"]?.double {
            rows.append(
                (
                    "best ever",
                    "member \(ever["member"]?.int ?? -1), score \(NumberFormat.score(score)) at step \(ever["step"]?.int ?? 0)"
                ))
        }
        if !model.recentTurnarounds.isEmpty {
            let sorted = model.recentTurnarounds.sorted()
            rows.append(
                (
                    "turnaround",
                    "median \(NumberFormat.duration(MonitorScreen.percentile(sorted, 0.5))), 90th percentile \(NumberFormat.duration(MonitorScreen.percentile(sorted, 0.9))) (a member's time between two training tasks, last \(sorted.count))"
                ))
        }
        let dropped = model.counters.framesDropped.values.reduce(0, +)
        rows.append(
            (
                "reliability",
                "lease expiries \(model.counters.leaseExpiries) · results dropped \(model.counters.resultsDropped) · frames dropped \(dropped) · failed tasks \(model.counters.failures)"
            ))
        return "<table class=\"facts\">" + rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined()
            + "</table>"
    }

    static func legend(_ members: [Int], best: Int?) -> String {
        "<p class=\"legend\">"
            + members.map { member in
                "<span class=\"swatch\" style=\"background:\(color(member))\"></span>"
                    + (member == best ? "<b>member \(member) (best)</b>" : "member \(member)")
            }.joined(separator: " ") + "</p>"
    }

    static func scorePlot(_ model: PopulationModel, members: [Int], best: Int?) -> LinePlot {
        var plot = LinePlot(id: "scores", title: "Score against step, every member; dashed: exploits", yLabel: "score")
        for member in members {
            var series = PlotSeries(member: member, color: color(member))
            var run: [(x: Double, y: Double)] = []
            for point in model.scoreSeries[member] ?? [] {
                let here = (x: Double(point.step), y: point.score)
                if let donor = point.donor {
                    if let last = run.last {
                        series.jumps.append(
                            .init(
                                from: last, to: here,
                                title:
                                    "member \(member) copied member \(donor)'s weights at step \(point.step) (score \(NumberFormat.score(point.score)))"
                            ))
                    }
                    series.runs.append(run)
                    run = [here]
                } else {
                    run.append(here)
                    series.dots.append(
                        (here.x, here.y, "member \(member), step \(point.step): \(NumberFormat.score(point.score))"))
                }
            }
            series.runs.append(run)
            series.runs.removeAll { $0.isEmpty }
            plot.series.append(series)
        }
        if let best {
            let path = model.lineageScores(of: best)
            if !path.isEmpty {
                var line = PlotSeries(member: best, color: "#111", strokeWidth: 3.2, cssClass: "lineage")
                line.runs = [path.map { (Double($0.step), $0.score) }]
                plot.highlight = line
            }
        }
        return plot
    }

    static func hyperparameterPlot(
        _ model: PopulationModel, parameter: String, domain: Domain?, members: [Int]
    ) -> LinePlot {
        var plot = LinePlot(
            id: "hp-\(parameter)", title: "\(parameter) against step, every member", yLabel: parameter, height: 260)
        // The value axis: the domain's when known, else what the values look like.
        var categories: [String]?
        switch domain {
        case .choice(let options): categories = options.map(\.description)
        case .logUniform: plot.yLog = true
        case .uniform, .integer: break
        case nil:
            let values = model.trainedSeries.values.flatMap { $0.compactMap { $0.hyperparameters[parameter] } }
            if values.contains(where: { $0.double == nil }) {
                var seen: [String] = []
                for value in values where !seen.contains(value.shown) { seen.append(value.shown) }
                categories = seen
            } else {
                let numbers = values.compactMap(\.double)
                if let lo = numbers.min(), let hi = numbers.max(), lo > 0, hi / lo >= 100 { plot.yLog = true }
            }
        }
        plot.categories = categories
        func y(_ value: JSONValue?) -> Double? {
            guard let value else { return nil }
            if let categories {
                let shown = value.double.map { HyperparameterValue.format($0) } ?? value.shown
                return categories.firstIndex(of: value.shown).map(Double.init)
                    ?? categories.firstIndex(of: shown).map(Double.init)
                    ?? categories.firstIndex { Double($0) == value.double && value.double != nil }.map(Double.init)
            }
            return value.double
        }
        for member in members {
            var series = PlotSeries(member: member, color: color(member))
            // Training ranges and exploits, in the order they happened.
            let ranges = model.trainedSeries[member] ?? []
            let exploits = model.exploitLog.filter { $0.member == member }
            // In the order the events came: events of one batch share a time, and an exploit
            // sorted after the range it started lost its jump.
            var timeline:
                [(order: Int, range: PopulationModel.TrainedRange?, exploit: PopulationModel.ExploitRecord?)] =
                    ranges.map { ($0.order, $0, nil) } + exploits.map { ($0.order, nil, $0) }
            timeline.sort { $0.order < $1.order }
            var run: [(x: Double, y: Double)] = []
            var pending: PopulationModel.ExploitRecord?
            for entry in timeline {
                if let exploit = entry.exploit {
                    pending = exploit
                    continue
                }
                guard let range = entry.range, let value = y(range.hyperparameters[parameter]) else { continue }
                let start = (x: Double(range.fromStep), y: value)
                if let last = run.last, pending != nil || last.x != start.x {
                    let title =
                        pending.map {
                            "member \(member) copied member \($0.donor) at step \($0.step): \(parameter) \($0.copied[parameter]?.shown ?? "?") → \($0.new[parameter]?.shown ?? "?")\($0.operations[parameter].map { " (\($0))" } ?? ""); it had \($0.old[parameter]?.shown ?? "?")"
                        }
                        ?? "member \(member) went on from step \(range.fromStep)"
                    series.jumps.append(.init(from: last, to: start, title: title))
                    series.runs.append(run)
                    run = []
                }
                pending = nil
                if run.last?.y != value || run.isEmpty { run.append(start) }
                run.append((Double(range.toStep), value))
            }
            series.runs.append(run)
            series.runs.removeAll { $0.isEmpty }
            plot.series.append(series)
        }
        return plot
    }

    static func lineageSpans(_ schedule: [ScheduleSegment]) -> [LineageSpan] {
        var spans: [LineageSpan] = []
        for segment in schedule {
            if let last = spans.last, last.member == segment.trainedBy, last.toStep == segment.fromStep {
                spans[spans.count - 1].toStep = segment.toStep
            } else {
                spans.append(LineageSpan(member: segment.trainedBy, fromStep: segment.fromStep, toStep: segment.toStep))
            }
        }
        return spans
    }

    /// One lane a member: where the best member's weights were trained by whom, and the hand-overs.
    static func lineagePlot(_ spans: [LineageSpan], best: Int) -> LinePlot {
        let lanes = Array(Set(spans.map(\.member))).sorted()
        var plot = LinePlot(
            id: "lineage", title: "Who trained the best member's weights, step range by step range",
            yLabel: "trained by", height: Double(70 + 34 * max(lanes.count, 1)))
        plot.categories = lanes.map { "member \($0)" }
        plot.xRange = 0...Double(max(spans.last?.toStep ?? 1, 1))
        var previous: (x: Double, y: Double)?
        for span in spans {
            let lane = Double(lanes.firstIndex(of: span.member) ?? 0)
            var series = PlotSeries(member: span.member, color: color(span.member), strokeWidth: 9, cssClass: "span")
            series.runs = [[(Double(span.fromStep), lane), (Double(span.toStep), lane)]]
            if let previous {
                series.jumps.append(
                    .init(
                        from: previous, to: (Double(span.fromStep), lane),
                        title:
                            "from step \(span.fromStep) member \(span.member) trained the weights on (it had copied them)"
                    ))
            }
            series.dots.append(
                (
                    (Double(span.fromStep + span.toStep) / 2), lane,
                    "member \(span.member): steps \(span.fromStep)–\(span.toStep)"
                ))
            plot.series.append(series)
            previous = (Double(span.toStep), lane)
        }
        return plot
    }

    static func scheduleTable(_ schedule: [ScheduleSegment], names: [String]) -> String {
        var out = "<table id=\"schedule\" class=\"grid\"><thead><tr><th>steps</th><th>trained by</th>"
        out += names.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in schedule {
            out +=
                "<tr class=\"schedule-row\"><td>\(row.fromStep)–\(row.toStep)</td><td><span class=\"swatch\" style=\"background:\(color(row.trainedBy))\"></span>member \(row.trainedBy)</td>"
            out += names.map { "<td>\(HTML.escape(row.hyperparameters[$0]?.shown ?? "-"))</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }

    static func membersTable(summary: JSONValue?, model: PopulationModel, names: [String], best: Int?) -> String {
        var out =
            "<section><h2>Members at the end</h2><table id=\"members\" class=\"grid\"><thead><tr><th>member</th><th>step</th><th>score</th><th>exploits</th>"
        out += names.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        let rows: [(id: Int, step: Int?, score: Double?, exploits: Int, failed: Bool, values: [String: JSONValue])]
        if let members = summary?["members"]?.array {
            rows = members.map { m in
                (
                    m["member"]?.int ?? -1, m["step"]?.int, m["score"]?.double, m["exploits"]?.int ?? 0,
                    m["failed"]?.bool ?? false, m["hyperparameters"]?.object ?? [:]
                )
            }
        } else {
            rows = model.rows.map { ($0.id, $0.step, $0.score, $0.exploits, $0.state == .failed, $0.hyperparameters) }
        }
        for row in rows.sorted(by: { ($0.score ?? -.infinity, -$0.id) > ($1.score ?? -.infinity, -$1.id) }) {
            out +=
                "<tr\(row.id == best ? " class=\"best\"" : "")><td><span class=\"swatch\" style=\"background:\(color(row.id))\"></span>\(row.id)\(row.failed ? " (failed)" : "")</td>"
            out +=
                "<td>\(row.step.map(String.init) ?? "-")</td><td>\(NumberFormat.score(row.score))</td><td>\(row.exploits)</td>"
            out += names.map { "<td>\(HTML.escape(row.values[$0]?.shown ?? "-"))</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table></section>"
    }

    static func exploitsTable(_ model: PopulationModel) -> String {
        let log = model.exploitLog
        guard !log.isEmpty else { return "<section><h2>Exploits</h2><p>None.</p></section>" }
        let start = model.startTime ?? log[0].time
        var out =
            "<section><h2>Exploits: who copied whom</h2><details><summary>\(log.count) exploits (show)</summary><table id=\"exploit-log\" class=\"grid\"><thead><tr><th>time</th><th>member</th><th>copied</th><th>at step</th><th>explore</th></tr></thead><tbody>"
        for entry in log.prefix(2_000) {
            let changes = entry.new.keys.sorted().map { name in
                "\(HTML.escape(name)) \(HTML.escape(entry.copied[name]?.shown ?? "?")) → \(HTML.escape(entry.new[name]?.shown ?? "?"))\(entry.operations[name].map { " (\(HTML.escape($0)))" } ?? "")"
            }.joined(separator: "; ")
            out +=
                "<tr><td>\(NumberFormat.duration(max(0, entry.time - start)))</td><td>\(entry.member)</td><td>member \(entry.donor)</td><td>\(entry.step)</td><td>\(changes)</td></tr>"
        }
        if log.count > 2_000 { out += "<tr><td colspan=\"5\">… \(log.count - 2_000) more in events.jsonl</td></tr>" }
        return out + "</tbody></table></details></section>"
    }

    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;max-width:1000px;margin:24px auto;padding:0 16px}
        h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}h3{font-size:14px;margin:14px 0 2px}
        .sub,.note,footer{color:#666;font-size:12.5px}footer{margin:30px 0}
        table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 9px;text-align:left;vertical-align:top}
        table.facts th{color:#555;font-weight:600;white-space:nowrap}table.grid{font-size:12.5px}
        table.grid th{background:#f3f3f3;border-bottom:1px solid #ccc}table.grid td{border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
        tr.best td{font-weight:600;background:#fffbe6}
        .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 8px;vertical-align:middle}
        .chip{display:inline-block;border:2px solid;border-radius:10px;padding:0 8px;margin:2px 0;font-size:12.5px}
        .legend{font-size:12.5px}.ok{color:#26734d}.warn{color:#a33}
        svg.plot{display:block;max-width:100%;height:auto;font-size:11px}
        svg .frame{fill:#fff;stroke:#bbb}svg .grid{stroke:#eee}svg .tick{fill:#555}svg .axis{fill:#333;font-size:12px}
        svg g.series polyline{opacity:.9}svg g.lineage polyline{opacity:.55}svg g.span polyline{stroke-linecap:butt}
        """
}

/// A problem that stops a report.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension Array {
    /// Nil when empty.
    var nonEmpty: Self? { isEmpty ? nil : self }
}
