import PBTConfig
import PBTCore
import PBTEnvironments

/// Workload `a2c`: an actor-critic agent (A2C: synchronous advantage actor-critic, the
/// single-learner form of the A3C that PBT was made for) learning `CartPole-v1` or
/// `Acrobot-v1` with several environments stepped together.
///
/// A training step is one update: `environments × rollout` frames, then generalised advantage
/// estimation and one Adam step on the policy-gradient, entropy and value losses. Hyperparameters
/// (tuned, or fixed under `workload`): `lr` (Adam's learning rate), `entropy` (β, the entropy
/// bonus), `gamma` (the discount) and `lambda` (GAE's λ: how far advantages look ahead).
///
/// Metrics of a training task: `episode_return` (and `score`): the mean return of the last
/// `score_episodes` episodes the member finished while training; `episodes`, `frames`,
/// `entropy`, `value_loss`. With `evaluation: checkpoint` the evaluator plays greedy episodes
/// (the most likely action each step) from `validation_episodes` start states no trainer uses
/// and scores on their mean return (`score`, `validation_return`), and reports
/// `test_return` over another `test_episodes` start states, which no decision reads.
///
/// The checkpoint holds both networks, Adam's moments, every environment's state, the returns
/// so far and the random generator: a member restored from its own checkpoint continues the same
/// trajectory bit for bit; one that copied another's (an exploit) draws from its own seed.
public struct A2CWorkload: Workload {
    /// The environments this workload knows, by gymnasium's ids.
    public enum Task: String, Sendable, CaseIterable {
        case cartPole = "CartPole-v1"
        case acrobot = "Acrobot-v1"
    }

    public static let hyperparameterNames = ["lr", "entropy", "gamma", "lambda"]
    /// The values each may take, fixed under `workload` or tuned.
    static let hyperparameterRanges: [String: ClosedRange<Double>] = [
        "lr": 0...1, "entropy": 0...1, "gamma": 0...1, "lambda": 0...1,
    ]
    /// Version 2 names the generator by the seed it was derived from; version 1 named it by
    /// member id, which a replay (one member training with the seeds of several) cannot follow.
    static let codec = CheckpointCodec(magic: "PBTR", version: 2, alsoReads: [1])

    public let task: Task
    let hidden: [Int]
    let environments: Int
    let rollout: Int
    let scoreEpisodes: Int
    let validationStarts: [[Double]]
    let testStarts: [[Double]]
    let defaults: [String: Double]

    init(settings: ConfigNode, experiment: Experiment) throws(ConfigError) {
        _ = try settings.map(
            allowed: [
                "kind", "environment", "hidden", "environments", "rollout", "score_episodes", "validation_episodes",
                "test_episodes",
            ] + Self.hyperparameterNames)
        let name = try settings["environment"]?.choice(Task.allCases.map(\.rawValue)) ?? Task.cartPole.rawValue
        task = Task(rawValue: name)!
        var hidden = [64, 64]
        if let node = settings["hidden"] {
            hidden = []
            for item in try node.list() { hidden.append(try item.integer(in: 1...1024)) }
            guard !hidden.isEmpty else { throw node.error("needs at least one hidden layer, e.g. [64, 64]") }
        }
        self.hidden = hidden
        environments = try settings["environments"]?.integer(in: 1...256) ?? 8
        rollout = try settings["rollout"]?.integer(in: 1...1024) ?? 16
        scoreEpisodes = try settings["score_episodes"]?.integer(in: 1...10_000) ?? 20
        let validation = try settings["validation_episodes"]?.integer(in: 1...10_000) ?? 16
        let test = try settings["test_episodes"]?.integer(in: 1...10_000) ?? 32
        var defaults: [String: Double] = ["gamma": 0.99, "lambda": 0.95, "entropy": 0.01]
        for name in Self.hyperparameterNames {
            if let node = settings[name] { defaults[name] = try node.real(in: Self.hyperparameterRanges[name]) }
        }
        try Workloads.checkHyperparameters(
            experiment, reads: Self.hyperparameterNames, fixed: defaults, workload: "a2c",
            ranges: Self.hyperparameterRanges)
        self.defaults = defaults
        // Start states of the held-out episodes: fixed by the experiment's seed, drawn from
        // streams no trainer uses (a trainer's environments draw from its member's seed).
        switch task {
        case .cartPole:
            validationStarts = Self.starts(
                CartPole.self, count: validation, seed: SplitMix64.derive(experiment.seed, 0x7661_6C69))
            testStarts = Self.starts(CartPole.self, count: test, seed: SplitMix64.derive(experiment.seed, 0x7465_7374))
        case .acrobot:
            validationStarts = Self.starts(
                Acrobot.self, count: validation, seed: SplitMix64.derive(experiment.seed, 0x7661_6C69))
            testStarts = Self.starts(Acrobot.self, count: test, seed: SplitMix64.derive(experiment.seed, 0x7465_7374))
        }
    }

