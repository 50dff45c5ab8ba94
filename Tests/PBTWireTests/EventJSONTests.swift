import Foundation
import PBTWire
import Testing

@testable import PBTCore

/// Events and summaries as JSON: valid for Foundation's parser, with the fields the README lists.
@Suite("EventJSON")
struct EventJSONTests {
    static let hyperparameters = Hyperparameters(["lr": .real(0.01), "layers": .integer(3), "opt": .text("adam")])
    static let changes = [
        "lr": ExploreChange(from: .real(0.01), to: .real(0.012), how: .scaled(1.2)),
        "opt": ExploreChange(from: .text("sgd"), to: .text("adam"), how: .shifted(-1)),
    ]

    static let events: [PBTEvent] = [
        .experimentStarted(name: "toy \"quoted\"", population: 4, hyperparameters: ["h0", "h1"]),
        .workerJoined(role: .trainer, worker: "trainer-1"),
        .workerLeft(role: .evaluator, worker: "e", reason: "silent for 10 s"),
        .memberAssigned(member: 1, version: 2, role: .trainer, worker: "t", step: 8),
        .memberTrained(
            .init(
                member: 0, version: 3, trainer: "t", fromStep: 4, step: 8, seconds: 0.5, checkpoint: "abc",
                hyperparameters: hyperparameters, metrics: ["score": 0.75, "loss": .nan], interrupted: true,
                previousScore: 0.5)),
        .memberScored(member: 0, version: 4, step: 8, score: .nan, evaluator: "e"),
        .memberDecided(member: 2, step: 8, comparedAt: 4, decision: .exploit(donor: 1), cohort: 3, rank: 2),
        .memberDecided(member: 2, step: 8, comparedAt: 8, decision: .notEnoughData, cohort: 1, rank: nil),
        .memberDecided(member: 3, step: 8, comparedAt: 8, decision: .capped(donor: 0), cohort: 4, rank: 3),
        .memberExploited(
            .init(
                member: 2, donor: 1, step: 4, checkpoint: "def", old: Hyperparameters(["lr": .real(0.1)]),
                copied: Hyperparameters(["lr": .real(0.01)]), new: hyperparameters, changes: changes,
                mutator: "mutator-1")),
        .memberFinished(member: 3, step: 200, score: nil),
        .memberFailed(member: 1, version: 9, worker: "evaluator-2", reason: "line one\nline two", givenUp: true),
        .leaseExpired(member: 1, version: 9, role: .trainer, worker: "t"),
        .resultDropped(
            member: -1, version: 0, worker: "worker-01", reason: "unknown_member",
            detail: "no member -1 in a population of 4", count: 11, total: 17),
        .progress(
            .init(
                seconds: 12.5, steps: 100, stepsPerSecond: 8, bestMember: nil, bestScore: .infinity, trainers: 2,
                busyTrainers: 1,
                membersFinished: 0, population: 4, exploits: 3)),
        .experimentFinished(reason: .target, best: 1, score: 1.19, steps: 400, seconds: 30),
        .stageStarted(stage: "trainer", worker: "t", pid: 4242),
        .stageStopped(stage: "trainer", worker: "t", reason: "SIGTERM"),
        .frameDropped(stage: "selector", worker: "s", reason: "bad_magic", total: 17),
        .peerRefused(
            stage: "selector", address: "10.0.0.7", key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            reason: "unknown_key", total: 3),
        .leaseReleased(member: 2, version: 5, role: .evaluator, worker: "e", reason: "evaluator e left: goodbye"),
        .workerBenched(role: .trainer, worker: "trainer-3", failures: 3, seconds: 30),
        .experimentResumed(steps: 120, membersDone: 1, leased: 2),
        .checkpointsCollected(deleted: 4, freedBytes: 1 << 33, kept: 8, keptBytes: 4096),
    ]

