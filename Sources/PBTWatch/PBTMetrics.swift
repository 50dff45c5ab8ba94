import CoreMetrics
import PBTCore
import PBTMonitor

/// The Prometheus metrics of an experiment, made from its event stream: counters and the
/// turnaround histogram as events arrive, gauges from the population model at each scrape.
///
///     event ──▶ record(_:observations:)  counters, histogram
///     scrape ─▶ refresh(from:now:)       gauges ──▶ registry text
///
/// Metrics go through swift-metrics (`CoreMetrics`) to whatever factory is given: the
/// exporter gives a `DescribedMetricsFactory` over a swift-prometheus registry.
public final class PBTMetrics {
    /// Every metric: name, type and help text (the README lists the same).
    public static let catalog: [(name: String, type: String, help: String)] = [
        ("pbt_events_total", "counter", "Events received from the stream, by topic."),
        ("pbt_member_steps_total", "counter", "Member-steps trained (member.trained: step - from_step)."),
        (
            "pbt_exploits_total", "counter",
            "Exploits: members that copied a better member's weights (member.exploited)."
        ),
        (
            "pbt_lease_expiries_total", "counter",
            "Tasks whose lease ran out and were handed to another worker, by role."
        ),
        (
            "pbt_leases_released_total", "counter",
            "Leases given back early (the worker left or lost the task), by role."
        ),
        (
            "pbt_results_dropped_total", "counter",
            "Results the selector dropped (stale version, not leased, unknown member)."
        ),
        ("pbt_frames_dropped_total", "counter", "Frames a stage could not use and dropped, by stage and reason."),
        ("pbt_member_failures_total", "counter", "Failed tasks (member.failed), by whether the member was given up."),
        (
            "pbt_experiments_started_total", "counter",
            "Experiments started (experiment.started) while the exporter watched."
        ),
        (
            "pbt_turnaround_seconds", "histogram",
            "Seconds a member spends between two training tasks: evaluation, decision, explore and queues."
        ),
        (
            "pbt_members", "gauge",
            "Members by state: training, evaluating, exploring, waiting, finished, failed, unknown."
        ),
        ("pbt_population", "gauge", "The population size."),
        ("pbt_trainers", "gauge", "Connected trainers by state: busy (holding a member) or idle."),
        ("pbt_workers", "gauge", "Connected workers by role."),
        ("pbt_best_score", "gauge", "The best member's score (as the selector ranks it)."),
        ("pbt_best_member", "gauge", "The id of the best member."),
        (
            "pbt_steps_per_second", "gauge",
            "Member-steps trained a second, as the selector measured over its last progress interval."
        ),
        (
            "pbt_experiment_running", "gauge",
            "1 while an experiment is running, 0 once it finished or before one started."
        ),
        ("pbt_experiment_seconds", "gauge", "Seconds since the experiment started (its duration once finished)."),
        ("pbt_member_score", "gauge", "Each member's latest score, by member."),
        ("pbt_member_step", "gauge", "The step each member's weights are at, by member."),
        ("pbt_last_event_timestamp_seconds", "gauge", "Unix time of the last event received."),
    ]

    /// The help text of a metric.
    public static func help(_ name: String) -> String {
        catalog.first { $0.name == name }?.help ?? ""
    }

    /// Histogram buckets (upper bounds, seconds).
    public static func buckets(_ name: String) -> [Double] {
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    }

    /// At most this many label values a metric (anyone can publish to the stream).
    static let maximumLabelSets = 64
    /// Members with a score and a step series at most: the first, by id.
    static let maximumMemberSeries = 1_024

    private let factory: any MetricsFactory
    private var counters: [String: Counter] = [:]
    /// `pbt_events_total` by topic: looked up once an event, so without building its key.
    private var eventCounters: [PBTEvent.Topic: Counter] = [:]
    /// Made at the start (they show from the first scrape, at 0) and kept for the hot path.
    private var stepCounter: Counter?
    private var exploitCounter: Counter?
    private var gauges: [String: Gauge] = [:]
    private var memberGauges: Set<String> = []
    private let turnaround: Recorder

    public init(factory: any MetricsFactory) {
        self.factory = factory
        turnaround = Recorder(label: "pbt_turnaround_seconds", dimensions: [], aggregate: true, factory: factory)
        // Counters show from the first scrape, at 0.
        for name in ["pbt_results_dropped_total", "pbt_experiments_started_total"] {
            _ = counter(name)
        }
        // So are those whose labels take a few known values (an alert on a rate then has a
        // series before the first expiry or failure).
        for role in WorkerRole.allCases {
            _ = counter("pbt_lease_expiries_total", ["role": role.description])
            _ = counter("pbt_leases_released_total", ["role": role.description])
        }
        for givenUp in [false, true] { _ = counter("pbt_member_failures_total", ["given_up": String(givenUp)]) }
        stepCounter = counter("pbt_member_steps_total")
        exploitCounter = counter("pbt_exploits_total")
    }

