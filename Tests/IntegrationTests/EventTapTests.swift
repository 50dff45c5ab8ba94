import Foundation
import PBTStages
import PBTSystem
import PBTTestSupport
import Testing
import ZeroMQ

/// `pbt events` against a real proxy, with events published by the test.
@Suite("pbt events")
struct EventTapTests {
    @Test(
        "--until ends the tap even when --topic does not cover it, and prints only --topic's events",
        .timeLimit(.minutes(2)))
    func untilOutsideTheTopics() throws {
        let directory = try TemporaryDirectory()
        let proxy = try PBTProcess(
            [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*",
                "--ready-file", directory.file("events.json"),
            ],
            output: directory.file("proxy.log"))
        let endpoints = try readyEndpoints(directory.file("events.json"))
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
