import PBTMonitor
import PBTWire
import Testing

/// Any process may publish to the event proxy: numbers at the edges of what JSON holds fold
/// and render without trapping.
@Suite("Events with extreme numbers")
struct HostileEventTests {
    static let lines = [
        E.started(1),
        E.line(
            "member.trained", 2,
            #""member":0,"version":1,"trainer":"t","from_step":-9223372036854775807,"step":9223372036854775807,"seconds":1e300,"checkpoint":"c","hyperparameters":{"h0":1e300},"metrics":{"score":null,"x":-1e300},"interrupted":false"#
        ),
        E.line(
            "member.trained", 3,
            #""member":1,"version":1,"trainer":"t","from_step":0,"step":9223372036854775807,"seconds":0,"checkpoint":"d","hyperparameters":{},"metrics":{},"interrupted":false"#
        ),
        E.line(
            "experiment.progress", 4,
            #""experiment":"toy","seconds":1e300,"steps":-9223372036854775808,"steps_per_second":1e300,"best_member":0,"best_score":1e300,"trainers":2,"busy_trainers":1,"members_finished":0,"population":2,"exploits":9223372036854775807"#
        ),
        E.line(
            "member.trained", 5,
            #""member":1,"version":2,"trainer":"t","from_step":0,"step":9223372036854775807,"seconds":0,"checkpoint":"e","hyperparameters":{},"metrics":{},"interrupted":false"#
        ),
        E.line(
            "member.exploited", 6,
            #""member":1,"donor":0,"step":4,"checkpoint":"c","old":{},"copied":{},"new":{},"explore":{"h0":{"from":1,"to":1,"operation":"+-0.0"}},"mutator":"m""#
        ),
    ]

    @Test("the model folds them and the monitor renders them")
    func foldAndRender() throws {
        let (first, _) = try E.fold(Array(Self.lines.prefix(2)))
        #expect(first.rows[0].metrics == ["x": -1e300], "a metric written as null is not known")
        #expect(first.counters.steps == 0, "a range that does not fit in an Int counts nothing")
        // (The progress event's start time, a googol of seconds ago, starts the model afresh.)
        let (model, _) = try E.fold(Self.lines)
        #expect(model.counters.steps == Int.max, "the totals stop at Int.max")
        #expect(model.totalSteps == Int.min + Int.max, "the selector's count, plus what came since")
        #expect(model.counters.exploits == 1, "an explore written by an older mutator as +-0.0 still reads")
        let screen = MonitorScreen.render(model, now: 10, endpoint: "e", width: 200, height: 40)
        #expect(screen.count > 3)
        #expect(MonitorScreen.grouped(Int.min) == "-9,223,372,036,854,775,808")
    }

    /// Readers size their tables by member ids and the population: ids an experiment cannot
    /// have are refused when read (a member near Int.max trapped, one past 2^31 asked for
    /// 343 GB), and ids at or past the population are ignored by the model.
    @Test(
        "member ids and populations an experiment cannot have are refused",
        arguments: [
            (
                E.line(
                    "member.scored", 2, #""member":9223372036854775807,"version":1,"step":2,"score":1,"evaluator":"e""#),
                "\"member\" is not a member id (0 to 999999): 9223372036854775807"
            ),
            (
                E.line("member.scored", 2, #""member":2147483648,"version":1,"step":2,"score":1,"evaluator":"e""#),
                "\"member\" is not a member id"
            ),
            (E.line("member.finished", 2, #""member":-1,"step":2,"score":1"#), "\"member\" is not a member id"),
            (E.started(1, population: 1_000_000_000), "\"population\" is not a population (1 to 1000000)"),
            (E.started(1, population: 0), "\"population\" is not a population"),
            (
                E.line(
                    "member.decided", 2,
                    #""member":0,"step":2,"compared_at":2,"decision":"exploit","donor":-5,"cohort":2,"rank":1"#),
                "\"donor\" is not a member id"
            ),
        ])
    func impossibleIDsAreRefused(line: String, message: String) {
        #expect {
            try EventJSON.decode(line)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("events about members past the population are ignored")
    func membersPastThePopulationAreIgnored() throws {
        let (model, _) = try E.fold([
            E.started(1, population: 4),
            E.line("member.scored", 2, #""member":100000,"version":1,"step":2,"score":1,"evaluator":"e""#),
            E.line("member.scored", 3, #""member":3,"version":1,"step":2,"score":1,"evaluator":"e""#),
        ])
        #expect(model.rows.count == 4)
        #expect(model.membersOutsidePopulation == 1)
        #expect(model.rows[3].score == 1)
    }
}
