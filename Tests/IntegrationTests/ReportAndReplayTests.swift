import Foundation
import PBTCore
import PBTSystem
import Testing

/// `pbt report` checked in a real headless browser, and `pbt replay` retraining the best
/// member of a real run to the same score.
@Suite("report and replay")
struct ReportAndReplayTests {
    /// A finished toy run (the paper's experiment, 200 steps, 2 members) in `directory`.
    static func toyRun(_ directory: TemporaryDirectory, name: String = "toy") throws -> String {
        let run = directory.file(name)
        let process = try PBTProcess(
            [
                "run", PBTBinary.repository + "/topologies/experiments/toy.yml", "-o", run, "--quiet", "--metrics",
                "none",
            ], output: directory.file("\(name).log"))
        let end = try #require(process.finish(within: 120))
        try #require(end.succeeded, "pbt run failed: \(process.log)")
        return run
    }

    @Test(
        .enabled(
            if: ExternalTool.available("chromium"),
            "chromium is not installed (apt-get install chromium; .ci/run installs it)"))
    func theReportRendersInChromiumWithTheRunsNumbers() throws {
        let directory = try TemporaryDirectory()
        let run = try Self.toyRun(directory)
        let report = try PBTProcess(["report", run], output: directory.file("report.log"))
        #expect(try #require(report.finish(within: 60)).succeeded, "\(report.log)")
        #expect(report.log.contains("wrote \(run)/report.html"))
        let summary = try jsonObject(run + "/summary.json")
        let best = try #require(summary["best"] as? [String: Any])
        let events = try runEvents(run)

        // The DOM as chromium parsed it.
        let chromium = try #require(ExternalTool.path("chromium"))
        let common = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=\(directory.file("chromium-profile"))",
        ]
        let (dumped, dom) = try ExternalTool.run(
            chromium, common + ["--dump-dom", "file://\(run)/report.html"], within: 90, in: directory)
        #expect(dumped?.succeeded == true, "chromium --dump-dom failed: \(dom.suffix(2000))")
        let score = try #require(best["score"] as? Double)
        // (Compared as numbers: Foundation's JSON reader can be an ulp off the text it read.)
        let shown = try #require(
            firstMatch(#"id="best-score" data-value="([-0-9.e+]+)""#, in: dom).flatMap(Double.init),
            "no best score in the page")
        #expect(
            abs(shown - score) <= 1e-12 * max(1, abs(score)),
            "the page's best score \(shown) is not the summary's \(score)")
        #expect(dom.contains("id=\"best-member\">\(try #require(best["member"] as? Int))<"))
        #expect(dom.contains("id=\"exploits\">\(try #require(summary["exploits"] as? Int))<"))
        let schedule = try #require(best["schedule"] as? [[String: Any]])
        #expect(dom.components(separatedBy: "class=\"schedule-row\"").count - 1 == schedule.count)
        #expect(dom.contains("The lineage rebuilt from events.jsonl agrees with summary.json"))
        for id in ["scores", "hp-h0", "hp-h1", "lineage"] {
            #expect(dom.contains("<svg id=\"\(id)\""), "no figure \(id)")
        }
        // A score series per member, with a point per score and a jump per exploit.
        for member in 0..<2 {
            let scored = events.filter { $0.topic == .memberScored && $0.member == member }
                .count
            let exploited = events.filter {
                $0.topic == .memberExploited && $0.member == member
            }.count
            #expect(
                dom.contains(
                    "class=\"series\" data-member=\"\(member)\" data-points=\"\(scored + exploited)\" data-jumps=\"\(exploited)\""
                ),
                "member \(member): \(scored) scores, \(exploited) exploits")
        }

        // A screenshot: a PNG of the asked size with something drawn on it.
        let png = run + "/report.png"
        let (shot, shotLog) = try ExternalTool.run(
            chromium, common + ["--screenshot=\(png)", "--window-size=1100,1400", "file://\(run)/report.html"],
            within: 90, in: directory)
        #expect(shot?.succeeded == true, "chromium --screenshot failed: \(shotLog.suffix(2000))")
        let bytes = try #require(FileManager.default.contents(atPath: png))
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1100 && height == 1400)
        // A blank page of this size compresses to about 6 KB; plots and tables make far more.
        #expect(bytes.count > 40_000, "the screenshot is \(bytes.count) bytes: blank?")
    }

    @Test func replayingTheBestMemberOfARunReachesItsScore() throws {
        let directory = try TemporaryDirectory()
        let run = try Self.toyRun(directory)
        let summary = try jsonObject(run + "/summary.json")
        let best = try #require(summary["best"] as? [String: Any])
        let replay = try PBTProcess(["replay", run, "--member", "best"], output: directory.file("replay.log"))
        #expect(try #require(replay.finish(within: 60)).succeeded, "\(replay.log)")
        let member = try #require(best["member"] as? Int)
        let file = "\(run)/replay-member-\(member).yml"
        #expect(replay.log.contains("wrote \(file)"))
        let again = try PBTProcess(
            ["run", file, "-o", directory.file("again"), "--quiet", "--metrics", "none"],
            output: directory.file("again.log"))
        #expect(try #require(again.finish(within: 120)).succeeded, "\(again.log)")
        let replayed = try jsonObject(directory.file("again/summary.json"))
        let replayedBest = try #require(replayed["best"] as? [String: Any])
        #expect(replayed["exploits"] as? Int == 0)
        #expect(replayedBest["step"] as? Int == best["step"] as? Int)
        #expect(
            replayedBest["score"] as? Double == best["score"] as? Double,
            "the replay scored \(replayedBest["score"] ?? "?"), the run \(best["score"] ?? "?")")
        // Its schedule is the original's, range by range.
        let original = try #require(best["schedule"] as? [[String: Any]]).map {
            $0["hyperparameters"] as? [String: Double]
        }
        let retrained = try #require(replayedBest["schedule"] as? [[String: Any]]).map {
            $0["hyperparameters"] as? [String: Double]
        }
        #expect(retrained == original)
    }

    struct BadUse: Sendable, CustomTestStringConvertible {
        let label: String
        let arguments: [String]
        let exitCode: Int32
        let mentions: String
        var testDescription: String { label }
    }

    static let badUses: [BadUse] = [
        BadUse(
            label: "report of a missing directory", arguments: ["report", "/nonexistent/run"], exitCode: 2,
            mentions: "/nonexistent/run is not a directory"),
        BadUse(
            label: "report of a directory that is not a run", arguments: ["report", "EMPTY"], exitCode: 2,
            mentions: "is not a run directory: it has no events.jsonl"),
        BadUse(
            label: "replay of a member that does not exist", arguments: ["replay", "RUN", "--member", "7"], exitCode: 2,
            mentions: "there is no member 7 in"),
        BadUse(
            label: "replay of a member that is not a number", arguments: ["replay", "RUN", "--member", "first"],
            exitCode: 2, mentions: "--member must be a member id"),
        BadUse(label: "replay without a member", arguments: ["replay", "RUN"], exitCode: 2, mentions: "--member"),
        BadUse(
            label: "replay of a directory that is not a run", arguments: ["replay", "EMPTY", "--member", "0"],
            exitCode: 2, mentions: "is not a run directory"),
        BadUse(
            label: "tensorboard of a directory whose events.jsonl holds no event",
            arguments: ["tensorboard", "FOREIGN"],
            exitCode: 2, mentions: "events.jsonl holds no event (its 2 lines are not events): is "),
        BadUse(
            label: "report of a directory whose events.jsonl holds no event", arguments: ["report", "FOREIGN"],
            exitCode: 2, mentions: "events.jsonl holds no event"),
        BadUse(
            label: "report into a directory that does not exist", arguments: ["report", "RUN", "-o", "MISSING/r.html"],
            exitCode: 2, mentions: "missing/r.html: its directory "),
        BadUse(
            label: "tensorboard of a run whose events.jsonl is a FIFO", arguments: ["tensorboard", "FIFORUN"],
            exitCode: 2, mentions: "events.jsonl is not a regular file"),
        BadUse(
            label: "tensorboard of a run whose events.jsonl is a directory", arguments: ["tensorboard", "DIRRUN"],
            exitCode: 2, mentions: "events.jsonl is not a regular file"),
        BadUse(
            label: "report of a run whose events.jsonl is a FIFO", arguments: ["report", "FIFORUN"],
            exitCode: 2, mentions: "events.jsonl is not a regular file"),
        BadUse(
            label: "report to an empty -o", arguments: ["report", "RUN", "-o", ""], exitCode: 2, mentions: "-o takes"),
        BadUse(
            label: "tensorboard into a path under a file", arguments: ["tensorboard", "RUN", "-o", "FILE/tb"],
            exitCode: 2, mentions: "notes.txt is not a directory"),
    ]

    @Test("bad use of report and replay says why", arguments: badUses)
    func badUse(_ row: BadUse) throws {
        let directory = try TemporaryDirectory()
        let empty = directory.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let run = directory.file("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        _ = try directory.write("run/experiment.yml", noopExperiment(population: 2, maxSteps: 4))
        _ = try directory.write(
            "run/events.jsonl",
            #"{"event":"experiment.started","time":1,"name":"noop","population":2,"hyperparameters":["x"]}"# + "\n")
        let foreign = directory.file("foreign")
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        _ = try directory.write("foreign/events.jsonl", "remember the milk\n{\"not\":\"an event\"}\n")
        let file = try directory.write("notes.txt", "not a directory\n")
        let fifoRun = directory.file("fiforun")
        let directoryRun = directory.file("dirrun")
        try FileManager.default.createDirectory(atPath: fifoRun, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: directoryRun + "/events.jsonl", withIntermediateDirectories: true)
        #expect(mkfifo(fifoRun + "/events.jsonl", 0o600) == 0)
        let places = ["EMPTY": empty, "RUN": run, "FOREIGN": foreign, "FIFORUN": fifoRun, "DIRRUN": directoryRun]
        let arguments = row.arguments.map { places[$0] ?? $0 }.map {
            $0.replacingOccurrences(of: "MISSING/", with: directory.file("missing") + "/")
                .replacingOccurrences(of: "FILE/", with: file + "/")
        }
        let process = try PBTProcess(arguments, output: directory.file("out.txt"))
        let end = try #require(process.finish(within: 30))
        #expect(end.exitCode == row.exitCode, "\(process.log)")
        #expect(process.log.contains(row.mentions), "\(process.log)")
        // Nothing is left behind by a refusal.
        #expect(!FileManager.default.fileExists(atPath: foreign + "/tensorboard"))
        #expect(!FileManager.default.fileExists(atPath: foreign + "/report.html"))
    }
}
