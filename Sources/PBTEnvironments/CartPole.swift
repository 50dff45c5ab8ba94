#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// gymnasium's `CartPole-v1`: a pole on a cart, pushed left (0) or right (1) with 10 N.
///
/// Euler integration with τ = 0.02 s; the episode terminates when the cart leaves ±2.4 or the
/// pole leans past ±12°, and is truncated at 500 steps; every step, the last included, gives
/// reward 1. The state is four doubles (x, ẋ, θ, θ̇), as gymnasium keeps it; the observation is
/// the same as floats. Every operation is gymnasium's, in its order, so trajectories match it
/// to the last bit of the float observations (tested against a gymnasium fixture).
public struct CartPole: Environment {
    public static let observationSize = 4
    public static let actionCount = 2
    public static let maximumSteps = 500

    static let gravity = 9.8
    static let massCart = 1.0
    static let massPole = 0.1
    static let totalMass = massPole + massCart
    /// Half the pole's length.
    static let length = 0.5
    static let poleMassLength = massPole * length
    static let forceMagnitude = 10.0
    static let tau = 0.02
    static let thetaThreshold = 12 * 2 * Double.pi / 360
    static let xThreshold = 2.4

    public private(set) var state: [Double] = [0, 0, 0, 0]
    public private(set) var steps = 0

    public init() {}

    public var observation: [Float] { state.map { Float($0) } }

    public mutating func reset<Generator: RandomNumberGenerator>(using generator: inout Generator) {
        reset(state: (0..<4).map { _ in Double.random(in: -0.05..<0.05, using: &generator) })
    }

    public mutating func restore(state: [Double], steps: Int) {
        precondition(state.count == 4, "CartPole's state is x, ẋ, θ, θ̇")
        self.state = state
        self.steps = steps
    }

    public mutating func step(_ action: Int) -> StepOutcome {
        precondition((0..<Self.actionCount).contains(action), "CartPole's actions are 0 and 1")
        var x = state[0]
        var xDot = state[1]
        var theta = state[2]
        var thetaDot = state[3]
        let force = action == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let cosTheta = cos(theta)
        let sinTheta = sin(theta)
        let temp = (force + Self.poleMassLength * (thetaDot * thetaDot) * sinTheta) / Self.totalMass
        let thetaAcc =
            (Self.gravity * sinTheta - cosTheta * temp)
            / (Self.length * (4.0 / 3.0 - Self.massPole * (cosTheta * cosTheta) / Self.totalMass))
        let xAcc = temp - Self.poleMassLength * thetaAcc * cosTheta / Self.totalMass
        x = x + Self.tau * xDot
        xDot = xDot + Self.tau * xAcc
        theta = theta + Self.tau * thetaDot
        thetaDot = thetaDot + Self.tau * thetaAcc
        state = [x, xDot, theta, thetaDot]
        steps += 1
        let terminated =
            x < -Self.xThreshold || x > Self.xThreshold || theta < -Self.thetaThreshold || theta > Self.thetaThreshold
        return StepOutcome(
            observation: observation, reward: 1, terminated: terminated, truncated: steps >= Self.maximumSteps)
    }
}
