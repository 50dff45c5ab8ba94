import PBTCore

/// An experiment as its file describes it, validated.
///
/// ```yaml
/// name: toy
/// seed: 1
/// workload: {kind: toy}
/// population: 2
/// interval: 4                 # steps between decisions
/// stop: {max_steps: 200, target_score: 1.19, time_budget: 5m, total_steps: 400}
/// evaluation: reported          # or checkpoint: the evaluator runs the workload's evaluation
/// objective: {metric: score, mode: max}
/// exploit: {strategy: truncation, fraction: 0.25, burn_in: 0}   # lineage_cap: {share: 0.5, until: 750}
/// explore: {strategy: noise, std: 0.1, resample_probability: 0}
/// hyperparameters:
///   h0: {uniform: [0, 1]}
///   h1: {uniform: [0, 1]}
/// initial:                    # optional, one entry a member; the rest is sampled
///   - {h0: 1, h1: 0}
///   - {h0: 0, h1: 1}
/// security: {curve: true}     # optional: every socket authenticated and encrypted (CURVE)
/// ```
public struct Experiment: Sendable, Hashable {
    public var name: String
    public var seed: UInt64
    public var workload: WorkloadSpec
    public var population: Int
    /// Steps a member trains between decisions (the ready criterion).
    public var interval: Int
    public var stop: StopCondition
    /// Which metric a trainer reports is the score.
    public var metric: String
    public var objective: Objective
    public var exploit: ExploitStrategy
    public var burnIn: Int
    /// `exploit.lineage_cap`: the largest share of the population one lineage may hold, until a step.
    public var lineageCap: LineageCap? = nil
    public var explore: ExploreStrategy
    public var space: SearchSpace
    /// Hyperparameters given in the file for the first members (possibly only some names).
    public var initial: [Hyperparameters]
    /// Where scores come from.
    public var evaluation: Evaluation
    /// Leases, silence, failures: how the selector notices lost work (`leases`).
    public var leases: LeaseSettings
    /// Seconds a leg of a member's cycle may go without word before it is re-issued.
    public var leaseTimeout: Double { leases.timeout }
    /// Failed tasks in a row after which a member is given up.
    public var maxFailures: Int { leases.maxFailures }
    /// Whether the selector deletes checkpoints nobody can load any more, and how often (seconds).
    public var garbageCollection: Bool
    public var collectionInterval: Double
    /// How trainers and evaluators reach the checkpoints (`checkpoints.transport`).
    public var checkpointTransport = ExperimentDefaults.checkpointTransport
    /// Members wait at each ready step until the whole live population is there (Ray Tune's
    /// `synch=True`), then decisions are made best first.
    public var synchronous: Bool
    /// `max_lead`: a member starts a task only while at most this many steps ahead of the
    /// live member furthest behind; nil (the default): no bound.
    public var maxLead: Int? = ExperimentDefaults.maxLead
    /// The file's text, exactly as read: what the selector sends to workers.
    public var source: String
    /// Hyperparameters fixed step range by step range (`schedule`; `pbt replay` writes one), or nil.
    public var schedule: HyperparameterSchedule? = nil
    /// `security: {curve: true}`: every socket of the pipeline must use CURVE; a selector
    /// without keys refuses to start, and `pbt run` makes keys for the run.
    public var requiresCurve = false
    /// Where relative paths in a `command` workload's argv point: the experiment file's
    /// directory (`directory:`, which `load(path:)` records when the command has such paths).
    public var directory: String? = nil
    /// What each trainer's training may use (`resources:`): its thread budget and GPUs.
    public var resources = ResourceSettings()

    /// A short id that changes whenever the file's text does.
    public var id: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in source.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return name + "-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Each member's starting hyperparameters: the file's `initial` entries, the rest drawn
    /// from the search space with a generator derived from the seed and the member.
    public func initialHyperparameters() -> [Hyperparameters] {
        (0..<population).map { member in
            var random = SplitMix64.forDecision(
                seed: seed, member: member, version: 0, purpose: .initialHyperparameters)
            var values = space.sample(using: &random)
            if member < initial.count {
                for (name, value) in initial[member].sorted { values[name] = value }
            }
            return values
        }
    }

