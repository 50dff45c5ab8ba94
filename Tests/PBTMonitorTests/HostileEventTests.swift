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
}
