import Foundation
import PBTSystem
import PBTTestSupport
import Testing

/// `pbt monitor` under a real terminal: tmux runs it in a 160 × 50 window; the test reads the
/// screen with capture-pane while an experiment started elsewhere runs, finishes, is followed
/// by another, and the event proxy itself restarts.
@Suite("pbt monitor in tmux")
struct MonitorTerminalTests {
    /// Starts the event proxy on `publishers`/`subscribers`.
    static func proxy(
        _ directory: TemporaryDirectory, publishers: String, subscribers: String, ready: String
    ) throws -> PBTProcess {
        try PBTProcess(
            [
                "events", "proxy", "--publishers", publishers, "--subscribers", subscribers, "--ready-file",
                directory.file(ready),
            ],
            output: directory.file("\(ready).log"))
    }

    @Test(
        .enabled(
            if: ExternalTool.available("tmux"), "tmux is not installed (apt-get install tmux; .ci/run installs it)"))
    func showsAnExperimentLiveAndSurvivesRestarts() throws {
        let directory = try TemporaryDirectory()
        var proxy = try Self.proxy(
            directory, publishers: "tcp://127.0.0.1:*", subscribers: "tcp://127.0.0.1:*", ready: "proxy-1.json")
        let endpoints = try readyEndpoints(directory.file("proxy-1.json"))
        let publishers = try #require(endpoints["publishers"])
        let subscribers = try #require(endpoints["subscribers"])

        // The monitor starts first and waits for an experiment.
        let tmux = try TmuxSession(
            command: [PBTBinary.path, "monitor", "--events", subscribers], width: 160, height: 50, directory: directory)
        let waiting = tmux.waitForScreen(within: 20) { $0.contains("waiting for events from \(subscribers)") }
        #expect(waiting.held, "the monitor did not start:\n\(waiting.screen)")

        // Experiment A, started elsewhere: a selector and workers that serve the next experiment too.
        let work = "ipc://\(directory.path)/work"
        let experimentA = try directory.write(
            "a.yml",
            noopExperiment(
                name: "watch-a", population: 3, interval: 2, maxSteps: 30, stepSeconds: 0.04, exploit: "truncation"))
        var selector = try PBTProcess(
            [
                "selector", experimentA, "--run-dir", directory.file("run-a"), "--bind", work, "--events", publishers,
                "--min-trainers", "2",
            ], output: directory.file("selector-a.log"))
        var workers: [PBTProcess] = []
        for (role, name) in [
            ("evaluator", "evaluator-1"), ("mutator", "mutator-1"), ("trainer", "trainer-1"), ("trainer", "trainer-2"),
        ] {
            workers.append(
                try PBTProcess(
                    [
                        role, "--connect", work, "--events", publishers, "--name", name, "--heartbeat", "0.2",
                        "--keep-running",
                    ], output: directory.file("\(name).log")))
        }

        // Live: the experiment's name, a row a member, a member training, a busy trainer.
        let live = tmux.waitForScreen(within: 30) { screen in
            screen.contains("pbt monitor · watch-a · running")
                && screen.split(separator: "\n").contains { $0.contains(" training ") && $0.hasSuffix(")") == false }
                && screen.contains("trainer-1")
                && screen.split(separator: "\n").contains { $0.contains("trainer-") && $0.contains(" busy ") }
        }
        #expect(live.held, "no live view of watch-a:\n\(live.screen)")
        let rows = live.screen.split(separator: "\n").filter {
            $0.range(
                of: #"^[ *] +[0-2]  (training|evaluating|exploring|waiting|finished) "#, options: .regularExpression)
                != nil
        }
        #expect(rows.count == 3, "expected a row for each of 3 members:\n\(live.screen)")

        // Finished: the monitor says so and shows the summary's best.
        let endA = try #require(selector.finish(within: 60))
        #expect(endA.succeeded)
        let summaryA = try jsonObject(directory.file("run-a/summary.json"))
        let bestA = try #require(summaryA["best"] as? [String: Any])
        let bestLine = String(
            format: "best %.4f (member %d)", try #require(bestA["score"] as? Double),
            try #require(bestA["member"] as? Int))
        let done = tmux.waitForScreen(within: 20) {
            $0.contains("watch-a · finished (max_steps)") && $0.contains(bestLine)
        }
        #expect(done.held, "the end of watch-a is not shown (expected '\(bestLine)'):\n\(done.screen)")
        #expect(done.screen.contains("finished 3/3"))

        // Experiment B on the same pipeline: the monitor follows it.
        let experimentB = try directory.write(
            "b.yml",
            noopExperiment(
                name: "watch-b", population: 2, interval: 2, maxSteps: 80, stepSeconds: 0.04, exploit: "truncation"))
        selector = try PBTProcess(
            [
                "selector", experimentB, "--run-dir", directory.file("run-b"), "--bind", work, "--events", publishers,
                "--min-trainers", "2",
            ], output: directory.file("selector-b.log"))
        let second = tmux.waitForScreen(within: 30) {
            $0.contains("pbt monitor · watch-b · running") && $0.contains("restarts 1")
        }
        #expect(second.held, "the monitor did not follow the next experiment:\n\(second.screen)")

        // The event proxy restarts on the same ports mid-experiment: the monitor reconnects.
        proxy.child.send(SIGKILL)
        _ = proxy.child.wait(seconds: 10)
        proxy = try Self.proxy(directory, publishers: publishers, subscribers: subscribers, ready: "proxy-2.json")
        _ = try readyEndpoints(directory.file("proxy-2.json"))
        let endB = try #require(selector.finish(within: 60))
        #expect(endB.succeeded)
        let after = tmux.waitForScreen(within: 20) { $0.contains("watch-b · finished (max_steps)") }
        #expect(
            after.held, "after the proxy restarted, the end of watch-b never showed:\n\(after.screen)\n\(proxy.log)")

        // Ctrl-C: the monitor leaves the alternate screen and its last frame behind.
        try tmux.sendKeys("C-c")
        #expect(eventually(within: 10) { tmux.programExited }, "the monitor did not exit on Ctrl-C")
        let last = tmux.capture(history: true)
        #expect(last.contains("watch-b · finished (max_steps)"), "no last frame after exit:\n\(last)")
        withExtendedLifetime(workers) {}
    }
}
