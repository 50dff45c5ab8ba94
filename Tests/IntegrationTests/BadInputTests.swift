import Foundation
import PBTCore
import PBTSystem
import PBTWire
import Testing
import ZeroMQ

/// invariant 4: bad input never kills a stage. Every bound endpoint gets garbage,
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

        // A rogue mutator, the only one: registers properly with an inlet of its own (training
        // waits for a mutator), then answers its first explore with hyperparameters outside the space.
        let mutator = try ZMQSocket(context, .dealer)
        try mutator.setRoutingID(Array("rogue-mutator".utf8))
        try mutator.connect(pipeline.work)
        let mutatorInlet = try ZMQSocket(context, .pull)
        let mutatorEndpoint = pipeline.inlet(of: "rogue-mutator")
        try mutatorInlet.bind(mutatorEndpoint)
        let mutatorPush = try ZMQSocket(context, .push)
        func ready(_ experimentID: String) -> [UInt8] {
            WireProtocol.encode(
                .ready(
                    Ready(
                        role: .mutator, received: 0, name: "rogue-mutator", experimentID: experimentID,
                        inlet: PeerEndpoint(endpoint: mutatorEndpoint))))
        }
        try mutator.send([ready("")])
        var experimentID = ""
        for _ in 0..<200 where experimentID.isEmpty {
            if let frames = try mutator.receive(timeoutMilliseconds: 50),
                let command = try? WireProtocol.decodeCommand(frames[0]),
                case .welcome(let welcome) = command
            {
                experimentID = welcome.experimentID
                try mutatorPush.connect(welcome.inlet)
            }
            try mutator.send([ready(experimentID)])
        }
        #expect(!experimentID.isEmpty, "the rogue mutator was never welcomed")
        #expect(pipeline.waitForEvents(within: 60) { $0.contains { $0.topic == .memberTrained } })
        // The subscription is live once a progress event arrives.
        var live = false
        for _ in 0..<100 where !live {
            live = try watcher.receive(timeoutMilliseconds: 100) != nil
        }
        #expect(live)

        // 1. The selector's work endpoint (ROUTER) and its inlet (PULL: the sender's id, then the frame).
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.setRoutingID(Array("rogue".utf8))
        try rogue.connect(pipeline.work)
        let pusher = try ZMQSocket(context, .push)
        try pusher.connect(pipeline.inlet)
        var random = SplitMix64(seed: 42)
        var undecodable = 0
        var sent = 0
        func send(_ frames: [[UInt8]], toInlet: Bool = false) throws {
            // The rogue mutator keeps its heartbeat while the garbage goes out.
            if sent % 25 == 0 { try mutator.send([ready(experimentID)]) }
            if toInlet {
                try pusher.send([Array("rogue".utf8)] + frames)
            } else {
                try rogue.send(frames)
            }
            sent += 1
            if frames.count != 1 {
                undecodable += 1
            } else if (try? WireProtocol.decodeReport(frames[0])) == nil {
                undecodable += 1
            }
        }
        let checkpoint = String(repeating: "a", count: 64)
        func score(_ member: Int, version: Int, _ value: Double) -> [UInt8] {
            WireProtocol.encode(
                .scored(
                    EvaluateResult(
                        trained: TrainResult(
                            member: member, version: version, fromStep: 0, step: 2, checkpoint: checkpoint,
                            metrics: [:], seconds: 0),
                        score: value)))
        }
        let valid = score(1, version: 1, 0.5)
        for index in 0..<300 {
            let length = Int.random(in: 0...64, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if index % 3 == 0 && bytes.count >= 4 {
                bytes.replaceSubrange(0..<3, with: [0x50, 0x42, WireProtocol.version])
            }
            try send([bytes], toInlet: index % 2 == 0)
        }
        for cut in 0..<valid.count { try send([Array(valid.prefix(cut))], toInlet: cut % 2 == 0) }
        // Larger than the 16 MiB limit.
        try send([[0x50, 0x42, WireProtocol.version, 4] + [UInt8](repeating: 0xAB, count: 17 << 20)])
        for version in [0, 1, 9, 255] as [UInt8] {
            try send([[0x50, 0x42, version] + valid.dropFirst(3)], toInlet: true)
        }
        for _ in 0..<5 { try send([valid, valid]) }
        try send([score(1, version: 1, .nan)], toInlet: true)
        try send([score(1, version: 1, .infinity)], toInlet: true)
        // Well-formed but on the wrong socket: a score sent to the work endpoint, a credit pushed to the inlet.
        try send([valid])
        try send([WireProtocol.encode(.goodbye)], toInlet: true)
        let wrongSocket = 2
        // Well-formed but wrong: unknown members, stale versions, results nobody leased.
        try send([score(999, version: 1, 0.5)], toInlet: true)
        try send([
            WireProtocol.encode(
                .trained(
                    TrainResult(
                        member: 0, version: 12345, fromStep: 0, step: 1, checkpoint: checkpoint, metrics: [:],
                        seconds: 0, interrupted: true)))
        ])
        try send([WireProtocol.encode(.progress(member: 77, version: 1, step: 1))])
        let semantic = 2

        // 2. An evaluator's inlet (PULL, bound by the evaluator): garbage and a trained result
        // naming a checkpoint nobody wrote, which must never become a score.
        let evaluatorInlet = try ZMQSocket(context, .push)
        try evaluatorInlet.connect(pipeline.inlet(of: "evaluator-1"))
        for index in 0..<50 {
            try evaluatorInlet.send([(0..<index).map { _ in UInt8.random(in: 0...255, using: &random) }])
        }
        try evaluatorInlet.send([
            WireProtocol.encode(
                .trained(
                    TrainResult(
                        member: 0, version: 1, fromStep: 0, step: 2, checkpoint: String(repeating: "b", count: 64),
                        metrics: ["score": 1e9], seconds: 0)))
        ])

        // 3. The rogue mutator's answer to its first explore.
        var explored = false
        for _ in 0..<600 where !explored {
            _ = try mutator.receive(timeoutMilliseconds: 50)
            try mutator.send([ready(experimentID)])
            guard let frames = try mutatorInlet.receive(timeoutMilliseconds: 50),
                case .explore(let task) = try WireProtocol.decodeCommand(frames[0])
            else {
                continue
            }
            try mutatorPush.send([
                Array("rogue-mutator".utf8),
                WireProtocol.encode(
                    .explored(
                        ExploreResult(
                            member: task.member, version: task.version,
                            hyperparameters: Hyperparameters(["x": .real(7.5)]), changes: [:]))),
            ])
            // No goodbye: it would go on another socket than the answer, and might overtake it.
            explored = true
        }
        #expect(explored, "the rogue mutator never got an explore task")
        try pipeline.start("mutator", "mutator-1")

        // 4. The proxy's publisher side: frames that are not events.
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
                if frames.count == 2, let timed = try? EventJSON.decode(frames[1]),
                    case .frameDropped("events", _, _, let total, _) = timed.event
                {
                    proxyDrops = max(proxyDrops, total)
                }
            }
        }
        #expect(proxyDrops >= 60, "the proxy reported \(proxyDrops) drops of \(proxyGarbage) bad frames")

        // 5. The proxy's subscriber side: an XSUB sending frames that are not subscriptions.
        let subscriber = try ZMQSocket(context, .xsub)
        try subscriber.connect(pipeline.subscribers)
        for index in 0..<100 { try subscriber.send([[UInt8(index % 256)] + Array("garbage".utf8)]) }

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        #expect((summary["members"] as? [[String: Any]])?.count == 4)
        let events = pipeline.events()
        try checkMemberHistories(events, population: 4, maxSteps: 40)
        // Every frame that could not be decoded was counted; the well-formed wrong ones were dropped as results.
        #expect(
            summary["frames_dropped"] as? Int == undecodable + wrongSocket,
            "sent \(sent) frames, \(undecodable) undecodable")
        let dropped = events.filter { $0.topic == .resultDropped }
        #expect(dropped.count >= semantic + 1, "\(dropped)")
        #expect(
            dropped.contains {
                $0.reason == "outside_space" && ($0.detail ?? "").contains("outside its uniform domain")
            }, "\(dropped)")
        #expect(dropped.contains { $0.reason == "unknown_member" })
        // The evaluator refused the result whose checkpoint does not exist: no score of 1e9.
        #expect(!events.contains { $0.topic == .memberScored && ($0.score ?? 0) > 1e6 })
        #expect(
            pipeline.workers["evaluator-1"].map { $0.finish(within: 30)?.succeeded == true } == true,
            "the evaluator ran to the end")
        // The proxy is still up and forwarding.
        #expect(pipeline.proxy?.child.poll() == nil)
    }
    @Test(
        "a score forged for a member in training, naming a checkpoint nobody wrote, is dropped and the real one taken",
        .timeLimit(.minutes(2)))
    func forgedScoreWhileTraining() throws {
        let pipeline = try PipelineHarness(
            experiment: """
                name: forged-score
                seed: 3
                workload: {kind: noop, step_seconds: 0.3}
                population: 2
                interval: 4
                stop: {max_steps: 8}
                exploit: {strategy: truncation, fraction: 0.5}
                explore: {strategy: perturb, resample_probability: 0}
                hyperparameters:
                  x: {uniform: [0, 1]}
                """)
        try pipeline.startSelector()
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        // Member 0's first train task: 4 steps of 0.3 s, so it trains for 1.2 s after this.
        var assigned: (version: Int, step: Int)?
        #expect(
            pipeline.waitForEvents(within: 30) { events in
                for timed in events {
                    if case .memberAssigned(0, let version, .trainer, _, let step) = timed.event {
                        assigned = (version, step)
                        return true
                    }
                }
                return false
            }, "member 0 was never assigned")
        let task = try #require(assigned)
        // A sender that never registered pushes a well-formed score of the current version and
        // steps, naming a checkpoint that does not exist.
        let context = try ZMQContext()
        let pusher = try ZMQSocket(context, .push)
        try pusher.connect(pipeline.inlet)
        let forged = String(repeating: "d", count: 64)
        try pusher.send([
            Array("rogue-evaluator".utf8),
            WireProtocol.encode(
                .scored(
                    EvaluateResult(
                        trained: TrainResult(
                            member: 0, version: task.version, fromStep: task.step, step: task.step + 4,
                            checkpoint: forged, metrics: ["score": 99], seconds: 1.2, trainer: "trainer-1"),
                        score: 99, evaluator: "rogue-evaluator"))),
        ])
        let summary = try pipeline.finish(within: 60)
        #expect(summary["reason"] as? String == "max_steps")
        let events = pipeline.events()
        try checkMemberHistories(events, population: 2, maxSteps: 8)
        let dropped = events.filter { $0.topic == .resultDropped }
        #expect(
            dropped.contains { $0.reason == "missing_checkpoint" && ($0.detail ?? "").contains("dddddddddddd") },
            "\(dropped)")
        // The forged score never became the member's: no score of 99, no checkpoint of its, no failure.
        #expect(!events.contains { $0.topic == .memberScored && $0.score == 99 })
        for timed in events {
            if case .memberTrained(let trained) = timed.event { #expect(trained.checkpoint != forged) }
            if case .memberFailed = timed.event { Issue.record("a member failed: \(timed)") }
        }
    }
    /// Sends a trainer's `ready` named `name` (which only earns a `welcome`) until a
    /// `welcome` comes back or `seconds` pass; returns whether one came.
    static func welcomed(_ socket: ZMQSocket, name: String, within seconds: Double) throws -> Bool {
        let ready = WireProtocol.encode(.ready(Ready(role: .trainer, received: 0, name: name, experimentID: "")))
        let deadline = Clock.monotonic + seconds
        while Clock.monotonic < deadline {
            try socket.send([ready], dontWait: true)
            if let frames = try socket.receive(timeoutMilliseconds: 300), frames.count == 1,
                case .welcome = try? WireProtocol.decodeCommand(frames[0])
            {
                return true
            }
        }
        return false
    }

    @Test(
        "a client whose routing id another connection took over is heard again through its own heartbeats",
        .timeLimit(.minutes(2)))
    func aDisplacedConnectionIsHeardAgain() throws {
        let pipeline = try PipelineHarness(experiment: Self.experiment)
        try pipeline.startSelector()
        let context = try ZMQContext()
        func welcomed(_ socket: ZMQSocket, within seconds: Double) throws -> Bool {
            try Self.welcomed(socket, name: "fixed", within: seconds)
        }
        // A client as the README asks for one: a fixed routing id, ZMTP heartbeats.
        let client = try ZMQSocket(context, .dealer)
        try client.setRoutingID(Array("fixed#1".utf8))
        try client.setHeartbeat(intervalMilliseconds: 1_000, timeoutMilliseconds: 5_000, ttlMilliseconds: 5_000)
        try client.connect(pipeline.work)
        #expect(try welcomed(client, within: 30), "the selector never welcomed the client")
        // Another connection under the same id takes it over (handover), then goes.
        let intruder = try ZMQSocket(context, .dealer)
        try intruder.setRoutingID(Array("fixed#1".utf8))
        try intruder.connect(pipeline.work)
        #expect(try welcomed(intruder, within: 30), "the second connection was never welcomed")
        intruder.close()
        // Whatever was on its way to the client before the takeover.
        while try client.receive(timeoutMilliseconds: 500) != nil {}
        // The client's pings to its old connection go unanswered: it drops it after 5 s and
        // reconnects under its id.
        let cutOff = Clock.monotonic
        #expect(try welcomed(client, within: 30), "the client was never heard again")
        #expect(Clock.monotonic - cutOff < 20, "heard again after \(Clock.monotonic - cutOff) s")
    }

    /// A connection displaced by another under its routing id that sends, then hangs up: with
    /// ZMTP heartbeats of the selector's own, libzmq 4.3.4 aborted the selector every time.
    @Test(
        "a connection displaced under its routing id that sends and hangs up leaves the selector running",
        .timeLimit(.minutes(2)))
    func aDisplacedConnectionThatHangsUpDoesNotStopTheSelector() throws {
        let pipeline = try PipelineHarness(experiment: Self.experiment)
        try pipeline.startSelector()
        let context = try ZMQContext()
        func welcomed(_ socket: ZMQSocket, _ name: String, within seconds: Double) throws -> Bool {
            try Self.welcomed(socket, name: name, within: seconds)
        }
        let first = try ZMQSocket(context, .dealer)
        try first.setRoutingID(Array("twin#1".utf8))
        try first.connect(pipeline.work)
        #expect(try welcomed(first, "first", within: 30))
        let second = try ZMQSocket(context, .dealer)
        try second.setRoutingID(Array("twin#1".utf8))
        try second.connect(pipeline.work)
        #expect(try welcomed(second, "second", within: 30), "the second connection never took the id over")
        // The displaced connection speaks (libzmq stops reading it), then both hang up.
        try first.send([WireProtocol.encode(.goodbye)], dontWait: true)
        _ = try first.receive(timeoutMilliseconds: 1_500)
        first.close()
        second.close()
        // The selector outlives the ping interval and the connection timeout by which it used
        // to abort, and still answers a new client.
        let selector = try #require(pipeline.selector)
        let ended = selector.child.wait(seconds: 7)
        #expect(ended == nil, "the selector ended (\(String(describing: ended))): \(selector.log.suffix(600))")
        let other = try ZMQSocket(context, .dealer)
        try other.setRoutingID(Array("other#1".utf8))
        try other.connect(pipeline.work)
        #expect(try welcomed(other, "other", within: 10), "the selector no longer answers")
    }
}