    /// Counts what `event` says and records what folding it measured.
    public func record(_ timed: TimedEvent, observations: [PopulationModel.Observation]) {
        let topic = timed.topic
        if let counter = eventCounters[topic] {
            counter.increment()
        } else if let counter = counter("pbt_events_total", ["topic": topic.rawValue]) {
            eventCounters[topic] = counter
            counter.increment()
        }
        switch timed.event {
        case .memberTrained(let trained):
            let steps = trained.stepsTrained
            if steps > 0 { stepCounter?.increment(by: steps) }
        case .memberExploited:
            exploitCounter?.increment()
        case .leaseExpired(_, _, let role, _):
            counter("pbt_lease_expiries_total", ["role": role.description])?.increment()
        case .leaseReleased(_, _, let role, _, _):
            counter("pbt_leases_released_total", ["role": role.description])?.increment()
        case .memberFailed(_, _, _, _, let givenUp):
            counter("pbt_member_failures_total", ["given_up": String(givenUp)])?.increment()
        case .experimentStarted:
            counter("pbt_experiments_started_total")?.increment()
        default:
            break
        }
        for observation in observations {
            switch observation {
            case .turnaround(_, let seconds): turnaround.record(seconds)
            case .framesDropped(let stage, let reason, let count):
                counter("pbt_frames_dropped_total", ["stage": stage, "reason": reason])?.increment(by: Int64(count))
            case .resultsDropped(_, let count):
                // Rate-limited events with running counts: the model says how many are new.
                counter("pbt_results_dropped_total")?.increment(by: Int64(count))
            case .restarted: break
            }
        }
    }

    /// Sets every gauge from the model (call before each scrape).
    public func refresh(from model: PopulationModel, now: Double) {
        let running = model.eventsSeen > 0 && model.finish == nil && (model.name != nil || model.progress != nil)
        for (state, count) in model.membersByState { gauge("pbt_members", ["state": state]).record(count) }
        gauge("pbt_population").record(model.population ?? model.rows.count)
        let trainers = model.connectedCount(.trainer)
        let busy = model.busyTrainers
        gauge("pbt_trainers", ["state": "busy"]).record(busy)
        gauge("pbt_trainers", ["state": "idle"]).record(max(0, trainers - busy))
        for role in [WorkerRole.trainer, .evaluator, .mutator] {
            gauge("pbt_workers", ["role": role.description]).record(model.connectedCount(role))
        }
        if let best = model.best {
            gauge("pbt_best_score").record(best.score)
            gauge("pbt_best_member").record(best.member)
        }
        gauge("pbt_steps_per_second").record(running ? (model.progress?.stepsPerSecond ?? 0) : 0)
        gauge("pbt_experiment_running").record(running ? 1 : 0)
        if let finish = model.finish {
            gauge("pbt_experiment_seconds").record(finish.seconds)
        } else if let start = model.startTime {
            gauge("pbt_experiment_seconds").record(max(0, now - start))
        }
        var current: Set<String> = []
        for member in model.firstRows(Self.maximumMemberSeries) {
            let id = String(member.id)
            if let score = member.score, score.isFinite {
                gauge("pbt_member_score", ["member": id]).record(score)
                current.insert("pbt_member_score|member=\(id)")
            }
            if let step = member.step {
                gauge("pbt_member_step", ["member": id]).record(step)
                current.insert("pbt_member_step|member=\(id)")
            }
        }
        // A new experiment with fewer members: its series end.
        for key in memberGauges.subtracting(current) {
            gauges.removeValue(forKey: key)?.destroy()
        }
        memberGauges = current
        if let last = model.lastEventTime { gauge("pbt_last_event_timestamp_seconds").record(last) }
    }

    static func key(_ name: String, _ labels: [String: String]) -> String {
        name + "|" + labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ",")
    }

    /// The counter for `name` and `labels`, made on first use; nil past the label limit.
    private func counter(_ name: String, _ labels: [String: String] = [:]) -> Counter? {
        let key = Self.key(name, labels)
        if let counter = counters[key] { return counter }
        if !labels.isEmpty, counters.keys.filter({ $0.hasPrefix(name + "|") }).count >= Self.maximumLabelSets {
            return nil
        }
        let counter = Counter(label: name, dimensions: labels.keys.sorted().map { ($0, labels[$0]!) }, factory: factory)
        counters[key] = counter
        return counter
    }

    private func gauge(_ name: String, _ labels: [String: String] = [:]) -> Gauge {
        let key = Self.key(name, labels)
        if let gauge = gauges[key] { return gauge }
        let gauge = Gauge(label: name, dimensions: labels.keys.sorted().map { ($0, labels[$0]!) }, factory: factory)
        gauges[key] = gauge
        return gauge
    }
}
