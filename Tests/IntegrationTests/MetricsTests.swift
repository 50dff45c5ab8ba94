import Foundation
import PBTSystem
import PBTTestSupport
import PBTWatch
import Testing

/// The Prometheus metrics of a running experiment: `pbt run` starts the exporter and prints
/// its URL; a scrape parses; a real Prometheus server scrapes it and answers a query.
@Suite("metrics")
struct MetricsTests {
    /// A noop experiment that runs until stopped (a time budget far away), 4 members.
    static let endless = noopExperiment(
        name: "scraped", population: 4, interval: 2, maxSteps: 100_000, stepSeconds: 0.01, exploit: "truncation",
        extra: ""
    )
    .replacingOccurrences(of: "max_steps: 100000", with: "max_steps: 100000\n  time_budget: 120s")

    /// Starts `pbt run` on the endless experiment; returns it and the metrics URL it printed.
    static func startRun(_ directory: TemporaryDirectory) throws -> (PBTProcess, String) {
        let file = try directory.write("scraped.yml", endless)
        let run = try PBTProcess(
            ["run", file, "-o", directory.file("run"), "--trainers", "2"], output: directory.file("run.log"))
        var url: String?
        _ = eventually(within: 60) {
            url = firstMatch(#"metrics: (http://127\.0\.0\.1:[0-9]+/metrics)"#, in: run.log)
            return url != nil || run.child.poll() != nil
        }
        return (run, try #require(url, "pbt run printed no metrics URL:\n\(run.log)"))
    }

    @Test func aScrapeOfARunningExperimentParses() throws {
        let directory = try TemporaryDirectory()
        let (run, url) = try Self.startRun(directory)
        var metrics: ScrapedMetrics?
        var last = ""
        let ready = try eventually(within: 60) {
            guard let (status, body) = httpGet(url), status == 200 else { return false }
            last = body
            let scraped = try ScrapedMetrics(body)
            metrics = scraped
            return (scraped["pbt_member_steps_total"] ?? 0) > 0 && (scraped["pbt_turnaround_seconds_count"] ?? 0) > 0
                && scraped["pbt_best_score"] != nil && scraped["pbt_experiment_running"] == 1
        }
        #expect(ready, "the metrics never showed a running experiment:\n\(last)")
        let scraped = try #require(metrics)
        let states = ["training", "evaluating", "exploring", "waiting", "finished", "failed", "unknown"]
        #expect(states.map { scraped["pbt_members{state=\"\($0)\"}"] ?? -1 }.reduce(0, +) == 4)
        #expect(scraped["pbt_population"] == 4)
        #expect((scraped["pbt_trainers{state=\"busy\"}"] ?? 0) + (scraped["pbt_trainers{state=\"idle\"}"] ?? 0) == 2)
        #expect(scraped["pbt_workers{role=\"evaluator\"}"] == 1)
        for name in [
            "pbt_events_total", "pbt_member_steps_total", "pbt_exploits_total", "pbt_turnaround_seconds_bucket",
            "pbt_members",
            "pbt_best_score", "pbt_best_member", "pbt_steps_per_second", "pbt_member_score", "pbt_member_step",
            "pbt_last_event_timestamp_seconds",
        ] {
            #expect(scraped.names.contains(name), "\(name) missing")
        }
        #expect(scraped.help.contains("pbt_turnaround_seconds"))
        // Anything but /metrics is not found.
        #expect(httpGet(url.replacingOccurrences(of: "/metrics", with: "/nothing"))?.status == 404)
        run.child.send(SIGTERM)
        #expect(run.finish(within: 30) != nil)
    }

    @Test func aBadListenAddressIsRefused() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("e.yml", Self.endless)
        let run = try PBTProcess(["run", file, "--metrics", "127.0.0.1:99999"], output: directory.file("run.log"))
        let end = try #require(run.finish(within: 30))
        #expect(end.exitCode == 2)
        #expect(run.log.contains("--metrics") && run.log.contains("99999"))
        let exporter = try PBTProcess(
            ["exporter", "--listen", "localhost:http"], output: directory.file("exporter.log"))
        #expect(try #require(exporter.finish(within: 30)).exitCode == 2)
        #expect(exporter.log.contains("--listen must be HOST:PORT"))
    }

    /// An address the exporter cannot listen on (a port in use, an address not this
    /// machine's) is refused before anything starts: exit 2, and no run directory is made,
    /// so the same --output can be used once the port is free.
    @Test func aMetricsAddressThatCannotBeListenedOnIsRefusedBeforeTheRun() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("e.yml", Self.endless)
        let holder = try HTTPResponder(host: "127.0.0.1", port: 0)
        for address in ["127.0.0.1:\(holder.port)", "10.255.255.1:9464"] {
            let output = directory.file("run-\(address.hasPrefix("10.") ? "foreign" : "in-use")")
            let run = try PBTProcess(
                ["run", file, "--output", output, "--metrics", address], output: output + ".log")
            let end = try #require(run.finish(within: 30))
            #expect(end.exitCode == 2, "\(run.log)")
            #expect(run.log.contains("--metrics \(address): cannot listen there"), "\(run.log)")
            #expect(!FileManager.default.fileExists(atPath: output), "\(output) was made")
        }
    }

    @Test(
        .enabled(
            if: ExternalTool.available("prometheus"),
            "prometheus is not installed (apt-get install prometheus; .ci/run installs it)"))
    func aRealPrometheusScrapesTheExporter() throws {
        let directory = try TemporaryDirectory()
        let (run, url) = try Self.startRun(directory)
        let target = try #require(firstMatch(#"http://(127\.0\.0\.1:[0-9]+)/metrics"#, in: url))
        let config = try directory.write(
            "prometheus.yml",
            """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: pbt
                scrape_interval: 1s
                static_configs:
                  - targets: ['\(target)']
            """)
        let port = try freePort()
        let prometheus = try ChildProcess(
            executable: try #require(ExternalTool.path("prometheus")),
            arguments: [
                "--config.file=\(config)", "--storage.tsdb.path=\(directory.file("tsdb"))",
                "--web.listen-address=127.0.0.1:\(port)",
            ],
            output: directory.file("prometheus.log"))
        defer { _ = prometheus.stop(grace: 5) }
        // Query until Prometheus has scraped the population and some training.
        var answer = ""
        let api = "http://127.0.0.1:\(port)/api/v1/query?query="
        let answered = eventually(within: 60) {
            guard let (status, body) = httpGet(api + "pbt_population"), status == 200 else { return false }
            answer = body
            guard body.contains("\"status\":\"success\""), body.contains("\"job\":\"pbt\""), body.contains("\"4\"]")
            else { return false }
            guard let steps = httpGet(api + "pbt_member_steps_total"), steps.body.contains("\"job\":\"pbt\"") else {
                return false
            }
            answer = steps.body
            return true
        }
        let log = (try? String(contentsOfFile: directory.file("prometheus.log"), encoding: .utf8)) ?? ""
        #expect(answered, "Prometheus never answered with the metric:\n\(answer)\n\(log.suffix(2000))")
        // The target is up, as Prometheus sees it.
        let up = httpGet(api + "up%7Bjob%3D%22pbt%22%7D")
        #expect(up?.body.contains("\"1\"]") == true, "\(up?.body ?? "no answer")")
        run.child.send(SIGTERM)
        #expect(run.finish(within: 30) != nil)
    }
}
