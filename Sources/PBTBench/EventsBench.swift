import Foundation
import PBTMonitor
import PBTSystem
import PBTWire
import PBTTensorBoard
import PBTWatch
import Prometheus

/// `pbt bench events`: what a subscriber of the event stream (the exporter, the monitor) pays
/// an event, beside Foundation's `JSONSerialization` reading the same lines, and beside the rate
/// at which the pipeline publishes them. The lines come from a real `pbt run` of the
/// throughput experiment (or from `--events FILE`).
public struct EventsBench {
    public struct Options: Sendable {
        public var executable: String
        public var output: String
        /// An `events.jsonl` to read instead of making one.
        public var events: String?
        /// Seconds each measurement runs.
        public var seconds: Double

        public init(executable: String, output: String, events: String?, seconds: Double) {
            self.executable = executable
            self.output = output
            self.events = events
            self.seconds = seconds
        }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    public func run(log: (String) -> Void) throws -> String {
        var file = options.events
        if file == nil {
            log("making an event log: population 64, 4 trainers, no-op workload")
            let pipeline = PipelineBench(
                options: .init(executable: options.executable, output: options.output, smoke: false))
            _ = try pipeline.pipeline(name: "events", population: 64, trainers: 4, maxSteps: 200, exploit: "truncation")
            file = "\(options.output)/events/events.jsonl"
        }
        guard let file, let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw BenchError("cannot read \(file ?? "?")")
        }
        let lines = text.split(separator: "\n").map { Array($0.utf8) }
        guard lines.count > 100 else { throw BenchError("\(file) holds \(lines.count) lines; too few to measure") }
        let times = lines.compactMap { try? EventJSON.decode($0).time }
        let streamRate = Double(times.count) / max((times.max() ?? 0) - (times.min() ?? 0), 1e-9)

        log("measuring \(lines.count) events, \(options.seconds) s each")
        let foundation = measure(lines) { line in
            (try? JSONSerialization.jsonObject(with: Data(line))) != nil
        }
        let parse = measure(lines) { line in
            (try? EventJSON.decode(line)) != nil
        }
        var model = PopulationModel(options: .init(trackLineage: false))
        let metrics = PBTMetrics(factory: DescribedMetricsFactory(registry: PrometheusCollectorRegistry()))
        let exporter = measure(lines) { line in
            guard let event = try? EventJSON.decode(line) else { return false }
            metrics.record(event, observations: model.apply(event))
            return true
        }
        // The TensorBoard writer: what `pbt tensorboard` does an event, its files included
        // (flushed once a second's worth of the run's events has gathered, as live).
        let tensorboardDirectory = "\(options.output)/events-tensorboard"
        try? FileManager.default.removeItem(atPath: tensorboardDirectory)
        let directory = try TensorBoardDirectory(path: tensorboardDirectory)
        var projection = TensorBoardProjection()
        var sinceFlush = 0
        let flushEvery = max(Int(streamRate), 1)
        let tensorboard = measure(lines) { line in
            guard let event = try? EventJSON.decode(line) else { return false }
            directory.add(projection.apply(event))
            sinceFlush += 1
            if sinceFlush >= flushEvery {
                sinceFlush = 0
                do { try directory.flush() } catch { return false }
            }
            return true
        }
        try directory.flush()
        try? FileManager.default.removeItem(atPath: tensorboardDirectory)
        guard foundation > 0, parse > 0, exporter > 0, tensorboard > 0 else {
            throw BenchError("no line of \(file) is an event")
        }
        var table = BenchTable([
            "reading events", "events/s", "µs an event", "÷ JSONSerialization", "÷ the run's event rate",
        ])
        for (label, rate) in [
            ("Foundation JSONSerialization (baseline)", foundation), ("EventJSON.decode: typed events", parse),
            ("the exporter: decode, population model, metrics", exporter),
            ("the TensorBoard writer: decode, summaries, TFRecord files", tensorboard),
        ] {
            table.add([
                label, PipelineBench.rate(rate), String(format: "%.2f", 1e6 / rate),
                String(format: "%.2f×", rate / foundation), String(format: "%.1f×", rate / streamRate),
            ])
        }
        return
            "Events (\(lines.count) lines of \(file); the run published \(PipelineBench.rate(streamRate)) events/s)\n"
            + table.description
    }

    /// Events a second `body` gets through, over the lines again and again for the set time.
    func measure(_ lines: [[UInt8]], _ body: ([UInt8]) -> Bool) -> Double {
        var done = 0
        var failed = 0
        let started = Clock.monotonic
        var elapsed = 0.0
        repeat {
            for line in lines where !body(line) { failed += 1 }
            done += lines.count
            elapsed = Clock.monotonic - started
        } while elapsed < options.seconds
        return Double(done - failed) / elapsed
    }
}
