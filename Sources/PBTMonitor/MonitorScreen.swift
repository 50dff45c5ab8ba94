import PBTCore

/// What `pbt monitor` shows: the model as lines of text that fit a terminal.
///
///     pbt monitor · toy · running 12.3 s · events from tcp://127.0.0.1:5557
///     steps 1,234 (2,400/s)  exploits 12  best 1.1931 (member 1)  finished 0/2  turnaround p50 2 ms p90 4 ms
///     trainers 2/2 busy  evaluators 1  mutators 1  lease expiries 0  frames dropped 0
///
///      member  state       step  score    last exploit       hyperparameters
///     *     1  training     124  1.1931   -                  h0=1 h1=0
///           0  evaluating   120  1.0234   ← m1 @116  3s ago  h0=0.9531 h1=0.0204
///
///     trainer    state  member  tasks
///     trainer-1  busy        0     31
///
/// A pure function of the model and the clock, so it is tested without a terminal.
public enum MonitorScreen {
    /// The lines to draw, each at most `width` characters, at most `height` lines.
    public static func render(
        _ model: PopulationModel, now: Double, endpoint: String, width: Int, height: Int
    ) -> [String] {
        var lines = [title(model, endpoint: endpoint)]
        guard model.eventsSeen > 0 else {
            lines.append("")
            lines.append("waiting for events from \(endpoint) (an experiment started elsewhere shows up here)")
            return fit(lines, width: width, height: height)
        }
        lines.append(summary(model))
        lines.append(workers(model, now: now))
        lines.append("")
        // The members: as many rows as fit, the best first when not all do.
        let trainerRows = model.workers.values.filter { $0.role == "trainer" }.sorted { $0.name < $1.name }
        let footer = 2
        let trainerLines = trainerRows.isEmpty ? 0 : min(trainerRows.count, 8) + 2
        lines += members(model, now: now, room: max(3, height - lines.count - 1 - trainerLines - footer))
        lines += trainers(trainerRows)
        lines.append("")
        lines.append(status(model, now: now))
        return fit(lines, width: width, height: height)
    }

    /// The experiment's name, where it stands, and where the events come from.
    static func title(_ model: PopulationModel, endpoint: String) -> String {
        var title = "pbt monitor · \(model.name ?? "(experiment name not yet known)")"
        if let finish = model.finish {
            title += " · finished (\(finish.reason)) after \(NumberFormat.duration(finish.seconds))"
        } else if let progress = model.progress {
            title += " · running \(NumberFormat.duration(progress.seconds))"
        } else if model.startTime != nil {
            title += " · starting"
        }
        return title + " · events from \(endpoint)"
    }

    /// Steps, exploits, the best member, how many finished, the turnaround.
    static func summary(_ model: PopulationModel) -> String {
        let progress = model.progress
        var summary = "steps \(grouped(model.totalSteps))"
        if let rate = progress?.stepsPerSecond, model.finish == nil {
            summary += " (\(grouped(Int(exactly: rate.rounded()) ?? 0))/s)"
        }
        summary += "  exploits \(model.totalExploits)"
        if let best = model.best {
            summary += "  best \(NumberFormat.score(best.score)) (member \(best.member))"
        } else {
            summary += "  best -"
        }
        let finished = model.rows.filter { $0.state == .finished || $0.state == .failed }.count
        summary += "  finished \(max(finished, progress?.membersFinished ?? 0))/\(model.population ?? model.rows.count)"
        if !model.recentTurnarounds.isEmpty {
            let sorted = model.recentTurnarounds.sorted()
            summary +=
                "  turnaround p50 \(NumberFormat.duration(percentile(sorted, 0.5))) p90 \(NumberFormat.duration(percentile(sorted, 0.9)))"
        }
        return summary
    }

