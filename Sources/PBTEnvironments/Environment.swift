/// A reinforcement-learning environment with a few discrete actions, stepped one action at a
/// time: gymnasium's interface (`reset`, then `step` until terminated or truncated), as values.
///
/// Episodes end by termination (the task's own end: the pole fell, the tip rose) or by
/// truncation at `maximumSteps` (gymnasium's `TimeLimit`); an agent resets after either.
public protocol Environment: Sendable, Hashable {
    /// Numbers in an observation.
    static var observationSize: Int { get }
    /// Actions: 0 ..< actionCount.
    static var actionCount: Int { get }
    /// Steps after which an episode is truncated.
    static var maximumSteps: Int { get }

    /// The internal state (what a checkpoint keeps and a fixture starts from).
    var state: [Double] { get }
    /// Steps taken in this episode.
    var steps: Int { get }
    /// What the agent sees now.
    var observation: [Float] { get }

    /// An environment before its first episode (reset it first).
    init()

    /// A new episode from a start state drawn as gymnasium draws it (its distribution; the
    /// generator is the caller's).
    mutating func reset<Generator: RandomNumberGenerator>(using generator: inout Generator)
    /// Exactly this state, `steps` steps into its episode (a checkpoint's; `reset(state:)`
    /// starts an episode from a state).
    mutating func restore(state: [Double], steps: Int)
    /// Takes `action` (0 ..< actionCount).
    mutating func step(_ action: Int) -> StepOutcome
}

extension Environment {
    /// A new episode from exactly this state (tests, replays, held-out start states).
    public mutating func reset(state: [Double]) { restore(state: state, steps: 0) }
}

/// What one step gave.
public struct StepOutcome: Sendable, Hashable {
    public var observation: [Float]
    public var reward: Double
    /// The episode reached the task's end.
    public var terminated: Bool
    /// The episode reached `maximumSteps`.
    public var truncated: Bool

    public init(observation: [Float], reward: Double, terminated: Bool, truncated: Bool) {
        self.observation = observation
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
    }

    /// Whether the episode is over either way.
    public var done: Bool { terminated || truncated }
}
