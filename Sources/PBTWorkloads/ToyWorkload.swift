import PBTConfig
import PBTCore

/// The toy problem of Figure 2 of the PBT paper (Jaderberg et al. 2017).
///
/// θ = (θ0, θ1) starts at (0.9, 0.9). The true objective is Q(θ) = 1.2 − (θ0² + θ1²); a
/// member climbs the surrogate Q̂(θ|h) = 1.2 − (h0·θ0² + h1·θ1²) by gradient steps of size
/// `step_size` (0.01), with h = (h0, h1) its hyperparameters. The score is Q(θ).
/// With h fixed at (1, 0) or (0, 1) a member plateaus at Q = 0.39; PBT gets to 1.2.
public struct ToyWorkload: Workload {
    public let stepSize: Double
    public let start: (Double, Double)
    static let codec = CheckpointCodec(magic: "TOY2", version: 1)

    public init(stepSize: Double = 0.01, start: (Double, Double) = (0.9, 0.9)) {
        self.stepSize = stepSize
        self.start = start
    }

    init(settings: ConfigNode, space: SearchSpace) throws(ConfigError) {
        _ = try settings.map(allowed: ["kind", "step_size", "start"])
        var start = (0.9, 0.9)
        if let node = settings["start"] {
            let pair = try node.list()
            guard pair.count == 2 else { throw node.error("expected [θ0, θ1], got \(node.shown)") }
            start = (try pair[0].real(), try pair[1].real())
        }
        self.init(stepSize: try settings["step_size"]?.real(in: 1e-9...1) ?? 0.01, start: start)
        for name in ["h0", "h1"] {
            guard let domain = space.domain(of: name) else {
                throw ConfigError(
                    path: "hyperparameters",
                    message: "the toy workload needs hyperparameters h0 and h1; '\(name)' is missing")
            }
            if case .choice(let options) = domain, options.contains(where: { $0.number == nil }) {
                throw ConfigError(path: "hyperparameters.\(name)", message: "the toy workload needs a number")
            }
        }
    }

    public func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8] {
        Self.codec.seal(Float64Bytes.encode([start.0, start.1]))
    }

    public func train(
        _ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        var theta = try Float64Bytes.decode(try Self.codec.open(state), count: 2)
        guard let h0 = request.hyperparameters.number("h0"), let h1 = request.hyperparameters.number("h1") else {
            throw WorkloadError(
                "the toy workload needs numeric hyperparameters h0 and h1, got \(request.hyperparameters)")
        }
        var done = 0
        while done < request.steps {
            // Gradient ascent on Q̂: ∂Q̂/∂θi = −2·hi·θi.
            theta[0] += stepSize * (-2 * h0 * theta[0])
            theta[1] += stepSize * (-2 * h1 * theta[1])
            done += 1
            if !progress(done) { break }
        }
        return TrainingOutcome(
            state: Self.codec.seal(Float64Bytes.encode(theta)), stepsDone: done, metrics: Self.metrics(theta))
    }

    public func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double] {
        Self.metrics(try Float64Bytes.decode(try Self.codec.open(state), count: 2))
    }

    static func metrics(_ theta: [Double]) -> [String: Double] {
        ["score": 1.2 - (theta[0] * theta[0] + theta[1] * theta[1]), "theta0": theta[0], "theta1": theta[1]]
    }
}
