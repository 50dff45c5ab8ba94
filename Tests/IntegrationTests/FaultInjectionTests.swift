import Foundation
import PBTCore
import PBTSystem
import Testing

/// invariant 3 under SIGKILL: whatever process dies, no member is lost, none is
/// applied twice, and the experiment finishes. Each case kills at a moment drawn from its
/// seed (after so many trained steps), then starts a replacement.
@Suite("fault injection", .serialized)
struct FaultInjectionTests {
    enum Fault: String, CaseIterable, CustomTestStringConvertible {
        case trainerMidStep = "a trainer mid-step"
        case evaluator = "the evaluator"
        case mutator = "the mutator"
        case selector = "the selector, then restart it"
        case everyTrainer = "every trainer, then start new ones"

        var testDescription: String { rawValue }
    }

    static let population = 6
    static let maxSteps = 20
    static let experiment = """
        name: faults
        seed: 5
        workload: {kind: noop, step_seconds: 0.01}
        population: \(population)
        interval: 2
        stop: {max_steps: \(maxSteps)}
        exploit: {strategy: truncation, fraction: 0.34}
        explore: {strategy: perturb, resample_probability: 0.2}
        hyperparameters:
          x: {uniform: [0, 1]}
          n: {int: [1, 10]}
        leases: {timeout: 2s, silence: 1s}
        """

    /// Ten seeds a fault: fifty runs, each a few seconds.
    static let cases: [(Fault, UInt64)] = Fault.allCases.flatMap { fault in (1...10).map { (fault, UInt64($0)) } }

    @Test("SIGKILL loses no member and applies no result twice", .timeLimit(.minutes(3)), arguments: cases)
    func killAndRecover(fault: Fault, seed: UInt64) throws {
        var random = SplitMix64(seed: SplitMix64.derive(seed, UInt64(fault.rawValue.count)))
        // No event stream: the checks read the selector's events.jsonl, and a proxy a run is
        // one process more for fifty runs.
        let pipeline = try PipelineHarness(experiment: Self.experiment, stream: false)
        try pipeline.startSelector(minTrainers: 2)
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        try pipeline.start("trainer", "trainer-2")

        // The moment: after this many trained tasks (of 60 in the whole run).
        let trainedBeforeKill = Int.random(in: 5...30, using: &random)
        var heldByTheKilled: TimedEvent?
        let reached = pipeline.waitForEvents(within: 60) { events in
            events.filter { $0.topic == .memberTrained }.count >= trainedBeforeKill
        }
        #expect(reached, "the run never got to \(trainedBeforeKill) trained tasks\n\(pipeline.log("selector"))")

        switch fault {
        case .trainerMidStep:
            // Wait for trainer-1 to hold a task it has not returned yet, then kill it.
            let holding = pipeline.waitForEvents(within: 30) { events in
                guard
                    let assigned = events.last(where: {
                        $0.topic == .memberAssigned && $0.worker == "trainer-1"
                    })
                else { return false }
                // (The score of the member it trained before may come after this assignment.)
                return !events.contains {
                    $0.topic == .memberTrained && $0.member == assigned.member && $0.version == assigned.version
                }
            }
            #expect(holding, "trainer-1 never held a task long enough to be killed mid-step")
            pipeline.kill("trainer-1")
            heldByTheKilled = pipeline.events().last {
                $0.topic == .memberAssigned && $0.worker == "trainer-1"
            }
            try pipeline.start("trainer", "trainer-3")
        case .evaluator:
            pipeline.kill("evaluator-1")
            try pipeline.start("evaluator", "evaluator-2")
        case .mutator:
            pipeline.kill("mutator-1")
            try pipeline.start("mutator", "mutator-2")
        case .selector:
            pipeline.killSelector()
            try pipeline.startSelector()
        case .everyTrainer:
            pipeline.kill("trainer-1")
            pipeline.kill("trainer-2")
            try pipeline.start("trainer", "trainer-3")
            try pipeline.start("trainer", "trainer-4")
        }

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        let members = try #require(summary["members"] as? [[String: Any]])
        #expect(members.count == Self.population)
        #expect(members.allSatisfy { $0["failed"] as? Bool == false && $0["step"] as? Int == Self.maxSteps })
        let events = pipeline.events()
        let finished = try checkMemberHistories(events, population: Self.population, maxSteps: Self.maxSteps)
        #expect(finished == Self.population)
        if fault == .selector {
            #expect(events.contains { $0.topic == .experimentResumed })
        }
        if fault == .trainerMidStep, let held = heldByTheKilled, let member = held.member, let version = held.version {
            // The member the killed trainer held went out again, unless the trainer had handed it
            // on to the evaluator just before the kill (then its score arrived as usual).
            let same: (TimedEvent) -> Bool = { $0.member == member && $0.version == version }
            let handedOn = events.contains { $0.topic == .memberTrained && same($0) }
            let reissued = events.contains {
                [.leaseExpired, .leaseReleased].contains($0.topic) && same($0)
                    && $0.worker == "trainer-1"
            }
            #expect(handedOn != reissued, "member \(member) v\(version): handed on \(handedOn), re-issued \(reissued)")
        }
        // The workers still alive end on their own when told the experiment is over.
        for (name, worker) in pipeline.workers where worker.child.poll()?.signal != SIGKILL {
            let end = try #require(worker.finish(within: 30), "\(name) did not exit:\n\(pipeline.log(name))")
            #expect(end.succeeded, "\(name): \(end)")
        }
    }