    /// The workers by role, and what went wrong so far.
    static func workers(_ model: PopulationModel, now: Double) -> String {
        var line =
            "trainers \(model.busyTrainers)/\(model.connectedCount(.trainer)) busy  evaluators \(model.connectedCount(.evaluator))  mutators \(model.connectedCount(.mutator))"
        line += "  lease expiries \(model.counters.leaseExpiries)"
        line += "  frames dropped \(model.counters.framesDropped.values.reduce(0, +))"
        if model.counters.resultsDropped > 0 { line += "  results dropped \(model.counters.resultsDropped)" }
        if model.counters.failures > 0 { line += "  failures \(model.counters.failures)" }
        let benched = model.workers.values.filter { $0.isBenched(at: now) }.count
        if benched > 0 { line += "  benched \(benched)" }
        if model.restarts > 0 { line += "  restarts \(model.restarts)" }
        if model.resumes > 0 { line += "  resumed \(model.resumes)×" }
        return line
    }

    /// The members' table in `room` lines: every member, or the best first and a count of
    /// those that did not fit.
    static func members(_ model: PopulationModel, now: Double, room: Int) -> [String] {
        var rows = model.rows
        var hidden = 0
        if rows.count > room {
            let bestID = model.best?.member
            rows.sort { a, b in
                if a.id == bestID { return true }
                if b.id == bestID { return false }
                return (a.score ?? -.infinity) > (b.score ?? -.infinity)
            }
            hidden = rows.count - (room - 1)
            rows = Array(rows.prefix(room - 1))
        }
        var lines = [" member  state       step    score     last exploit          hyperparameters"]
        for member in rows {
            let mark = member.id == model.best?.member ? "*" : " "
            let exploit: String
            if let last = member.lastExploit {
                exploit = "← m\(last.donor) @\(last.step) \(NumberFormat.duration(max(0, now - last.time))) ago"
            } else {
                exploit = "-"
            }
            let values = member.hyperparameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.shown)" }
                .joined(separator: " ")
            lines.append(
                mark + pad(String(member.id), 6, right: true) + "  " + pad(member.state.name, 10) + " "
                    + pad(member.step.map(String.init) ?? "-", 6, right: true) + "  "
                    + pad(NumberFormat.score(member.score), 8) + "  "
                    + pad(exploit, 20) + "  " + (values.isEmpty ? "-" : values))
        }
        if hidden > 0 { lines.append("  … \(hidden) more members (a taller terminal shows them)") }
        return lines
    }

    /// The trainers' table (the first eight), after a blank line; nothing without trainers.
    static func trainers(_ rows: [PopulationModel.Worker]) -> [String] {
        guard !rows.isEmpty else { return [] }
        var lines = ["", " trainer                 state  member  tasks"]
        for worker in rows.prefix(8) {
            lines.append(
                " " + pad(worker.name, 22) + "  " + pad(worker.member == nil ? "idle" : "busy", 5) + "  "
                    + pad(worker.member.map(String.init) ?? "-", 6, right: true) + "  "
                    + pad(String(worker.tasks), 5, right: true))
        }
        if rows.count > 8 { lines.append("  … \(rows.count - 8) more trainers") }
        return lines
    }

    /// Events seen, how long since the last, and how to quit.
    static func status(_ model: PopulationModel, now: Double) -> String {
        var status = "\(grouped(model.eventsSeen)) events"
        if let last = model.lastEventTime {
            let age = max(0, now - last)
            status += ", the last \(NumberFormat.duration(age)) ago"
            if age > 5 && model.finish == nil { status += " (no events: is the experiment still running?)" }
        }
        if model.finish != nil { status += "; waiting for the next experiment" }
        return status + " · Ctrl-C quits"
    }

    /// The lines cut to the screen (each to the width, the list to the height), with every control character shown as `\u{1B}`: names and
    /// labels come from the stream, where anyone may publish an escape sequence.
    static func fit(_ lines: [String], width: Int, height: Int) -> [String] {
        lines.prefix(max(1, height)).map { raw in
            let line = ControlCharacters.escaped(raw)
            return line.count > width ? String(line.prefix(max(1, width - 1))) + "…" : line
        }
    }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        guard text.count < width else { return text }
        let padding = String(repeating: " ", count: width - text.count)
        return right ? padding + text : text + padding
    }

    /// 12345 as `12,345`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }

    /// The `p` quantile of sorted values (nearest rank).
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
