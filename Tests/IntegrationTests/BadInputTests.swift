import Foundation
import PBTCore
import PBTSystem
import PBTWire
import Testing
import ZeroMQ

/// DESIGN invariant 4: bad input never kills a stage. Every bound endpoint gets garbage,
/// truncated and oversized frames, wrong protocol versions, unknown members, NaN scores and
/// hyperparameters outside the space while an experiment runs; every stage stays up, counts
/// what it dropped, and the experiment still finishes correctly.
@Suite("bad input", .serialized)
struct BadInputTests {
    static let experiment = """
        name: bad-input
        seed: 9
        workload: {kind: noop, step_seconds: 0.05}
        population: 4
        interval: 2
        stop: {max_steps: 40}
        exploit: {strategy: truncation, fraction: 0.5}
        explore: {strategy: perturb, resample_probability: 0}
        hyperparameters:
          x: {uniform: [0, 1]}
        leases: {timeout: 3s}
        """

    @Test("every bound endpoint survives garbage and the experiment finishes", .timeLimit(.minutes(3)))
    func garbageEverywhere() throws {
        let pipeline = try PipelineHarness(experiment: Self.experiment)
        let context = try ZMQContext()
        // Watch the proxy's own drops on the stream, subscribed before any garbage is sent.
        let watcher = try ZMQSocket(context, .sub)
        try watcher.subscribe(Array("frame.dropped".utf8))
        try watcher.subscribe(Array("experiment.progress".utf8))
        try watcher.connect(pipeline.subscribers)

        try pipeline.startSelector()
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("trainer", "trainer-1")
        #expect(pipeline.waitForEvents(within: 60) { $0.contains { $0["event"] as? String == "member.trained" } })
        // The subscription is live once a progress event arrives.
        var live = false
        for _ in 0..<100 where !live {
            live = try watcher.receive(timeoutMilliseconds: 100) != nil
        }
        #expect(live)

        // 1. The selector's work endpoint.
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.setRoutingID(Array("rogue".utf8))
        try rogue.connect(pipeline.work)
        var random = SplitMix64(seed: 42)
        var undecodable = 0
        var sent = 0
        func send(_ frames: [[UInt8]]) throws {
            try rogue.send(frames)
            sent += 1
            if frames.count != 1 {
                undecodable += 1
            } else if (try? WireProtocol.decodeReport(frames[0])) == nil {
                undecodable += 1
            }
        }
        let valid = WireProtocol.encode(.scored(EvaluateResult(member: 1, version: 1, score: 0.5)))
        for index in 0..<300 {
            let length = Int.random(in: 0...64, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if index % 3 == 0 && bytes.count >= 4 { bytes.replaceSubrange(0..<3, with: [0x50, 0x42, 1]) }
            try send([bytes])
        }
        for cut in 0..<valid.count { try send([Array(valid.prefix(cut))]) }
        try send([[0x50, 0x42, 1, 4] + [UInt8](repeating: 0xAB, count: 17 << 20)])  // larger than the 16 MiB limit
        for version in [0, 2, 9, 255] as [UInt8] { try send([[0x50, 0x42, version] + valid.dropFirst(3)]) }
        for _ in 0..<5 { try send([valid, valid]) }
        try send([WireProtocol.encode(.scored(EvaluateResult(member: 1, version: 1, score: .nan)))])
        try send([WireProtocol.encode(.scored(EvaluateResult(member: 1, version: 1, score: .infinity)))])
        // Well-formed but wrong: unknown members, stale versions, results nobody leased.
        try send([WireProtocol.encode(.scored(EvaluateResult(member: 999, version: 1, score: 0.5)))])
        try send([WireProtocol.encode(.trained(TrainResult(member: 0, version: 12345, step: 4, checkpoint: String(repeating: "a", count: 64), metrics: [:], seconds: 0)))])
        try send([WireProtocol.encode(.progress(member: 77, version: 1, step: 1))])
        let semantic = 2

        // A rogue mutator: joins properly, then answers with hyperparameters outside the space.
        let mutator = try ZMQSocket(context, .dealer)
        try mutator.setRoutingID(Array("rogue-mutator".utf8))
        try mutator.connect(pipeline.work)
        try mutator.send([WireProtocol.encode(.ready(role: .mutator, received: 0, name: "rogue-mutator", experimentID: ""))])
        var explored = false
        var experimentID = ""
        for _ in 0..<600 where !explored {
            guard let frames = try mutator.receive(timeoutMilliseconds: 100), let command = try? WireProtocol.decodeCommand(frames[0]) else {
                try mutator.send([WireProtocol.encode(.ready(role: .mutator, received: 0, name: "rogue-mutator", experimentID: experimentID))])
                continue
            }
            switch command {
            case .welcome(let id, _, _):
                experimentID = id
                try mutator.send([WireProtocol.encode(.ready(role: .mutator, received: 0, name: "rogue-mutator", experimentID: id))])
            case .explore(let task):
                try mutator.send([WireProtocol.encode(.explored(ExploreResult(
                    member: task.member, version: task.version, hyperparameters: Hyperparameters(["x": .real(7.5)]), changes: [:])))])
                try mutator.send([WireProtocol.encode(.goodbye)])
                explored = true
            default:
                break
            }
        }
        #expect(explored, "the rogue mutator never got an explore task")
        try pipeline.start("mutator", "mutator-1")

        // 2. The proxy's publisher side: frames that are not events.
        let publisher = try ZMQSocket(context, .pub)
        try publisher.connect(pipeline.publishers)
        var proxyGarbage = 0
        // PUB drops until the proxy's subscription reaches it: send until the first drop is reported.
        var proxyDrops = 0
        for index in 0..<2000 where proxyDrops < 60 {
            // Topics start with a subscribed prefix, or the publisher would filter them out itself.
            let topic = Array("experiment.progress".utf8)
            switch index % 4 {
            case 0: try publisher.send([topic, Array("not json".utf8)])
            case 1: try publisher.send([topic])
            case 2: try publisher.send([topic + [0x01, 0x02], Array("{}".utf8)])
            default: try publisher.send([topic, Array("{".utf8), Array("}".utf8)])
            }
            proxyGarbage += 1
            while let frames = try watcher.receive(timeoutMilliseconds: 5) {
                // Drop events are rate-limited; their `total` counts every drop.
                if frames.count == 2, String(decoding: frames[0], as: UTF8.self) == "frame.dropped",
                    let event = try? JSONSerialization.jsonObject(with: Data(frames[1])) as? [String: Any],
                    event["stage"] as? String == "events", let total = event["total"] as? Int
                {
                    proxyDrops = max(proxyDrops, total)
                }
            }
        }
        #expect(proxyDrops >= 60, "the proxy reported \(proxyDrops) drops of \(proxyGarbage) bad frames")

        // 3. The proxy's subscriber side: an XSUB sending frames that are not subscriptions.
        let subscriber = try ZMQSocket(context, .xsub)
        try subscriber.connect(pipeline.subscribers)
        for index in 0..<100 { try subscriber.send([[UInt8(index % 256)] + Array("garbage".utf8)]) }

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        #expect((summary["members"] as? [[String: Any]])?.count == 4)
        let events = pipeline.events()
        try checkMemberHistories(events, population: 4, maxSteps: 40)
        // Every frame that could not be decoded was counted; the well-formed wrong ones were dropped as results.
        #expect(summary["frames_dropped"] as? Int == undecodable, "sent \(sent) frames, \(undecodable) undecodable")
        let dropped = events.filter { $0["event"] as? String == "result.dropped" }
        #expect(dropped.count >= semantic + 1, "\(dropped)")
        #expect(dropped.contains { ($0["reason"] as? String ?? "").contains("outside its uniform domain") })
        #expect(dropped.contains { ($0["reason"] as? String ?? "") == "unknown member" })
        // The proxy is still up and forwarding.
        #expect(pipeline.proxy?.child.poll() == nil)
    }
}
