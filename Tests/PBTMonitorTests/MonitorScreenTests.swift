import PBTMonitor
import Testing

/// What the monitor draws for a model, without a terminal.
@Suite("Monitor screen")
struct MonitorScreenTests {
    @Test func beforeAnyEventItSaysWhatItWaitsFor() {
        let lines = MonitorScreen.render(
            PopulationModel(), now: 0, endpoint: "tcp://127.0.0.1:5557", width: 100, height: 30)
        #expect(lines.count == 3)
        #expect(lines[2].contains("waiting for events from tcp://127.0.0.1:5557"))
    }

    @Test func aRunningExperimentShowsMembersTrainersAndTotals() throws {
        var lines = E.twoMembers
        lines.insert(E.progress(101.0, steps: 8, best: 0, score: 0.8, trainers: 2, busy: 1), at: 16)
        let (model, _) = try E.fold(Array(lines.prefix(20)))
        let screen = MonitorScreen.render(model, now: 101.4, endpoint: "tcp://x:1", width: 140, height: 40)
        let text = screen.joined(separator: "\n")
        #expect(screen[0].hasPrefix("pbt monitor · toy · running"))
        #expect(text.contains("exploits 1"))
        #expect(text.contains("best 0.8000 (member 0)"))
        #expect(text.contains("trainers 2/2 busy") || text.contains("trainers 1/2 busy"))
        let member0 = try #require(screen.first { $0.hasPrefix("*     0") })
        #expect(member0.contains("training"))
        #expect(member0.contains("h0=1"))
        let member1 = try #require(screen.first { $0.hasPrefix("      1") })
        #expect(member1.contains("← m0 @4"))
        #expect(member1.contains("h0=1.2"))
        #expect(text.contains("t1"))
        #expect(screen.allSatisfy { $0.count <= 140 })
    }

    @Test func aSmallTerminalShowsTheBestMembersAndSaysHowManyAreHidden() throws {
        var lines = [E.started(0, population: 30)]
        for member in 0..<30 { lines.append(E.scored(1, member, step: 4, score: Double(member) / 100)) }
        lines.append(E.progress(2, seconds: 2, steps: 120, best: 29, score: 0.29, population: 30))
        let (model, _) = try E.fold(lines)
        let screen = MonitorScreen.render(model, now: 2, endpoint: "e", width: 60, height: 16)
        #expect(screen.count <= 16)
        #expect(screen.allSatisfy { $0.count <= 60 })
        #expect(screen.contains { $0.hasPrefix("*    29") })
        #expect(screen.contains { $0.contains("more members") })
        #expect(model.restarts == 0)
        #expect(screen.contains { $0.hasPrefix("     28  waiting") })
    }

    @Test func aFinishedExperimentSaysSoAndWaitsForTheNext() throws {
        var lines = E.twoMembers
        lines.append(E.finished(102, best: 0, score: 0.8))
        let (model, _) = try E.fold(lines)
        let screen = MonitorScreen.render(model, now: 110, endpoint: "e", width: 120, height: 30)
        #expect(screen[0].contains("finished (max_steps)"))
        #expect(screen.last?.contains("waiting for the next experiment") == true)
    }

    @Test func droppedResultsFailuresAndBenchedWorkersAreShown() throws {
        let (model, _) = try E.fold([
            E.started(0), E.joined(0.1, "trainer", "t1"), E.joined(0.1, "evaluator", "e1"),
            E.dropped(1, reason: "stale_version", count: 12, total: 12),
            E.failed(2, 0, worker: "e1"), E.benched(3, "evaluator", "e1", seconds: 30),
        ])
        let text = MonitorScreen.render(model, now: 4, endpoint: "e", width: 160, height: 30).joined(separator: "\n")
        #expect(text.contains("results dropped 12"))
        #expect(text.contains("failures 1"))
        #expect(text.contains("benched 1"))
        let later = MonitorScreen.render(model, now: 40, endpoint: "e", width: 160, height: 30).joined(separator: "\n")
        #expect(!later.contains("benched"), "the bench is over")
        let (quiet, _) = try E.fold(E.twoMembers)
        let calm = MonitorScreen.render(quiet, now: 102, endpoint: "e", width: 160, height: 30).joined(separator: "\n")
        #expect(!calm.contains("results dropped") && !calm.contains("benched") && !calm.contains("failures"))
    }

    @Test(arguments: [(0, "0"), (999, "999"), (1000, "1,000"), (1234567, "1,234,567"), (-4500, "-4,500")])
    func grouping(value: Int, text: String) {
        #expect(MonitorScreen.grouped(value) == text)
    }

    /// Names and labels come from the stream, where anyone may publish: an escape sequence in
    /// one is shown, not sent to the terminal.
    @Test func controlCharactersFromTheStreamAreShownNotSent() throws {
        let (model, _) = try E.fold([
            E.line(
                "experiment.started", 1,
                #""name":"esc\u001b[2J","population":1,"hyperparameters":["h\u0007"]"#),
            E.joined(2, "trainer", #"w\u001b]0;pwned"#),
        ])
        let screen = MonitorScreen.render(model, now: 3, endpoint: "e", width: 200, height: 40)
        #expect(!screen.joined().unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(screen.joined().contains("esc\\u{1B}[2J"))
    }
}
