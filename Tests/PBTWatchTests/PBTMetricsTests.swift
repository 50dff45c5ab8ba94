import PBTMonitor
import PBTWire
import PBTWatch
import Prometheus
import Testing

/// The metrics made from events: counters as events arrive, gauges from the model, the text
/// a scrape gets (parsed back), with a registry of the test's own.
@Suite("PBT metrics")
struct PBTMetricsTests {
    static func event(_ topic: String, _ time: Double, _ fields: String) -> String {
        "{\"event\":\"\(topic)\",\"time\":\(time)\(fields.isEmpty ? "" : "," + fields)}"
    }

    static let story: [String] = [
        event("experiment.started", 100, #""name":"toy","population":2,"hyperparameters":["h0"]"#),
        event("trainer.joined", 100, #""role":"trainer","worker":"t1""#),
        event("trainer.joined", 100, #""role":"trainer","worker":"t2""#),
        event("member.assigned", 100.1, #""member":0,"version":1,"role":"trainer","worker":"t1","step":0"#),
        event("member.assigned", 100.1, #""member":1,"version":1,"role":"trainer","worker":"t2","step":0"#),
        event(
            "member.trained", 100.2,
            #""member":0,"version":1,"trainer":"t1","from_step":0,"step":4,"seconds":0.1,"checkpoint":"a","hyperparameters":{"h0":1},"metrics":{},"interrupted":false"#
        ),
        event("member.scored", 100.25, #""member":0,"version":2,"step":4,"score":0.5,"evaluator":"e""#),
        event("member.assigned", 100.3, #""member":0,"version":3,"role":"trainer","worker":"t1","step":4"#),
        event(
            "member.trained", 100.4,
            #""member":1,"version":1,"trainer":"t2","from_step":0,"step":4,"seconds":0.1,"checkpoint":"b","hyperparameters":{"h0":0.5},"metrics":{},"interrupted":false"#
        ),
        event("member.scored", 100.45, #""member":1,"version":2,"step":4,"score":0.25,"evaluator":"e""#),
        event(
            "member.exploited", 100.5,
            #""member":1,"donor":0,"step":4,"checkpoint":"a","old":{"h0":0.5},"copied":{"h0":1},"new":{"h0":1.2},"explore":{}"#
        ),
        event("member.assigned", 100.7, #""member":1,"version":5,"role":"trainer","worker":"t2","step":4"#),
        event("lease.expired", 101, #""member":1,"version":5,"role":"trainer","worker":"t2""#),
        event("frame.dropped", 101, #""stage":"selector","worker":"s","reason":"bad_magic","total":1"#),
        event("frame.dropped", 101, #""stage":"selector","worker":"s","reason":"bad_magic","total":2"#),
        event(
            "experiment.progress", 101.5,
            #""experiment":"toy","seconds":1.5,"steps":8,"steps_per_second":5.5,"best_member":0,"best_score":0.5,"trainers":2,"busy_trainers":1,"members_finished":0,"population":2,"exploits":1"#
        ),
    ]

    static func scrape(_ lines: [String], now: Double = 102) throws -> (Exposition, String) {
        let registry = PrometheusCollectorRegistry()
        let metrics = PBTMetrics(factory: DescribedMetricsFactory(registry: registry))
        var model = PopulationModel()
        for line in lines {
            let event = try EventJSON.decode(line)
            metrics.record(event, observations: model.apply(event))
        }
        metrics.refresh(from: model, now: now)
        let text = registry.emitToString()
        return (try Exposition(text), text)
    }

    @Test func countersGaugesAndTheHistogram() throws {
        let (metrics, text) = try Self.scrape(Self.story)
        #expect(metrics.value("pbt_member_steps_total") == 8)
        #expect(metrics.value("pbt_exploits_total") == 1)
        #expect(metrics.value("pbt_lease_expiries_total", ["role": "trainer"]) == 1)
        #expect(metrics.value("pbt_frames_dropped_total", ["stage": "selector", "reason": "bad_magic"]) == 2)
        #expect(metrics.value("pbt_events_total", ["topic": "member.assigned"]) == 4)
        #expect(metrics.value("pbt_experiments_started_total") == 1)
        #expect(metrics.value("pbt_results_dropped_total") == 0)
        #expect(metrics.value("pbt_members", ["state": "training"]) == 1)
        #expect(metrics.value("pbt_members", ["state": "waiting"]) == 1)
        #expect(metrics.value("pbt_members", ["state": "finished"]) == 0)
        #expect(metrics.value("pbt_population") == 2)
        #expect(metrics.value("pbt_trainers", ["state": "busy"]) == 1)
        #expect(metrics.value("pbt_trainers", ["state": "idle"]) == 1)
        #expect(metrics.value("pbt_best_score") == 0.5)
        #expect(metrics.value("pbt_best_member") == 0)
        #expect(metrics.value("pbt_steps_per_second") == 5.5)
        #expect(metrics.value("pbt_experiment_running") == 1)
        #expect(metrics.value("pbt_experiment_seconds") == 2)
        #expect(metrics.value("pbt_member_score", ["member": "1"]) == 0.5)  // the copied score
        #expect(metrics.value("pbt_member_step", ["member": "1"]) == 4)
        #expect(metrics.value("pbt_last_event_timestamp_seconds") == 101.5)
        // Turnarounds: member 0 trained at 100.2, trained again from 100.3; member 1: 100.4 → 100.7.
        #expect(metrics.value("pbt_turnaround_seconds_count") == 2)
        #expect(abs((metrics.value("pbt_turnaround_seconds_sum") ?? 0) - 0.4) < 1e-9)
        #expect(metrics.value("pbt_turnaround_seconds_bucket", ["le": "0.25"]) == 1)
        #expect(metrics.value("pbt_turnaround_seconds_bucket", ["le": "0.5"]) == 2)
        #expect(metrics.types["pbt_turnaround_seconds"] == "histogram")
        #expect(metrics.types["pbt_exploits_total"] == "counter")
        #expect(metrics.types["pbt_members"] == "gauge")
        #expect(metrics.help["pbt_members"] == PBTMetrics.help("pbt_members"))
        #expect(text.contains("# HELP pbt_turnaround_seconds Seconds a member spends"))
    }

    @Test func everyCatalogMetricHasHelpAndAppears() throws {
        let (metrics, _) = try Self.scrape(Self.story)
        let families = Set(metrics.types.keys)
        for entry in PBTMetrics.catalog
        where !["pbt_leases_released_total", "pbt_results_dropped_total", "pbt_member_failures_total"].contains(
            entry.name) || families.contains(entry.name)
        {
            #expect(families.contains(entry.name), "\(entry.name) is not exposed")
            #expect(metrics.types[entry.name] == entry.type)
            #expect(!entry.help.isEmpty)
        }
    }

    @Test func aFinishedExperimentIsNotRunning() throws {
        let finished = Self.event(
            "experiment.finished", 103, #""reason":"max_steps","best_member":1,"best_score":0.9,"steps":16,"seconds":3"#
        )
        let (metrics, _) = try Self.scrape(Self.story + [finished])
        #expect(metrics.value("pbt_experiment_running") == 0)
        #expect(metrics.value("pbt_steps_per_second") == 0)
        #expect(metrics.value("pbt_best_score") == 0.9)
        #expect(metrics.value("pbt_experiment_seconds") == 3)
        #expect(metrics.value("pbt_trainers", ["state": "busy"]) == 0)
    }

    /// `result.dropped` is rate-limited at the selector and carries running counts: the
    /// counter counts drops, not events.
    @Test func droppedResultsAreCountedFromTheirRunningCounts() throws {
        func dropped(_ reason: String, _ count: Int, _ total: Int) -> String {
            Self.event(
                "result.dropped", 101,
                "\"member\":0,\"version\":1,\"worker\":\"e\",\"reason\":\"\(reason)\",\"detail\":\"\",\"count\":\(count),\"total\":\(total)"
            )
        }
        let drops =
            (1...10).map { dropped("stale_version", $0, $0) } + [
                dropped("not_leased", 1, 11), dropped("stale_version", 25, 26),
            ]
        let (metrics, _) = try Self.scrape(Self.story + drops)
        #expect(metrics.value("pbt_results_dropped_total") == 26)
        #expect(metrics.value("pbt_events_total", ["topic": "result.dropped"]) == 12)
    }

    @Test func failuresAndBenchesAreEvents() throws {
        let lines =
            Self.story + [
                Self.event(
                    "member.failed", 101.6, #""member":0,"version":3,"worker":"t1","reason":"boom","given_up":false"#),
                Self.event(
                    "member.failed", 101.7,
                    #""member":1,"version":5,"worker":"","reason":"lease expired","given_up":true"#),
                Self.event("trainer.benched", 101.8, #""role":"trainer","worker":"t1","failures":3,"seconds":30"#),
            ]
        let (metrics, _) = try Self.scrape(lines)
        #expect(metrics.value("pbt_member_failures_total", ["given_up": "false"]) == 1)
        #expect(metrics.value("pbt_member_failures_total", ["given_up": "true"]) == 1)
        #expect(metrics.value("pbt_events_total", ["topic": "trainer.benched"]) == 1)
        #expect(metrics.value("pbt_members", ["state": "failed"]) == 1)
    }

    @Test func labelValuesFromTheStreamAreCapped() throws {
        let floods = (0..<100).map {
            Self.event("frame.dropped", 101, "\"stage\":\"x\",\"worker\":\"w\",\"reason\":\"r\($0)\",\"total\":1")
        }
        let (metrics, _) = try Self.scrape(floods)
        #expect(metrics.samples.filter { $0.name == "pbt_frames_dropped_total" }.count == 64)
    }

    @Test func aSmallerNextExperimentDropsTheOldMembersSeries() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = PBTMetrics(factory: DescribedMetricsFactory(registry: registry))
        var model = PopulationModel()
        for line in Self.story {
            let event = try EventJSON.decode(line)
            metrics.record(event, observations: model.apply(event))
        }
        metrics.refresh(from: model, now: 102)
        #expect(try Exposition(registry.emitToString()).value("pbt_member_step", ["member": "1"]) == 4)
        let next = try EventJSON.decode(
            Self.event("experiment.started", 200, #""name":"next","population":1,"hyperparameters":["h0"]"#))
        metrics.record(next, observations: model.apply(next))
        metrics.refresh(from: model, now: 201)
        let after = try Exposition(registry.emitToString())
        #expect(after.value("pbt_member_step", ["member": "1"]) == nil)
        #expect(after.value("pbt_population") == 1)
        #expect(after.value("pbt_experiments_started_total") == 2)
    }
}