    /// Every case by name: the switch fails to compile when a case is added, so that the new
    /// case gets a sample (and a line in the README's event table).
    static func caseName(_ event: PBTEvent) -> String {
        switch event {
        case .experimentStarted: "experimentStarted"
        case .workerJoined: "workerJoined"
        case .workerLeft: "workerLeft"
        case .memberAssigned: "memberAssigned"
        case .memberTrained: "memberTrained"
        case .memberScored: "memberScored"
        case .memberDecided: "memberDecided"
        case .memberExploited: "memberExploited"
        case .memberFinished: "memberFinished"
        case .memberFailed: "memberFailed"
        case .leaseExpired: "leaseExpired"
        case .leaseReleased: "leaseReleased"
        case .resultDropped: "resultDropped"
        case .workerBenched: "workerBenched"
        case .progress: "progress"
        case .experimentFinished: "experimentFinished"
        case .stageStarted: "stageStarted"
        case .stageStopped: "stageStopped"
        case .frameDropped: "frameDropped"
        case .experimentResumed: "experimentResumed"
        case .checkpointsCollected: "checkpointsCollected"
        case .peerRefused: "peerRefused"
        }
    }

    static let caseCount = 22

    static func parse(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(text)")
    }

    static func sample(_ name: String, _ index: Int = 0) throws -> PBTEvent {
        let matching = events.filter { caseName($0) == name }
        return try #require(matching.dropFirst(index).first, "no sample of \(name)")
    }

    static func json(_ name: String, _ index: Int = 0) throws -> [String: Any] {
        try parse(EventJSON.encode(try sample(name, index), time: 0))
    }

    @Test("every event is a JSON object with event and time", arguments: events)
    func everyEventParses(event: PBTEvent) throws {
        let text = EventJSON.encode(event, time: 1_764_000_000.123_456)
        #expect(!text.contains("\n"), "one line per event")
        let object = try Self.parse(text)
        #expect(object["event"] as? String == event.topic.rawValue)
        let time = try #require(object["time"] as? Double)
        #expect(abs(time - 1_764_000_000.123) < 1e-6, "milliseconds: \(time)")
    }

    @Test func everyCaseIsSampled() {
        #expect(Set(Self.events.map(Self.caseName)).count == Self.caseCount)
        // Topics tell the cases apart (member.decided twice, with the same topic).
        #expect(Set(Self.events.map(\.topic)).count == Self.caseCount)
    }

