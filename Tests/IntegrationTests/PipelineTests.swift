import Foundation
import PBTCore
import PBTStages
import PBTSystem
import PBTWire
import Testing
import ZeroMQ

/// The stages started one by one, as a deployment would, connected over loopback TCP.
@Suite("pipeline of separate stage processes", .serialized)
struct PipelineTests {
    @Test("stages started by hand run an experiment; pbt events taps it; the event log is consistent")
    func handStartedPipeline() throws {
        let directory = try TemporaryDirectory()
        let experiment = try directory.write(
            "exp.yml",
            noopExperiment(population: 4, interval: 2, maxSteps: 40, stepSeconds: 0.02, exploit: "truncation"))
        let proxy = try PBTProcess(
            [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*",
                "--ready-file", directory.file("events.json"),
            ],
            output: directory.file("events.log"))
        let events = try readyEndpoints(directory.file("events.json"))
        let publishers = try #require(events["publishers"])
        let subscribers = try #require(events["subscribers"])

        let tap = try PBTProcess(
            ["events", "--endpoint", subscribers, "--until", "experiment.finished"], output: directory.file("tap.jsonl")
        )
        // Our own subscriber too: a real SUB socket on the proxy.
        let context = try ZMQContext()
        let watcher = try ZMQSocket(context, .sub)
        try watcher.subscribe(Array("stage.started".utf8))
        try watcher.connect(subscribers)

        let selector = try PBTProcess(
            [
                "selector", experiment, "--run-dir", directory.file("run"), "--bind", "tcp://127.0.0.1:*", "--events",
                publishers,
                "--min-trainers", "2", "--ready-file", directory.file("selector.json"),
            ],
            output: directory.file("selector.log"))
        let work = try #require(try readyEndpoints(directory.file("selector.json"))["work"])
        var workers: [PBTProcess] = []
        for (role, name) in [
            ("evaluator", "evaluator-a"), ("mutator", "mutator-a"), ("trainer", "trainer-a"), ("trainer", "trainer-b"),
        ] {
            workers.append(
                try PBTProcess(
                    [role, "--connect", work, "--events", publishers, "--name", name],
                    output: directory.file("\(name).log")))
        }

        let selectorEnd = try #require(selector.finish(within: 120))
        #expect(selectorEnd.succeeded, "\(selector.log)")
        for worker in workers {
            let end = try #require(worker.finish(within: 30))
            #expect(end.succeeded, "\(worker.child.arguments.first ?? "") \(end)\n\(worker.log)")
        }
        let tapEnd = try #require(tap.finish(within: 30))
        #expect(tapEnd.succeeded)
        _ = proxy

        // The tap printed JSON lines ending with the experiment's end.
        let tapped = EventLog(text: try String(contentsOfFile: tap.output, encoding: .utf8)).events
        #expect(tapped.last?.topic == .experimentFinished)
        #expect(tapped.contains { $0.topic == .memberScored })

        // The selector's event log: every member's history follows the protocol.
        let log = try runEvents(directory.file("run"))
        try checkMemberHistories(log, population: 4, maxSteps: 40)
        let summary = try jsonObject(directory.file("run/summary.json"))
        #expect((summary["members"] as? [[String: Any]])?.count == 4)
        let joined = Set(
            log.compactMap { if case .workerJoined(_, let worker) = $0.event { worker } else { nil } })
        #expect(joined == ["evaluator-a", "mutator-a", "trainer-a", "trainer-b"])
        #expect(
            Set(log.compactMap { $0.trained?.trainer }) == [
                "trainer-a", "trainer-b",
            ])
    }
}
