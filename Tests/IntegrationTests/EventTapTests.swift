import Foundation
import PBTStages
import PBTSystem
import PBTTestSupport
import Testing
import ZeroMQ

/// `pbt events` against a real proxy, with events published by the test.
@Suite("pbt events")
struct EventTapTests {
    /// An event proxy on free loopback ports, and the endpoints it bound.
    static func proxy(in directory: TemporaryDirectory) throws -> (PBTProcess, [String: String]) {
        let proxy = try PBTProcess(
            [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*",
                "--ready-file", directory.file("events.json"),
            ],
            output: directory.file("proxy.log"))
        return (proxy, try readyEndpoints(directory.file("events.json")))
    }

    @Test(
        "--until ends the tap even when --topic does not cover it, and prints only --topic's events",
        .timeLimit(.minutes(2)))
    func untilOutsideTheTopics() throws {
        let directory = try TemporaryDirectory()
        let (proxy, endpoints) = try Self.proxy(in: directory)
        let tap = try PBTProcess(
            [
                "events", "--endpoint", try #require(endpoints["subscribers"]), "--topic", "member.", "--until",
                "experiment.finished",
            ],
            output: directory.file("tap.log"))
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, .pub)
        try publisher.connect(try #require(endpoints["publishers"]))
        func publish(_ topic: String) throws {
            try publisher.send([Array(topic.utf8), Array(#"{"event":"\#(topic)","seq":1}"#.utf8)])
        }

        // Subscriptions take a moment to reach the proxy: publish until the tap has printed one.
        let printing = try eventually(within: 20) {
            try publish("member.scored")
            return tap.log.contains(#""event":"member.scored""#)
        }
        #expect(printing, "\(tap.log)")
        var ended: ChildProcess.Termination?
        let stopped = try eventually(within: 20) {
            try publish("experiment.finished")
            ended = tap.child.poll()
            return ended != nil
        }
        #expect(stopped, "the tap did not stop at experiment.finished: \(tap.log)")
        #expect(ended?.exitCode == 0)
        #expect(!tap.log.contains(#""event":"experiment.finished""#), "printed an event outside --topic: \(tap.log)")
        _ = proxy
    }

    /// `pbt events … | head -1`: once the pipe's reader has gone, the tap ends (exit 0) even
    /// when no event comes to write (here, with no proxy at all).
    @Test("the tap ends when the reader of its output goes away", .timeLimit(.minutes(1)))
    func endsWhenItsReaderGoes() throws {
        let directory = try TemporaryDirectory()
        // (The tap's parent is the shell, not this test: it must not follow our pid.)
        let shell =
            "env -u PBT_PARENT_PID '\(PBTBinary.path)' events --endpoint tcp://127.0.0.1:1 | head -0; echo \"tap: ${PIPESTATUS[0]}\""
        let (end, output) = try ExternalTool.run("/bin/bash", ["-c", shell], within: 20, in: directory)
        #expect(end?.succeeded == true, "the tap still ran 20 s after its reader went: \(output)")
        #expect(output.contains("tap: 0"), "\(output)")
    }

    /// A signal that stops a watcher is its exit code (128 + N), as for every stage.
    @Test(
        "watchers stopped by a signal exit with 128 + the signal",
        .timeLimit(.minutes(1)),
        arguments: [
            ["events", "--endpoint", "tcp://127.0.0.1:1"],
            ["events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*"],
            ["exporter", "--events", "tcp://127.0.0.1:1", "--listen", "127.0.0.1:0"],
            ["monitor", "--events", "tcp://127.0.0.1:1", "--plain"],
        ])
    func signalsAreExitCodes(arguments: [String]) throws {
        let directory = try TemporaryDirectory()
        let watcher = try PBTProcess(arguments, output: directory.file("watcher.log"))
        // SIGTERM once it catches it (its handler is installed: SigCgt in /proc holds bit 15).
        let catching = eventually(within: 10) {
            let status = (try? String(contentsOfFile: "/proc/\(watcher.child.pid)/status", encoding: .utf8)) ?? ""
            let mask = status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }?.split(separator: "\t").last
            return mask.flatMap { UInt64($0.trimmingCharacters(in: .whitespaces), radix: 16) }.map {
                $0 & (1 << (UInt64(SIGTERM) - 1)) != 0
            } ?? false
        }
        #expect(catching, "\(arguments) never caught SIGTERM")
        watcher.child.send(SIGTERM)
        let end = watcher.child.wait(seconds: 10)
        #expect(end?.exitCode == 143, "\(arguments): \(String(describing: end))\n\(watcher.log)")
    }

    /// The proxy forwards the topics of the event table only: another is dropped, and the
    /// drop is told on the stream (`frame.dropped`, reason `unknown_topic`).
    @Test("the proxy drops a topic the event table does not have", .timeLimit(.minutes(1)))
    func unknownTopicsAreDropped() throws {
        let directory = try TemporaryDirectory()
        let (proxy, endpoints) = try Self.proxy(in: directory)
        let tap = try PBTProcess(
            ["events", "--endpoint", try #require(endpoints["subscribers"])], output: directory.file("tap.log"))
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, .pub)
        try publisher.connect(try #require(endpoints["publishers"]))
        let heard = try eventually(within: 20) {
            try publisher.send([Array("bogus.topic".utf8), Array(#"{"event":"bogus.topic"}"#.utf8)])
            try publisher.send([Array("member.scored".utf8), Array(#"{"event":"member.scored"}"#.utf8)])
            return tap.log.contains(#""reason":"unknown_topic""#) && tap.log.contains(#""event":"member.scored""#)
        }
        #expect(heard, "\(tap.log)\n\(proxy.log)")
        #expect(!tap.log.contains(#"{"event":"bogus.topic"}"#), "\(tap.log)")
    }

    /// A ready file that is a FIFO nobody reads holds the exporter in its write; a signal
    /// then ends it with 128 + the signal, not with the write's error.
    @Test("a signal during a blocked write is the exit code", .timeLimit(.minutes(1)))
    func signalDuringABlockedWrite() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("ready.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let exporter = try PBTProcess(
            ["exporter", "--events", "tcp://127.0.0.1:1", "--listen", "127.0.0.1:0", "--ready-file", fifo],
            output: directory.file("exporter.log"))
        // It has bound its HTTP port and logged so; the write to the FIFO follows and blocks.
        #expect(eventually(within: 10) { exporter.log.contains("serving metrics") }, "\(exporter.log)")
        exporter.child.send(SIGTERM)
        let end = exporter.child.wait(seconds: 10)
        #expect(end?.exitCode == 143, "\(String(describing: end))\n\(exporter.log)")
    }

    /// An endpoint another process listens on is bad input found before the stage starts.
    @Test("a proxy whose endpoint is taken says so, exit 2", .timeLimit(.minutes(1)))
    func takenEndpointIsExitTwo() throws {
        let directory = try TemporaryDirectory()
        let context = try ZMQContext()
        let holder = try ZMQSocket(context, .pull)
        try holder.bind("tcp://127.0.0.1:*")
        let taken = try holder.lastEndpoint
        let proxy = try PBTProcess(
            ["events", "proxy", "--publishers", taken, "--subscribers", "tcp://127.0.0.1:*"],
            output: directory.file("proxy.log"))
        let end = try #require(proxy.finish(within: 30))
        #expect(end.exitCode == 2, "\(proxy.log)")
        #expect(proxy.log.contains("cannot bind --publishers \(taken): Address already in use"), "\(proxy.log)")
    }

    @Test func subscriptionsCoverTheUntilTopic() {
        func subscriptions(_ topics: [String], until: String?) -> [String] {
            EventTap.Options(endpoint: "", topics: topics, until: until).subscriptions
        }
        #expect(subscriptions([], until: "experiment.finished") == [""])
        #expect(subscriptions(["member."], until: "experiment.finished") == ["member.", "experiment.finished"])
        #expect(subscriptions(["experiment."], until: "experiment.finished") == ["experiment."])
        #expect(subscriptions(["member."], until: nil) == ["member."])
        let options = EventTap.Options(
            endpoint: "", topics: ["member.", "trainer.joined"], until: "experiment.finished")
        #expect(options.prints(topic: "member.scored") && options.prints(topic: "trainer.joined"))
        #expect(!options.prints(topic: "experiment.finished"))
    }
}