    @Test func aWorkersTopicStartsWithItsRole() {
        for role in WorkerRole.allCases {
            #expect(PBTEvent.workerJoined(role: role, worker: "w").topic.rawValue == "\(role).joined")
            #expect(PBTEvent.workerLeft(role: role, worker: "w", reason: "r").topic.rawValue == "\(role).left")
            #expect(
                PBTEvent.workerBenched(role: role, worker: "w", failures: 3, seconds: 30).topic.rawValue
                    == "\(role).benched")
        }
        #expect(
            PBTEvent.workerBenched(role: .evaluator, worker: "w", failures: 3, seconds: 30).topic == .evaluatorBenched
        )
    }

    @Test func memberTrainedCarriesItsFields() throws {
        let object = try Self.json("memberTrained")
        #expect(object["member"] as? Int == 0)
        #expect(object["version"] as? Int == 3)
        #expect(object["trainer"] as? String == "t")
        #expect(object["from_step"] as? Int == 4)
        #expect(object["step"] as? Int == 8)
        #expect(object["interrupted"] as? Bool == true)
        #expect(object["previous_score"] as? Double == 0.5)
        let hyperparameters = try #require(object["hyperparameters"] as? [String: Any])
        #expect(hyperparameters["lr"] as? Double == 0.01)
        #expect(hyperparameters["layers"] as? Int == 3)
        #expect(hyperparameters["opt"] as? String == "adam")
        let metrics = try #require(object["metrics"] as? [String: Any])
        #expect(metrics["score"] as? Double == 0.75)
        #expect(metrics["loss"] is NSNull, "NaN is written as null")
    }

    @Test func aScoreThatIsNotANumberIsNull() throws {
        let object = try Self.json("memberScored")
        #expect(object["score"] is NSNull)
        #expect(object["evaluator"] as? String == "e")
        let progress = try Self.json("progress")
        #expect(progress["best_score"] is NSNull)
        #expect(progress["best_member"] is NSNull)
    }

    /// The donor is named when the strategy chose one: an exploit, or a copy the lineage cap stopped.
    @Test func decisionsNameTheDonorOnlyWhenTheyExploit() throws {
        let exploit = try Self.json("memberDecided", 0)
        #expect(exploit["decision"] as? String == "exploit")
        #expect(exploit["donor"] as? Int == 1)
        #expect(exploit["compared_at"] as? Int == 4)
        #expect(exploit["rank"] as? Int == 2)
        let waiting = try Self.json("memberDecided", 1)
        #expect(waiting["decision"] as? String == "not_enough_data")
        #expect(waiting["donor"] == nil)
        #expect(waiting["rank"] is NSNull)
        let capped = try Self.json("memberDecided", 2)
        #expect(capped["decision"] as? String == "capped")
        #expect(capped["donor"] as? Int == 0)
    }

    @Test func exploitedCarriesOldCopiedNewWhatExploreDidAndTheMutator() throws {
        let object = try Self.json("memberExploited")
        #expect(object["donor"] as? Int == 1)
        #expect(object["checkpoint"] as? String == "def")
        #expect((object["old"] as? [String: Any])?["lr"] as? Double == 0.1)
        #expect((object["copied"] as? [String: Any])?["lr"] as? Double == 0.01)
        #expect((object["new"] as? [String: Any])?["opt"] as? String == "adam")
        let explore = try #require(object["explore"] as? [String: Any])
        let lr = try #require(explore["lr"] as? [String: Any])
        #expect(lr["from"] as? Double == 0.01)
        #expect(lr["to"] as? Double == 0.012)
        #expect(lr["operation"] as? String == "×1.2")
        #expect((explore["opt"] as? [String: Any])?["operation"] as? String == "shift left")
        #expect(object["mutator"] as? String == "mutator-1")
        // Without a mutator (an experiment that does not explore) the field is there, empty.
        let plain = PBTEvent.memberExploited(
            .init(
                member: 0, donor: 1, step: 4, checkpoint: "a", old: Hyperparameters(), copied: Hyperparameters(),
                new: Hyperparameters(), changes: [:]))
        let unexplored = try Self.parse(EventJSON.encode(plain, time: 0))
        #expect(unexplored["mutator"] as? String == "")
        #expect((unexplored["explore"] as? [String: Any])?.isEmpty == true)
    }

    @Test func aFailureNamesTheWorkerThatReportedIt() throws {
        let object = try Self.json("memberFailed")
        #expect(object["event"] as? String == "member.failed")
        #expect(object["member"] as? Int == 1)
        #expect(object["version"] as? Int == 9)
        #expect(object["worker"] as? String == "evaluator-2")
        #expect(object["reason"] as? String == "line one\nline two")
        #expect(object["given_up"] as? Bool == true)
        // An expired lease whose holder is unknown: the worker is empty, not missing.
        let expired = PBTEvent.memberFailed(member: 0, version: 1, worker: "", reason: "lease expired", givenUp: false)
        let object2 = try Self.parse(EventJSON.encode(expired, time: 0))
        #expect(object2["worker"] as? String == "")
        #expect(object2["given_up"] as? Bool == false)
    }

    @Test func aDroppedResultSaysWhyAndHowManySoFar() throws {
        let object = try Self.json("resultDropped")
        #expect(object["event"] as? String == "result.dropped")
        #expect(object["member"] as? Int == -1)
        #expect(object["version"] as? Int == 0)
        #expect(object["worker"] as? String == "worker-01")
        #expect(object["reason"] as? String == "unknown_member")
        #expect(object["detail"] as? String == "no member -1 in a population of 4")
        #expect(object["count"] as? Int == 11)
        #expect(object["total"] as? Int == 17)
        #expect(
            Set(object.keys) == ["event", "time", "member", "version", "worker", "reason", "detail", "count", "total"])
    }

    @Test func aBenchedWorkerSaysForHowLong() throws {
        let object = try Self.json("workerBenched")
        #expect(object["event"] as? String == "trainer.benched")
        #expect(object["role"] as? String == "trainer")
        #expect(object["worker"] as? String == "trainer-3")
        #expect(object["failures"] as? Int == 3)
        #expect(object["seconds"] as? Double == 30)
        #expect(Set(object.keys) == ["event", "time", "role", "worker", "failures", "seconds"])
    }

    @Test func otherEventsCarryTheirFields() throws {
        let released = try Self.json("leaseReleased")
        #expect(released["role"] as? String == "evaluator")
        #expect(released["reason"] as? String == "evaluator e left: goodbye")
        let resumed = try Self.json("experimentResumed")
        #expect(resumed["steps"] as? Int == 120)
        #expect(resumed["members_done"] as? Int == 1)
        #expect(resumed["leased"] as? Int == 2)
        let collected = try Self.json("checkpointsCollected")
        #expect(collected["freed_bytes"] as? Int == 1 << 33)
        #expect(collected["kept_bytes"] as? Int == 4096)
        let dropped = try Self.json("frameDropped")
        #expect(dropped["count"] as? Int == 0)
        #expect(dropped["total"] as? Int == 17)
    }

    @Test(arguments: [
        (FinishReason.maxSteps, "max_steps"), (.target, "target_score"), (.timeBudget, "time_budget"),
        (.totalSteps, "total_steps"), (.allFailed, "all_failed"),
    ])
    func finishReasonsAreWrittenAsKeys(reason: FinishReason, key: String) throws {
        let object = try Self.parse(
            EventJSON.encode(.experimentFinished(reason: reason, best: nil, score: nil, steps: 0, seconds: 1), time: 0))
        #expect(object["reason"] as? String == key)
        #expect(object["best_member"] is NSNull)
        #expect(FinishReason(rawValue: key) == reason)
    }

    /// Workers answer through the machine as the stages would: a trainer's credit, an
    /// evaluator that registers its inlet, the score that carries the trainer's account.
    struct Run {
        var machine: SelectorMachine
        let trainer = WorkerID([1])
        let evaluator = WorkerID([2])
        var sent: [TrainTask] = []

        init(settings: SelectorSettings, initial: [Hyperparameters]) {
            machine = SelectorMachine(settings: settings, name: "x", initial: initial)
            take(machine.start(now: 0))
            take(
                machine.handle(
                    .ready(Ready(role: .trainer, received: 0, name: "t", experimentID: "x")), from: trainer, now: 0))
            take(
                machine.handle(
                    .ready(
                        Ready(
                            role: .evaluator, received: 0, name: "e", experimentID: "x",
                            inlet: PeerEndpoint(endpoint: "tcp://e:1"))),
                    from: evaluator, now: 0))
        }

        mutating func take(_ actions: [SelectorMachine.Action]) {
            for case .send(_, .train(let task)) in actions { sent.append(task) }
        }
    }

    @Test func aSummaryFromTheSelectorParses() throws {
        // A one-member experiment run to its end through the state machine.
        let settings = SelectorSettings(
            experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 4), exploit: .none, explores: false)
        var run = Run(settings: settings, initial: [Hyperparameters(["lr": .real(0.5)])])
        let task = try #require(run.sent.first, "the trainer got no task")
        #expect(task.member == 0 && task.step == 0 && task.steps == 4)
        let trained = TrainResult(
            member: 0, version: task.version, fromStep: 0, step: 4, checkpoint: String(repeating: "a", count: 64),
            hyperparameters: task.hyperparameters, metrics: ["score": 0.7], seconds: 1, trainer: "t")
        run.take(
            run.machine.handle(
                .scored(EvaluateResult(trained: trained, score: 0.7, evaluator: "e")), from: run.evaluator, now: 2))
        let summary = try #require(run.machine.summary)

        let object = try Self.parse(SummaryJSON.encode(summary, experiment: "x \"1\"") { o in o.field("extra", 5) })
        #expect(object["experiment"] as? String == "x \"1\"")
        #expect(object["reason"] as? String == "max_steps")
        #expect(object["steps"] as? Int == 4)
        #expect(object["extra"] as? Int == 5)
        #expect(object["first_failure"] == nil, "nothing failed")
        let best = try #require(object["best"] as? [String: Any])
        #expect(best["member"] as? Int == 0)
        #expect(best["score"] as? Double == 0.7)
        let schedule = try #require(best["schedule"] as? [[String: Any]])
        #expect(schedule.count == 1)
        #expect(schedule.first?["from_step"] as? Int == 0)
        #expect(schedule.first?["to_step"] as? Int == 4)
        #expect(schedule.first?["trained_by"] as? Int == 0)
        let lineage = try #require(best["lineage"] as? [[String: Any]])
        #expect(lineage.first?["member"] as? Int == 0)
        let bestEver = try #require(object["best_ever"] as? [String: Any])
        #expect(bestEver["checkpoint"] as? String == String(repeating: "a", count: 64))
        // What was reported with the score goes with it (an RL evaluator's test return, for one).
        #expect((bestEver["metrics"] as? [String: Any])?["score"] as? Double == 0.7)
        let members = try #require(object["members"] as? [[String: Any]])
        #expect(members.count == 1)
        #expect(members.first?["failed"] as? Bool == false)
    }

    @Test func aSummaryWithoutABestSaysNull() throws {
        let settings = SelectorSettings(
            experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 4, timeBudget: 1), exploit: .none,
            explores: false)
        var machine = SelectorMachine(settings: settings, name: "x", initial: [Hyperparameters()])
        _ = machine.start(now: 0)
        _ = machine.tick(now: 5)
        let summary = try #require(machine.summary)
        let object = try Self.parse(SummaryJSON.encode(summary, experiment: "x"))
        #expect(object["reason"] as? String == "time_budget")
        #expect(object["best"] is NSNull)
        #expect(object["best_ever"] == nil)
        #expect(object["steps_per_second"] as? Double == 0)
        #expect(object["first_failure"] == nil)
    }

    /// A run in which every member failed says so, and what went wrong first.
    @Test func aSummaryOfARunInWhichEveryMemberFailedSaysWhy() throws {
        let settings = SelectorSettings(
            experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 4), exploit: .none, explores: false,
            maxFailures: 0)
        var run = Run(settings: settings, initial: [Hyperparameters()])
        let task = try #require(run.sent.first, "the trainer got no task")
        run.take(
            run.machine.handle(
                .failed(member: 0, version: task.version, reason: "CUDA out of memory"), from: run.trainer, now: 1))
        let summary = try #require(run.machine.summary)
        #expect(summary.reason == .allFailed)
        let object = try Self.parse(SummaryJSON.encode(summary, experiment: "x"))
        #expect(object["reason"] as? String == "all_failed")
        #expect(object["best"] is NSNull)
        let firstFailure = try #require(object["first_failure"] as? String)
        #expect(firstFailure.contains("CUDA out of memory"))
        #expect(firstFailure.contains("member 0"))
        let members = try #require(object["members"] as? [[String: Any]])
        #expect(members.first?["failed"] as? Bool == true)
    }
}

