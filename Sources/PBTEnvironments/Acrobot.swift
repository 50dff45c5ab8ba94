#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// gymnasium's `Acrobot-v1`: two links hanging from a pivot, a torque of −1, 0 or +1 (actions
/// 0, 1, 2) on the joint between them; the goal is to swing the tip above the line one link
/// length over the pivot.
///
/// The "book" dynamics (Sutton and Barto) integrated with one fourth-order Runge–Kutta step of
/// dt = 0.2 s, angles wrapped to [−π, π], velocities bounded by 4π and 9π; reward −1 a step
/// until the episode terminates (0 on that step), truncated at 500 steps. The state is (θ₁, θ₂,
/// θ̇₁, θ̇₂); the observation (cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂) as floats. Every
/// operation is gymnasium's, in its order (tested against a gymnasium fixture).
public struct Acrobot: Environment {
    public static let observationSize = 6
    public static let actionCount = 3
    public static let maximumSteps = 500

    static let dt = 0.2
    static let linkLength1 = 1.0
    static let linkMass1 = 1.0
    static let linkMass2 = 1.0
    static let linkCenter1 = 0.5
    static let linkCenter2 = 0.5
    static let linkInertia = 1.0
    static let maximumVelocity1 = 4 * Double.pi
    static let maximumVelocity2 = 9 * Double.pi
    static let torques = [-1.0, 0.0, 1.0]

    public private(set) var state: [Double] = [0, 0, 0, 0]
    public private(set) var steps = 0

    public init() {}

    public var observation: [Float] {
        [
            Float(cos(state[0])), Float(sin(state[0])), Float(cos(state[1])), Float(sin(state[1])), Float(state[2]),
            Float(state[3]),
        ]
    }

    /// gymnasium draws the start from U(−0.1, 0.1) and keeps it as float32.
    public mutating func reset<Generator: RandomNumberGenerator>(using generator: inout Generator) {
        reset(state: (0..<4).map { _ in Double(Float(Double.random(in: -0.1..<0.1, using: &generator))) })
    }

    public mutating func restore(state: [Double], steps: Int) {
        precondition(state.count == 4, "Acrobot's state is θ₁, θ₂, θ̇₁, θ̇₂")
        self.state = state
        self.steps = steps
    }

    public mutating func step(_ action: Int) -> StepOutcome {
        precondition((0..<Self.actionCount).contains(action), "Acrobot's actions are 0, 1 and 2")
        var next = Self.rungeKutta(state + [Self.torques[action]])
        next[0] = Self.wrap(next[0])
        next[1] = Self.wrap(next[1])
        next[2] = min(max(next[2], -Self.maximumVelocity1), Self.maximumVelocity1)
        next[3] = min(max(next[3], -Self.maximumVelocity2), Self.maximumVelocity2)
        state = next
        steps += 1
        let terminated = -cos(state[0]) - cos(state[1] + state[0]) > 1.0
        return StepOutcome(
            observation: observation, reward: terminated ? 0 : -1, terminated: terminated,
            truncated: steps >= Self.maximumSteps)
    }

    /// One RK4 step of dt over (θ₁, θ₂, θ̇₁, θ̇₂, torque); returns the first four.
    static func rungeKutta(_ y0: [Double]) -> [Double] {
        let half = dt / 2.0
        let k1 = derivatives(y0)
        let k2 = derivatives(zip(y0, k1).map { $0 + half * $1 })
        let k3 = derivatives(zip(y0, k2).map { $0 + half * $1 })
        let k4 = derivatives(zip(y0, k3).map { $0 + dt * $1 })
        return (0..<4).map { i in y0[i] + dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) }
    }

    /// The book dynamics: (θ̇₁, θ̇₂, θ̈₁, θ̈₂, 0).
    static func derivatives(_ s: [Double]) -> [Double] {
        let m1 = linkMass1
        let m2 = linkMass2
        let l1 = linkLength1
        let lc1 = linkCenter1
        let lc2 = linkCenter2
        let i1 = linkInertia
        let i2 = linkInertia
        let g = 9.8
        let a = s[4]
        let theta1 = s[0]
        let theta2 = s[1]
        let dtheta1 = s[2]
        let dtheta2 = s[3]
        let d1 = m1 * (lc1 * lc1) + m2 * ((l1 * l1) + (lc2 * lc2) + 2 * l1 * lc2 * cos(theta2)) + i1 + i2
        let d2 = m2 * ((lc2 * lc2) + l1 * lc2 * cos(theta2)) + i2
        let phi2 = m2 * lc2 * g * cos(theta1 + theta2 - Double.pi / 2.0)
        let phi1 =
            -m2 * l1 * lc2 * (dtheta2 * dtheta2) * sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * cos(theta1 - Double.pi / 2)
            + phi2
        let ddtheta2 =
            (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * sin(theta2) - phi2)
            / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1)
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
    }

    /// gymnasium's `wrap(x, −π, π)`: whole turns added or taken off.
    static func wrap(_ value: Double) -> Double {
        var x = value
        let turn = Double.pi - -Double.pi
        while x > Double.pi { x = x - turn }
        while x < -Double.pi { x = x + turn }
        return x
    }
}