    /// The selector's settings for this experiment.
    public func selectorSettings(minTrainers: Int = 1, startTimeout: Double = 10) -> SelectorSettings {
        SelectorSettings(
            experimentID: id, seed: seed, interval: interval, stop: stop, exploit: exploit,
            explores: explore != .none, objective: objective, burnIn: burnIn, lineageCap: lineageCap,
            leaseTimeout: leases.timeout,
            silenceTimeout: leases.silence, maxTaskSeconds: leases.maxDuration, maxFailures: leases.maxFailures,
            benchSeconds: leases.bench, minTrainers: minTrainers, startTimeout: startTimeout, space: space,
            synchronous: synchronous, maxLead: maxLead,
            schedule: schedule)
    }
}

/// The `leases` section: how the selector notices work that is lost or stuck.
///
///     leases:
///       timeout: 30s        a leg without word (progress heartbeats count) is re-issued
///       silence: 5s         a worker silent this long is gone; what it held goes out again
///       max_duration: auto  a leg past this is re-issued whatever its heartbeats say
///       max_failures: 3     failures (or expiries) in a row: a member is given up, a worker benched
///       bench: 30s          how long a benched worker gets no work (doubling each time)
public struct LeaseSettings: Sendable, Hashable {
    /// Seconds a leg may go without word; default `LeaseSettings.defaultTimeout`.
    public var timeout: Double
    /// Seconds a worker may stay silent (it heartbeats every second) before it counts as gone.
    public var silence: Double
    /// Seconds a leg may take at most, heartbeats or not; nil (`auto`): ten times the longest
    /// leg seen so far in the run, and at least ten lease timeouts.
    public var maxDuration: Double?
    /// Failed tasks or expired leases in a row after which a member is given up (and failed
    /// tasks in a row after which a worker is benched).
    public var maxFailures: Int
    /// Seconds a benched worker gets no work the first time.
    public var bench: Double

    /// 30 s.
    public static let defaultTimeout = 30.0
    /// 5 s: five missed heartbeats of a worker that heartbeats every second.
    public static let defaultSilence = 5.0
    /// 3.
    public static let defaultMaxFailures = 3
    /// 30 s.
    public static let defaultBench = 30.0

    public init(
        timeout: Double = defaultTimeout, silence: Double = defaultSilence, maxDuration: Double? = nil,
        maxFailures: Int = defaultMaxFailures,
        bench: Double = defaultBench
    ) {
        self.timeout = timeout
        self.silence = silence
        self.maxDuration = maxDuration
        self.maxFailures = maxFailures
        self.bench = bench
    }
}

/// Where an evaluator gets a member's score.
public enum Evaluation: String, Sendable, Hashable {
    /// From the metrics the trainer reported with the checkpoint (cheap; the default).
    case reported
    /// By loading the checkpoint and running the workload's own evaluation (for workloads
    /// whose evaluation is expensive enough to deserve its own stage).
    case checkpoint
}

/// Which workload trains the members, and its own settings (checked by the workload).
public struct WorkloadSpec: Sendable, Hashable {
    public var kind: String
    /// The whole `workload` map, `kind` included.
    public var settings: ConfigNode
}

/// How trainers and evaluators reach the run's checkpoints (`checkpoints.transport`).
public enum CheckpointTransport: String, Sendable, Hashable, CaseIterable {
    /// The selector's checkpoint directory where a worker sees it (the selector's token is in
    /// it), the checkpoint service over ZeroMQ where it does not.
    case auto
    /// The selector's directory, always: a worker that does not see it refuses the experiment.
    case shared
    /// The checkpoint service, always, with a local cache (even on the selector's machine).
    case zeromq
}