/// The JSON writer: string escapes, numbers, nulls and nesting.
@Suite("JSONWriter")
struct JSONWriterTests {
    static func write(_ body: (inout JSONWriter.ObjectWriter) -> Void) -> String {
        var json = JSONWriter()
        json.object(body)
        return json.text
    }

    static let strings = [
        "plain", "", "quote \" inside", "back\\slash", "new\nline", "carriage\rreturn", "tab\there",
        "\u{01}\u{1f}\u{7f}",
        "\u{0}nul", "unicode é ü 🙂 \u{2028}", "</script>", "{\"not\": \"json\"}",
    ]

    @Test("strings survive a round trip through JSONSerialization", arguments: strings)
    func stringsRoundTrip(string: String) throws {
        let text = Self.write { o in o.field(string, string) }
        #expect(!text.contains("\n"))
        #expect(!text.contains("\r"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object[string] as? String == string)
    }

    @Test func escapesAreTheShortFormsWhereJSONHasThem() {
        let text = Self.write { o in o.field("s", "\"\\\n\r\t\u{01}\u{1f}") }
        #expect(text == #"{"s":"\"\\\n\r\t\u0001\u001f"}"#)
    }

    @Test(arguments: [
        (Double.nan, "null"), (.infinity, "null"), (-.infinity, "null"), (3.0, "3"), (-2.0, "-2"), (0.0, "0"),
        (-0.0, "0"),
        (0.5, "0.5"), (1e-7, "1e-07"), (1e20, "1e+20"), (123_456_789_012_345.0, "123456789012345"),
    ])
    func numbers(value: Double, expected: String) throws {
        let text = Self.write { o in o.field("x", value) }
        #expect(text == "{\"x\":\(expected)}")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        if value.isFinite {
            #expect(object["x"] as? Double == value)
        } else {
            #expect(object["x"] is NSNull)
        }
    }

    @Test(arguments: [
        (Int.min, "-9223372036854775808"), (Int.max, "9223372036854775807"), (0, "0"), (-1, "-1"), (10, "10"),
        (1_000_007, "1000007"),
    ])
    func integers(value: Int, expected: String) {
        #expect(Self.write { o in o.field("n", value) } == "{\"n\":\(expected)}")
    }

    @Test func optionalsAndNesting() throws {
        let text = Self.write { o in
            o.field("none", nil as Int?)
            o.field("some", 3 as Int?)
            o.field("real", nil as Double?)
            o.field("yes", true)
            o.field("seed", UInt64.max)
            o.field("names", ["a", "b\"c"])
            o.null("nothing")
            o.object("inner") { i in
                i.field("k", "v")
                i.object("deeper") { d in d.field("n", 1) }
            }
            o.array("rows", [1, 2, 3]) { r, n in r.field("n", n) }
            o.array("empty", [Int]()) { _, _ in }
            o.field("after", "last")
        }
        #expect(text.hasPrefix(#"{"none":null,"some":3,"real":null,"yes":true,"seed":18446744073709551615,"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["none"] is NSNull)
        #expect(object["some"] as? Int == 3)
        #expect(object["yes"] as? Bool == true)
        #expect(object["names"] as? [String] == ["a", "b\"c"])
        #expect(object["nothing"] is NSNull)
        let inner = try #require(object["inner"] as? [String: Any])
        #expect(inner["k"] as? String == "v")
        #expect((inner["deeper"] as? [String: Any])?["n"] as? Int == 1)
        #expect((object["rows"] as? [[String: Any]])?.compactMap { $0["n"] as? Int } == [1, 2, 3])
        #expect((object["empty"] as? [Any])?.isEmpty == true)
        #expect(object["after"] as? String == "last")
    }

    @Test func hyperparameterValuesKeepTheirKind() throws {
        let text = Self.write { o in
            o.field("h", Hyperparameters(["a": .real(0.5), "b": .integer(-4), "c": .text("x\"y"), "d": .real(.nan)]))
        }
        #expect(text == #"{"h":{"a":0.5,"b":-4,"c":"x\"y","d":null}}"#)
    }
}
