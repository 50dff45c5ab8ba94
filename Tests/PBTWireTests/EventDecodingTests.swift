import PBTCore
import PBTWire
import Testing

/// The event contract read back: every event `encode` writes, `decode` reads into the same
/// typed event, and bad lines get errors that say what is wrong.
@Suite("EventJSON.decode")
struct EventDecodingTests {
    @Test("decode reads back what encode wrote, whatever the event", arguments: EventJSONTests.events)
    func roundTrip(event: PBTEvent) throws {
        let text = EventJSON.encode(event, time: 1_764_000_000.123)
        let decoded = try EventJSON.decode(text)
        #expect(decoded.time == 1_764_000_000.123)
        #expect(decoded.topic == event.topic)
        // The JSON is the fixed point: written again, the decoded event is the same line.
        #expect(EventJSON.encode(decoded.event, time: decoded.time) == text)
    }

    @Test("events whose values JSON keeps exactly come back equal")
    func exactValues() throws {
        let trained = PBTEvent.memberTrained(
            .init(
                member: 3, version: 7, trainer: "trainer-2", fromStep: 40, step: 44, seconds: 0.25,
                checkpoint: "ab12", hyperparameters: Hyperparameters(["lr": .real(0.0125), "layers": .integer(3)]),
                metrics: ["loss": 0.5, "score": 0.75], interrupted: false, previousScore: nil))
        let exploited = PBTEvent.memberExploited(
            .init(
                member: 1, donor: 0, step: 8, checkpoint: "cd34", old: Hyperparameters(["lr": .real(0.5)]),
                copied: Hyperparameters(["lr": .real(0.25)]), new: Hyperparameters(["lr": .real(0.3)]),
                changes: ["lr": ExploreChange(from: .real(0.25), to: .real(0.3), how: .scaled(1.2))], mutator: "m"))
        for event in [
            trained, exploited, .memberDecided(member: 2, step: 8, comparedAt: 4, decision: .keep, cohort: 4, rank: 1),
            .memberDecided(member: 5, step: 8, comparedAt: 8, decision: .capped(donor: 2), cohort: 8, rank: 7),
            .experimentFinished(reason: .maxSteps, best: nil, score: nil, steps: 400, seconds: 0.5),
        ] {
            #expect(try EventJSON.decode(EventJSON.encode(event, time: 5)) == TimedEvent(time: 5, event: event))
        }
    }

    @Test(
        "a trained range counts its steps, and nothing when it is negative or does not fit an Int",
        arguments: [(4, 12, 8), (12, 4, 0), (-Int.max, Int.max, 0), (0, Int.max, Int.max), (Int.min, 0, 0)])
    func stepsTrained(from: Int, to: Int, expected: Int) {
        let trained = PBTEvent.MemberTrained(
            member: 0, version: 1, trainer: "t", fromStep: from, step: to, seconds: 0, checkpoint: "c",
            hyperparameters: Hyperparameters(), metrics: [:], interrupted: false)
        #expect(trained.stepsTrained == expected)
    }

    @Test("every topic has a case, and every case a topic", arguments: PBTEvent.Topic.allCases)
    func topics(topic: PBTEvent.Topic) {
        let sampled = Set(EventJSONTests.events.map(\.topic.rawValue))
        // A worker's topics are sampled for one role each: any role's sample covers the others.
        let suffix = topic.rawValue.split(separator: ".").last.map(String.init) ?? ""
        let variants =
            WorkerRole.allCases.contains { topic.rawValue.hasPrefix($0.description + ".") }
            ? WorkerRole.allCases.map { "\($0).\(suffix)" } : [topic.rawValue]
        #expect(variants.contains(where: sampled.contains), "\(topic) has no sample")
        #expect(PBTEvent.Topic(rawValue: topic.rawValue) == topic)
    }

    @Test(
        "a line that is not an event says why",
        arguments: [
            ("", "not JSON"), ("[1, 2]", "not a JSON object"), (#"{"time": 1}"#, "no \"event\" field"),
            (#"{"event": "member.scored"}"#, "no \"time\" field"),
            (#"{"event": "member.teleported", "time": 1}"#, "unknown topic \"member.teleported\""),
            (
                #"{"event": "member.scored", "time": 1, "member": 0, "version": 1, "step": 4, "evaluator": "e"}"#,
                #"member.scored: "score" is missing"#
            ),
            (
                #"{"event": "member.scored", "time": 1, "member": "0", "version": 1, "step": 4, "score": 1, "evaluator": "e"}"#,
                #"member.scored: "member" is not an integer"#
            ),
            (
                #"{"event": "trainer.joined", "time": 1, "role": "wizard", "worker": "w"}"#,
                #"trainer.joined: "role" is not a role: "wizard""#
            ),
            (
                #"{"event": "member.decided", "time": 1, "member": 0, "step": 4, "compared_at": 4, "decision": "exploit", "cohort": 2}"#,
                #"member.decided: "donor" is missing"#
            ),
        ])
    func errors(line: String, expected: String) {
        #expect(throws: EventDecodingError.self) { try EventJSON.decode(line) }
        do {
            _ = try EventJSON.decode(line)
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("fields added since an event's first release read as empty when an older line lacks them")
    func olderLines() throws {
        let exploited =
            #"{"event":"member.exploited","time":1,"member":1,"donor":0,"step":4,"checkpoint":"c","old":{},"copied":{},"new":{},"explore":{}}"#
        guard case .memberExploited(let event) = try EventJSON.decode(exploited).event else {
            Issue.record("not an exploit")
            return
        }
        #expect(event.mutator == "")
        #expect(
            try EventJSON.decode(#"{"event":"frame.dropped","time":1,"stage":"s","worker":"w","reason":"r","total":3}"#)
                .event == .frameDropped(stage: "s", worker: "w", reason: "r", total: 3, count: 0))
    }

    @Test("fields a newer publisher adds are ignored, and a repeated key counts the last time")
    func tolerance() throws {
        let line =
            #"{"event": "member.finished", "time": 2, "member": 1, "member": 4, "step": 200, "score": null, "new_field": [1, {"x": 2}]}"#
        #expect(
            try EventJSON.decode(line) == TimedEvent(time: 2, event: .memberFinished(member: 4, step: 200, score: nil)))
    }

    @Test(
        "explore's phrases read back",
        arguments: [
            ExploreChange.How.scaled(1.2), .scaled(0.8), .noised(0.0431), .noised(-0.02), .shifted(1), .shifted(-1),
            .shifted(0), .resampled, .proposed,
        ])
    func operations(how: ExploreChange.How) {
        let phrase = ExploreChange(from: .real(1), to: .real(1), how: how).operation
        #expect(ExploreChange.How(operation: phrase) == how, "\(phrase)")
    }

    @Test func unknownPhrases() {
        for phrase in ["", "×", "×abc", "+", "twice", "shift up"] {
            #expect(ExploreChange.How(operation: phrase) == nil, "\(phrase)")
        }
    }

    @Test("an event log keeps the events and counts the lines that are not")
    func eventLog() {
        let text = [
            EventJSON.encode(.stageStarted(stage: "selector", worker: "s", pid: 1), time: 1), "  ",
            #"{"event": "member.scored""#,
            EventJSON.encode(.stageStopped(stage: "selector", worker: "s", reason: "done"), time: 2) + " \r",
        ].joined(separator: "\n")
        let log = EventLog(text: text)
        #expect(log.events.map(\.topic) == [.stageStarted, .stageStopped])
        #expect(log.problems.map(\.line) == [3])
    }
}