    static func starts<E: Environment>(_: E.Type, count: Int, seed: UInt64) -> [[Double]] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            var environment = E()
            environment.reset(using: &random)
            return environment.state
        }
    }

    public func initialState(member: Int, seed: UInt64, hyperparameters: Hyperparameters) throws -> [UInt8] {
        switch task {
        case .cartPole: return encode(fresh(CartPole.self, seed: seed))
        case .acrobot: return encode(fresh(Acrobot.self, seed: seed))
        }
    }

    public func train(
        _ request: TrainingRequest, from state: [UInt8], progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        switch task {
        case .cartPole: return try train(CartPole.self, request, state, progress)
        case .acrobot: return try train(Acrobot.self, request, state, progress)
        }
    }

    public func evaluate(state: [UInt8], hyperparameters: Hyperparameters) throws -> [String: Double] {
        switch task {
        case .cartPole: return measure(try decode(CartPole.self, state))
        case .acrobot: return measure(try decode(Acrobot.self, state))
        }
    }

    // MARK: Training

    /// One member's whole state: what its checkpoint holds.
    struct Run<E: Environment>: Sendable {
        var agent: ActorCritic
        var environments: [E]
        /// Each environment's return so far in its current episode.
        var running: [Double]
        /// The returns of the last finished episodes, oldest first (at most `scoreEpisodes`).
        var recent: [Double]
        var episodes: Int
        var frames: Int
        /// The seed `random` was derived from: the seed of the member that trained these
        /// weights last. A request with another seed is a copy (an exploit, or a replay's next
        /// segment), and draws from its own seed from then on.
        var seed: UInt64
        /// A version-1 checkpoint's member id (the generator's owner, before seeds named it).
        var member: Int?
        var random: SplitMix64
    }

    func fresh<E: Environment>(_: E.Type, seed: UInt64) -> Run<E> {
        var random = SplitMix64(seed: SplitMix64.derive(seed, 0x6132_6300))
        let agent = ActorCritic(observation: E.observationSize, actions: E.actionCount, hidden: hidden, seed: seed)
        let environments = (0..<environments).map { _ in
            var environment = E()
            environment.reset(using: &random)
            return environment
        }
        return Run(
            agent: agent, environments: environments, running: Array(repeating: 0, count: environments.count),
            recent: [],
            episodes: 0, frames: 0, seed: seed, member: nil, random: random)
    }

    func train<E: Environment>(
        _: E.Type, _ request: TrainingRequest, _ state: [UInt8], _ progress: (Int) -> Bool
    ) throws -> TrainingOutcome {
        var run = try decode(E.self, state)
        if run.member.map({ $0 != request.member }) ?? (run.seed != request.seed) {
            // A copy of state another seed drew (an exploit): go on with this member's own draws.
            run.random = SplitMix64(seed: SplitMix64.derive(request.seed, UInt64(request.step), 0x6132_6301))
        }
        run.seed = request.seed
        run.member = nil
        let settings = ActorCritic.Settings(
            learningRate: Float(try value("lr", request.hyperparameters)),
            entropyCost: Float(try value("entropy", request.hyperparameters)))
        let gamma = try value("gamma", request.hyperparameters)
        let lambda = try value("lambda", request.hyperparameters)
        let width = E.observationSize
        let count = run.environments.count
        let rows = count * rollout
        var observations = [Float](repeating: 0, count: rows * width)
        var actions = [Int](repeating: 0, count: rows)
        var rewards = [Double](repeating: 0, count: rows)
        var ends = [Bool](repeating: false, count: rows)
        var current = [Float](repeating: 0, count: count * width)
        var entropy = 0.0
        var valueLoss = 0.0
        var done = 0
        while done < request.steps {
            for t in 0..<rollout {
                for e in 0..<count {
                    let observation = run.environments[e].observation
                    for i in 0..<width { current[e * width + i] = observation[i] }
                }
                observations.replaceSubrange((t * count * width)..<((t + 1) * count * width), with: current)
                let probabilities = run.agent.probabilities(current, rows: count)
                for e in 0..<count {
                    let action = Self.sample(probabilities, row: e, actions: E.actionCount, using: &run.random)
                    let outcome = run.environments[e].step(action)
                    let row = t * count + e
                    actions[row] = action
                    rewards[row] = outcome.reward
                    ends[row] = outcome.done
                    run.running[e] += outcome.reward
                    if outcome.done {
                        run.recent.append(run.running[e])
                        if run.recent.count > scoreEpisodes { run.recent.removeFirst(run.recent.count - scoreEpisodes) }
                        run.episodes += 1
                        run.running[e] = 0
                        run.environments[e].reset(using: &run.random)
                    }
                }
            }
            for e in 0..<count {
                let observation = run.environments[e].observation
                for i in 0..<width { current[e * width + i] = observation[i] }
            }
            let (values, activations) = run.agent.values(observations, rows: rows)
            let bootstrap = run.agent.values(current, rows: count).values
            let (advantages, returns) = Self.advantages(
                rewards: rewards, ends: ends, values: values, bootstrap: bootstrap, environments: count, gamma: gamma,
                lambda: lambda)
            let report = run.agent.update(
                observations: observations, actions: actions, advantages: advantages, returns: returns,
                valueActivations: activations, rows: rows, settings: settings)
            entropy += report.entropy
            valueLoss += report.valueLoss
            run.frames += rows
            done += 1
            if !progress(done) { break }
        }
        var metrics = trainingMetrics(run)
        metrics["entropy"] = done > 0 ? entropy / Double(done) : .nan
        metrics["value_loss"] = done > 0 ? valueLoss / Double(done) : .nan
        return TrainingOutcome(state: encode(run), stepsDone: done, metrics: metrics)
    }

    /// Generalised advantage estimation over a rollout laid out step by step (row t·E + e):
    /// δ = r + γ·V(next)·(1 − end) − V, A = δ + γλ·(1 − end)·A(next); returns are A + V.
    static func advantages(
        rewards: [Double], ends: [Bool], values: [Float], bootstrap: [Float], environments: Int, gamma: Double,
        lambda: Double
    ) -> (advantages: [Float], returns: [Float]) {
        let rows = rewards.count
        let steps = rows / environments
        var advantages = [Float](repeating: 0, count: rows)
        var returns = [Float](repeating: 0, count: rows)
        for e in 0..<environments {
            var next = 0.0
            for t in stride(from: steps - 1, through: 0, by: -1) {
                let row = t * environments + e
                let continues = ends[row] ? 0.0 : 1.0
                let nextValue = Double(t == steps - 1 ? bootstrap[e] : values[row + environments])
                let delta = rewards[row] + gamma * nextValue * continues - Double(values[row])
                next = delta + gamma * lambda * continues * next
                advantages[row] = Float(next)
                returns[row] = Float(next + Double(values[row]))
            }
        }
        return (advantages, returns)
    }

    /// An action drawn from row `row` of `probabilities`.
    static func sample(_ probabilities: [Float], row: Int, actions: Int, using random: inout SplitMix64) -> Int {
        let draw = Float(Double.random(in: 0..<1, using: &random))
        var total: Float = 0
        for action in 0..<actions {
            total += probabilities[row * actions + action]
            if draw < total { return action }
        }
        return actions - 1
    }

    func value(_ name: String, _ hyperparameters: Hyperparameters) throws -> Double {
        if let value = hyperparameters.number(name) { return value }
        if let value = defaults[name] { return value }
        throw WorkloadError("the a2c workload needs hyperparameter '\(name)'")
    }

    // MARK: Measuring

    func trainingMetrics<E: Environment>(_ run: Run<E>) -> [String: Double] {
        // Before any episode has finished, the episodes under way say what there is to say.
        let returns = run.recent.isEmpty ? run.running : run.recent
        let mean = returns.reduce(0, +) / Double(max(returns.count, 1))
        return ["score": mean, "episode_return": mean, "episodes": Double(run.episodes), "frames": Double(run.frames)]
    }

    func measure<E: Environment>(_ run: Run<E>) -> [String: Double] {
        var metrics = trainingMetrics(run)
        let validation = Self.greedyReturn(run.agent, E.self, starts: validationStarts)
        metrics["score"] = validation
        metrics["validation_return"] = validation
        metrics["test_return"] = Self.greedyReturn(run.agent, E.self, starts: testStarts)
        return metrics
    }

    /// The mean return of greedy episodes (the most likely action each step) from `starts`,
    /// played together, each to its end or its truncation.
    static func greedyReturn<E: Environment>(_ agent: ActorCritic, _: E.Type, starts: [[Double]]) -> Double {
        var environments = starts.map { start in
            var environment = E()
            environment.reset(state: start)
            return environment
        }
        var returns = [Double](repeating: 0, count: starts.count)
        var active = Array(starts.indices)
        var observations: [Float] = []
        while !active.isEmpty {
            observations.removeAll(keepingCapacity: true)
            for index in active { observations += environments[index].observation }
            let actions = agent.greedyActions(observations, rows: active.count)
            var still: [Int] = []
            for (slot, index) in active.enumerated() {
                let outcome = environments[index].step(actions[slot])
                returns[index] += outcome.reward
                if !outcome.done { still.append(index) }
            }
            active = still
        }
        return returns.reduce(0, +) / Double(max(returns.count, 1))
    }

    // MARK: Checkpoints

    /// Payload: the shape (observation, actions, hidden widths, environments), the counters,
    /// the generator, both networks, Adam's moments, each environment (state, steps, return so
    /// far), and the recent returns; little-endian throughout.
    func encode<E: Environment>(_ run: Run<E>) -> [UInt8] {
        var writer = ByteWriter()
        writer.integers([E.observationSize, E.actionCount, hidden.count] + hidden + [run.environments.count])
        writer.integers([run.frames, run.episodes, run.agent.adam.steps])
        writer.word(run.seed)
        writer.word(run.random.state)
        for network in [run.agent.policy, run.agent.value] {
            for layer in 0..<network.weights.count {
                writer.floats(network.weights[layer])
                writer.floats(network.biases[layer])
            }
        }
        for moments in [run.agent.adam.first, run.agent.adam.second] {
            for array in moments { writer.floats(array) }
        }
        for (environment, running) in zip(run.environments, run.running) {
            writer.doubles(environment.state)
            writer.integers([environment.steps])
            writer.doubles([running])
        }
        writer.integers([run.recent.count])
        writer.doubles(run.recent)
        return Self.codec.seal(writer.bytes)
    }

    /// A network of `sizes` as `encode` wrote it: each layer's weights, then its biases.
    static func readNetwork(_ sizes: [Int], from reader: inout ByteReader) throws -> MLPNetwork {
        var weights: [[Float]] = []
        var biases: [[Float]] = []
        for layer in 0..<(sizes.count - 1) {
            weights.append(try reader.floats(sizes[layer] * sizes[layer + 1]))
            biases.append(try reader.floats(sizes[layer + 1]))
        }
        return MLPNetwork(
            sizes: sizes, weights: weights, biases: biases, weightVelocity: weights.map { $0.map { _ in 0 } },
            biasVelocity: biases.map { $0.map { _ in 0 } })
    }

    func decode<E: Environment>(_: E.Type, _ state: [UInt8]) throws -> Run<E> {
        let (payload, version) = try Self.codec.openVersioned(state)
        var reader = ByteReader(bytes: payload, name: "a2c checkpoint")
        let shape = try reader.integers(3)
        guard shape[0] == E.observationSize, shape[1] == E.actionCount, shape[2] == hidden.count else {
            throw WorkloadError(
                "a2c checkpoint is for observations of \(shape[0]) and \(shape[1]) actions with \(shape[2]) hidden layers; this experiment's \(task.rawValue) agent has \(E.observationSize), \(E.actionCount) and \(hidden.count)"
            )
        }
        let widths = try reader.integers(hidden.count)
        guard widths == hidden else {
            throw WorkloadError("a2c checkpoint has hidden layers \(widths); this experiment's are \(hidden)")
        }
        let count = try reader.integers(1)[0]
        guard count == environments else {
            throw WorkloadError(
                "a2c checkpoint steps \(count) environments; this experiment's agent steps \(environments)")
        }
        // Version 1: member, then frames, episodes, Adam's steps; version 2: frames, episodes,
        // Adam's steps, then the generator's seed.
        let member = version == 1 ? try reader.integers(1)[0] : nil
        let counters = try reader.integers(3)
        let seed = version == 1 ? 0 : try reader.word()
        let random = SplitMix64(seed: try reader.word())
        let policy = try Self.readNetwork([E.observationSize] + hidden + [E.actionCount], from: &reader)
        let value = try Self.readNetwork([E.observationSize] + hidden + [1], from: &reader)
        let shapes = ActorCritic.shapes(policy) + ActorCritic.shapes(value)
        let first = try shapes.map { try reader.floats($0) }
        let second = try shapes.map { try reader.floats($0) }
        let agent = ActorCritic(
            policy: policy, value: value, adam: Adam(first: first, second: second, steps: counters[2]))
        var environments: [E] = []
        var running: [Double] = []
        for _ in 0..<count {
            var environment = E()
            let values = try reader.doubles(environment.state.count)
            let steps = try reader.integers(1)[0]
            guard (0..<E.maximumSteps).contains(steps) else {
                throw WorkloadError("a2c checkpoint has an episode \(steps) steps in")
            }
            environment.restore(state: values, steps: steps)
            environments.append(environment)
            running.append(try reader.doubles(1)[0])
        }
        let recentCount = try reader.integers(1)[0]
        guard (0...scoreEpisodes).contains(recentCount) else {
            throw WorkloadError("a2c checkpoint holds \(recentCount) recent returns")
        }
        let recent = try reader.doubles(recentCount)
        try reader.finish()
        return Run(
            agent: agent, environments: environments, running: running, recent: recent, episodes: counters[1],
            frames: counters[0], seed: seed, member: member, random: random)
    }
}
