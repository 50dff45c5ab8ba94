import Foundation
import PBTEnvironments
import Testing

/// The Swift environments against trajectories gymnasium itself produced
/// (`Fixtures/make_gymnasium_trajectories.py` says how): from each recorded start state, the
/// same actions give the same observations (to 1e-6), rewards, terminations and truncations.
@Suite("gymnasium fixture")
struct GymnasiumFixtureTests {
    struct Step: Decodable {
        let observation: [Double]
        let reward: Double
        let terminated: Bool
        let truncated: Bool
    }

    struct Trajectory: Decodable {
        let environment: String
        let policy: String
        let seed: Int
        let initialState: [Double]
        let initialObservation: [Double]
        let actions: [Int]
        let steps: [Step]
    }

    struct Fixture: Decodable {
        let gymnasium: String
        let trajectories: [Trajectory]
    }

    static let fixture: Fixture? = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/gymnasium-trajectories.json")
        guard let data = FileManager.default.contents(atPath: path.path) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(Fixture.self, from: data)
    }()

    static func trajectories(_ environment: String) -> [Trajectory] {
        (fixture?.trajectories ?? []).filter { $0.environment == environment }
    }

    /// Replays one trajectory; returns the largest observation difference.
    static func replay<E: Environment>(_ trajectory: Trajectory, in environment: E) -> Double {
        var environment = environment
        environment.reset(state: trajectory.initialState)
        var largest =
            zip(environment.observation, trajectory.initialObservation).map { abs(Double($0) - $1) }.max() ?? 0
        let label = "\(trajectory.environment) \(trajectory.policy) seed \(trajectory.seed)"
        for (index, (action, expected)) in zip(trajectory.actions, trajectory.steps).enumerated() {
            let outcome = environment.step(action)
            let difference =
                zip(outcome.observation, expected.observation).map { abs(Double($0) - $1) }.max() ?? .infinity
            largest = max(largest, difference)
            #expect(outcome.observation.count == expected.observation.count)
            #expect(
                difference <= 1e-6,
                "\(label), step \(index + 1): observation \(outcome.observation) against \(expected.observation)")
            #expect(outcome.reward == expected.reward, "\(label), step \(index + 1): reward")
            #expect(outcome.terminated == expected.terminated, "\(label), step \(index + 1): terminated")
            #expect(outcome.truncated == expected.truncated, "\(label), step \(index + 1): truncated")
            if difference > 1e-6 { break }
        }
        return largest
    }

    @Test func theFixtureIsThere() throws {
        let fixture = try #require(Self.fixture, "Fixtures/gymnasium-trajectories.json is missing or unreadable")
        #expect(Self.trajectories("CartPole-v1").count >= 6)
        #expect(Self.trajectories("Acrobot-v1").count >= 6)
        #expect(!fixture.gymnasium.isEmpty)
    }

    @Test func cartPoleFollowsGymnasium() {
        let trajectories = Self.trajectories("CartPole-v1")
        // Episodes that end by falling and episodes truncated at 500 steps.
        #expect(trajectories.contains { $0.steps.last?.terminated == true })
        #expect(trajectories.contains { $0.steps.count == CartPole.maximumSteps && $0.steps.last?.truncated == true })
        for trajectory in trajectories {
            _ = Self.replay(trajectory, in: CartPole())
        }
    }

    @Test func acrobotFollowsGymnasium() {
        let trajectories = Self.trajectories("Acrobot-v1")
        #expect(trajectories.contains { $0.steps.last?.terminated == true })
        #expect(trajectories.contains { $0.steps.count == Acrobot.maximumSteps && $0.steps.last?.truncated == true })
        for trajectory in trajectories {
            _ = Self.replay(trajectory, in: Acrobot())
        }
    }

    @Test func startStatesAreDrawnFromGymnasiumsRanges() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var cartPole = CartPole()
            cartPole.reset(using: &generator)
            #expect(cartPole.state.allSatisfy { (-0.05..<0.05).contains($0) } && cartPole.steps == 0)
            var acrobot = Acrobot()
            acrobot.reset(using: &generator)
            #expect(acrobot.state.allSatisfy { (-0.1...0.1).contains($0) && Double(Float($0)) == $0 })
        }
    }
}
