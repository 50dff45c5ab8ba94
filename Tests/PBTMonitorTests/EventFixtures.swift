import PBTMonitor
import PBTWire

/// Events as the selector writes them, one JSON line each, for tables of events.
enum E {
    static func line(_ topic: String, _ time: Double, _ fields: String) -> String {
        fields.isEmpty
            ? "{\"event\":\"\(topic)\",\"time\":\(time)}" : "{\"event\":\"\(topic)\",\"time\":\(time),\(fields)}"
    }

    /// A number as the selector writes it: whole numbers without a fraction.
    static func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : "\(x)" }

    static func hp(_ h0: Double) -> String { "{\"h0\":\(number(h0))}" }

    static func started(_ time: Double, name: String = "toy", population: Int = 2) -> String {
        line(
            "experiment.started", time, "\"name\":\"\(name)\",\"population\":\(population),\"hyperparameters\":[\"h0\"]"
        )
    }

    static func joined(_ time: Double, _ role: String, _ worker: String) -> String {
        line("\(role).joined", time, "\"role\":\"\(role)\",\"worker\":\"\(worker)\"")
    }

    static func assigned(_ time: Double, _ member: Int, _ role: String, _ worker: String, step: Int) -> String {
        line(
            "member.assigned", time,
            "\"member\":\(member),\"version\":1,\"role\":\"\(role)\",\"worker\":\"\(worker)\",\"step\":\(step)")
    }

    static func trained(
        _ time: Double, _ member: Int, from: Int, to: Int, h0: Double, trainer: String = "t1", checkpoint: String? = nil
    ) -> String {
        line(
            "member.trained", time,
            "\"member\":\(member),\"version\":1,\"trainer\":\"\(trainer)\",\"from_step\":\(from),\"step\":\(to),\"seconds\":0.1,"
                + "\"checkpoint\":\"\(checkpoint ?? "c\(member)-\(to)-\(number(h0))")\",\"hyperparameters\":\(hp(h0)),\"metrics\":{\"score\":0.5},\"interrupted\":false"
        )
    }

    static func scored(_ time: Double, _ member: Int, step: Int, score: Double, evaluator: String = "e1") -> String {
        line(
            "member.scored", time,
            "\"member\":\(member),\"version\":2,\"step\":\(step),\"score\":\(score),\"evaluator\":\"\(evaluator)\"")
    }

    static func decided(_ time: Double, _ member: Int, step: Int, comparedAt: Int, donor: Int?) -> String {
        let decision = donor == nil ? "\"decision\":\"keep\"" : "\"decision\":\"exploit\",\"donor\":\(donor!)"
        return line(
            "member.decided", time,
            "\"member\":\(member),\"step\":\(step),\"compared_at\":\(comparedAt),\(decision),\"cohort\":2,\"rank\":1")
    }

    static func exploited(
        _ time: Double, _ member: Int, donor: Int, step: Int, checkpoint: String, old: Double, copied: Double,
        new: Double, mutator: String = "m1"
    ) -> String {
        line(
            "member.exploited", time,
            "\"member\":\(member),\"donor\":\(donor),\"step\":\(step),\"checkpoint\":\"\(checkpoint)\",\"old\":\(hp(old)),\"copied\":\(hp(copied)),"
                + "\"new\":\(hp(new)),\"explore\":{\"h0\":{\"from\":\(copied),\"to\":\(new),\"operation\":\"×1.2\"}},\"mutator\":\"\(mutator)\""
        )
    }

    static func failed(
        _ time: Double, _ member: Int, worker: String, reason: String = "boom", givenUp: Bool = false
    ) -> String {
        line(
            "member.failed", time,
            "\"member\":\(member),\"version\":3,\"worker\":\"\(worker)\",\"reason\":\"\(reason)\",\"given_up\":\(givenUp)"
        )
    }

    /// A dropped result as the selector writes it: `count` of the reason so far, `total` of all.
    static func dropped(_ time: Double, reason: String, count: Int, total: Int, worker: String = "e1") -> String {
        line(
            "result.dropped", time,
            "\"member\":0,\"version\":1,\"worker\":\"\(worker)\",\"reason\":\"\(reason)\",\"detail\":\"version 1, current 2\",\"count\":\(count),\"total\":\(total)"
        )
    }

    static func benched(_ time: Double, _ role: String, _ worker: String, seconds: Double) -> String {
        line(
            "\(role).benched", time,
            "\"role\":\"\(role)\",\"worker\":\"\(worker)\",\"failures\":3,\"seconds\":\(number(seconds))")
    }

    static func progress(
        _ time: Double, name: String? = "toy", seconds: Double? = nil, steps: Int, best: Int?, score: Double?,
        trainers: Int = 2, busy: Int = 1, population: Int = 2, evaluators: Int? = nil, mutators: Int? = nil
    ) -> String {
        line(
            "experiment.progress", time,
            (name.map { "\"experiment\":\"\($0)\"," } ?? "")
                + "\"seconds\":\(seconds ?? time - 100),\"steps\":\(steps),\"steps_per_second\":250.5,\"best_member\":\(best.map(String.init) ?? "null"),"
                + "\"best_score\":\(score.map { "\($0)" } ?? "null"),\"trainers\":\(trainers),\"busy_trainers\":\(busy),\"members_finished\":0,"
                + "\"population\":\(population),\"exploits\":1"
                + (evaluators.map { ",\"evaluators\":\($0)" } ?? "") + (mutators.map { ",\"mutators\":\($0)" } ?? ""))
    }

    static func finished(_ time: Double, best: Int, score: Double) -> String {
        line(
            "experiment.finished", time,
            "\"reason\":\"max_steps\",\"best_member\":\(best),\"best_score\":\(score),\"steps\":16,\"seconds\":3.5")
    }

    static func fold(
        _ lines: [String], options: PopulationModel.Options = .init(recordSeries: true)
    ) throws -> (PopulationModel, [PopulationModel.Observation]) {
        var model = PopulationModel(options: options)
        var observations: [PopulationModel.Observation] = []
        for line in lines { observations += model.apply(try EventJSON.decode(line)) }
        return (model, observations)
    }

    /// Two members, h0 = 1 (member 0) and 0.5 (member 1), interval 4. Member 1 is worse at
    /// step 4, copies member 0's step-4 weights and explores h0 to 1.2, then trains 4–8;
    /// member 0 trains 4–8 on its own.
    static let twoMembers: [String] = [
        started(100),
        joined(100.1, "trainer", "t1"), joined(100.1, "trainer", "t2"), joined(100.1, "evaluator", "e1"),
        joined(100.1, "mutator", "m1"),
        assigned(100.2, 0, "trainer", "t1", step: 0), assigned(100.2, 1, "trainer", "t2", step: 0),
        trained(100.5, 0, from: 0, to: 4, h0: 1, trainer: "t1"),
        trained(100.6, 1, from: 0, to: 4, h0: 0.5, trainer: "t2"),
        assigned(100.6, 0, "evaluator", "e1", step: 4),
        scored(100.7, 0, step: 4, score: 0.8),
        decided(100.7, 0, step: 4, comparedAt: 4, donor: nil),
        assigned(100.75, 0, "trainer", "t1", step: 4),
        assigned(100.8, 1, "evaluator", "e1", step: 4),
        scored(100.9, 1, step: 4, score: 0.3),
        decided(100.9, 1, step: 4, comparedAt: 4, donor: 0),
        assigned(101.0, 1, "mutator", "m1", step: 4),
        exploited(101.1, 1, donor: 0, step: 4, checkpoint: "c0-4-1", old: 0.5, copied: 1, new: 1.2),
        assigned(101.2, 1, "trainer", "t2", step: 4),
        trained(101.5, 0, from: 4, to: 8, h0: 1, trainer: "t1"),
        trained(101.6, 1, from: 4, to: 8, h0: 1.2, trainer: "t2"),
    ]

    /// The same two members as the version-2 pipeline tells them: only trainers are assigned
    /// members; a trainer's range is told with its score (`member.trained`, `member.scored` and
    /// the decision at once), and the mutator is named by `member.exploited`. Member 0's second
    /// range fails at the evaluator and is trained again by t2.
    static let pipeline: [String] = [
        started(100),
        joined(100.1, "trainer", "t1"), joined(100.1, "trainer", "t2"), joined(100.1, "evaluator", "e1"),
        joined(100.1, "mutator", "m1"),
        assigned(100.2, 0, "trainer", "t1", step: 0), assigned(100.2, 1, "trainer", "t2", step: 0),
        trained(100.5, 0, from: 0, to: 4, h0: 1, trainer: "t1"), scored(100.5, 0, step: 4, score: 0.8),
        decided(100.5, 0, step: 4, comparedAt: 4, donor: nil),
        assigned(100.55, 0, "trainer", "t1", step: 4),
        trained(100.6, 1, from: 0, to: 4, h0: 0.5, trainer: "t2"), scored(100.6, 1, step: 4, score: 0.3),
        decided(100.6, 1, step: 4, comparedAt: 4, donor: 0),
        exploited(100.7, 1, donor: 0, step: 4, checkpoint: "c0-4-1", old: 0.5, copied: 1, new: 1.2),
        assigned(100.75, 1, "trainer", "t2", step: 4),
        failed(100.9, 0, worker: "e1", reason: "the trained checkpoint is unusable"),
        trained(101.0, 1, from: 4, to: 8, h0: 1.2, trainer: "t2"), scored(101.0, 1, step: 8, score: 0.9),
        decided(101.0, 1, step: 8, comparedAt: 8, donor: nil),
        assigned(101.1, 0, "trainer", "t2", step: 4),
        trained(101.5, 0, from: 4, to: 8, h0: 1, trainer: "t2"), scored(101.5, 0, step: 8, score: 0.85),
    ]
}
