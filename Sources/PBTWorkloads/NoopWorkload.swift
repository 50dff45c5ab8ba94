import PBTConfig
import PBTCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A workload that does no learning: for measuring the pipeline itself and for tests.
///
/// A step takes `step_seconds` (members listed in `slow_members` take `slow_step_seconds`;
/// with `step_seconds_max` each step's time is drawn from [step_seconds, step_seconds_max]
/// with the member's seed). The score is the sum of the numeric hyperparameters, so
/// exploit has something to prefer. With `checkpoint_bytes`, each checkpoint carries that many
/// more bytes (eight drawn from the member, its seed and its steps, then zeros), for measuring
/// and testing checkpoint moves.
public struct NoopWorkload: Workload {
    public var stepSeconds: Double
    public var stepSecondsMax: Double?
    public var slowMembers: Set<Int>
    public var slowStepSeconds: Double
    /// Bytes of filler each checkpoint carries after the step count.
    public var checkpointBytes = 0
    static let codec = CheckpointCodec(magic: "NOOP", version: 1)

    public init(
        stepSeconds: Double = 0, stepSecondsMax: Double? = nil, slowMembers: Set<Int> = [], slowStepSeconds: Double = 0
    ) {
        self.stepSeconds = stepSeconds
        self.stepSecondsMax = stepSecondsMax
        self.slowMembers = slowMembers
        self.slowStepSeconds = slowStepSeconds
    }

    init(settings: ConfigNode) throws(ConfigError) {
        _ = try settings.map(allowed: [
            "kind", "step_seconds", "step_seconds_max", "slow_members", "slow_step_seconds", "checkpoint_bytes",
        ])
        var slow: Set<Int> = []
        for item in try settings["slow_members"]?.list() ?? [] { slow.insert(try item.integer(in: 0...Int.max)) }
        let low = try settings["step_seconds"]?.real(in: 0...3600) ?? 0
        let high = try settings["step_seconds_max"]?.real(in: 0...3600)
        if let high, high < low {
            throw try settings.require("step_seconds_max").error("must be at least step_seconds (\(low)), got \(high)")
        }
        self.init(
            stepSeconds: low, stepSecondsMax: high, slowMembers: slow,
            slowStepSeconds: try settings["slow_step_seconds"]?.real(in: 0...3600) ?? 0)
        checkpointBytes = try settings["checkpoint_bytes"]?.integer(in: 0...(1 << 32)) ?? 0
    }

    /// A checkpoint: the steps trained so far, then the filler.
    func state(steps: Double, member: Int, seed: UInt64) -> [UInt8] {
        var payload = Float64Bytes.encode([steps])
        if checkpointBytes > 0 {
            // Eight bytes drawn from the member, its seed and its steps (so that each checkpoint
            // has a name of its own), then zeros: cheap to make, as costly as any to move.
            var random = SplitMix64(seed: SplitMix64.derive(SplitMix64.derive(seed, UInt64(member)), UInt64(steps)))
            payload.reserveCapacity(8 + checkpointBytes)
            withUnsafeBytes(of: random.next().littleEndian) { payload.append(contentsOf: $0.prefix(checkpointBytes)) }
            payload += [UInt8](repeating: 0, count: max(0, checkpointBytes - 8))
        }
        return Self.codec.seal(payload)
    }

    static func steps(in state: [UInt8]) throws -> Double {
        let payload = try codec.open(state)
        guard payload.count >= 8 else {
            throw WorkloadError("a noop checkpoint holds \(payload.count) bytes, not 8 or more")
        }
        return try Float64Bytes.decode(Array(payload.prefix(8)), count: 1)[0]
    }

    public func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8] {
        state(steps: 0, member: member, seed: seed)
    }

    public func train(
        _ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        let steps = try Self.steps(in: state)
        var done = 0
        while done < request.steps {
            let seconds = stepTime(member: request.member, step: request.step + done, seed: request.seed)
            if seconds > 0 { Self.sleep(seconds) }
            done += 1
            if !progress(done) { break }
        }
        let score = request.hyperparameters.sorted.compactMap { $0.value.number }.reduce(0, +)
        return TrainingOutcome(
            state: self.state(steps: steps + Double(done), member: request.member, seed: request.seed),
            stepsDone: done,
            metrics: ["score": score])
    }

    public func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double] {
        _ = try Self.steps(in: state)
        return ["score": hyperparameters.sorted.compactMap { $0.value.number }.reduce(0, +)]
    }

    /// How long `member`'s step `step` takes.
    public func stepTime(member: Int, step: Int, seed: UInt64) -> Double {
        if slowMembers.contains(member) { return slowStepSeconds }
        guard let high = stepSecondsMax, high > stepSeconds else { return stepSeconds }
        var random = SplitMix64(seed: SplitMix64.derive(seed, UInt64(step)))
        return Double.random(in: stepSeconds...high, using: &random)
    }

    static func sleep(_ seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