    /// `max_lead: 0` through the real pipeline, with a trainer killed while it holds a member:
    /// the others wait, undecided, until that member's lease is released and it catches up;
    /// every decision is made at the member's own step, among the whole population.
    @Test(
        "under max_lead 0 a SIGKILLed trainer's member is waited for, and every decision is made in the full cohort",
        .timeLimit(.minutes(2)))
    func leadBoundSurvivesAKill() throws {
        let experiment = Self.experiment.replacingOccurrences(of: "interval: 2\n", with: "interval: 2\nmax_lead: 0\n")
        #expect(experiment.contains("max_lead: 0"))
        let pipeline = try PipelineHarness(experiment: experiment, stream: false)
        try pipeline.startSelector(minTrainers: 2)
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        try pipeline.start("trainer", "trainer-2")
        let holding = pipeline.waitForEvents(within: 60) { events in
            guard events.filter({ $0.topic == .memberTrained }).count >= 12,
                let assigned = events.last(where: { $0.topic == .memberAssigned && $0.worker == "trainer-1" })
            else { return false }
            return !events.contains {
                $0.topic == .memberTrained && $0.member == assigned.member && $0.version == assigned.version
            }
        }
        #expect(holding, "trainer-1 never held a task to be killed with\n\(pipeline.log("selector"))")
        pipeline.kill("trainer-1")
        let held = pipeline.events().last { $0.topic == .memberAssigned && $0.worker == "trainer-1" }
        try pipeline.start("trainer", "trainer-3")

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        let events = pipeline.events()
        #expect(
            try checkMemberHistories(events, population: Self.population, maxSteps: Self.maxSteps) == Self.population)
        var decisions = 0
        for timed in events {
            guard case .memberDecided(let member, let step, let comparedAt, _, let cohort, _) = timed.event else {
                continue
            }
            decisions += 1
            #expect(comparedAt == step && cohort == Self.population, "member \(member) at \(step): \(timed.event)")
        }
        #expect(decisions >= Self.population * (Self.maxSteps / 2 - 1))
        // The member the killed trainer held went out again, unless it was handed on just before.
        if let held, let member = held.member, let version = held.version {
            let same: (TimedEvent) -> Bool = { $0.member == member && $0.version == version }
            let handedOn = events.contains { $0.topic == .memberTrained && same($0) }
            let reissued = events.contains {
                [.leaseExpired, .leaseReleased].contains($0.topic) && same($0) && $0.worker == "trainer-1"
            }
            #expect(handedOn != reissued, "member \(member) v\(version): handed on \(handedOn), re-issued \(reissued)")
        }
    }
}
