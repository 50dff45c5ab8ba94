import Testing

@testable import PBTCore

/// Lineage segments and the best member's schedule and lineage built from them.
@Suite("Lineage")
struct LineageTests {
    static let h = Hyperparameters(["lr": .real(0.1)])
    static let h2 = Hyperparameters(["lr": .real(0.12)])

    @Test func extendingWithTheSameMemberAndHyperparametersGrowsTheSegment() {
        let first = LineageSegment(id: 1, member: 0, fromStep: 0, toStep: 4, hyperparameters: Self.h, previous: nil)
        let grown = first.extended(by: 0, to: 8, with: Self.h, id: 2)
        #expect(grown.fromStep == 0)
        #expect(grown.toStep == 8)
        #expect(grown.previous == nil)
        #expect(grown.chronological.count == 1)
        // The original is untouched: a donor's snapshot never changes under it.
        #expect(first.toStep == 4)
    }

    /// A history's lineage is the member its first segment trained, however many copies later.
    @Test func theRootIsTheMemberWhoseInitialWeightsStartedTheHistory() {
        let first = LineageSegment(id: 1, member: 3, fromStep: 0, toStep: 4, hyperparameters: Self.h, previous: nil)
        #expect(first.root == 3)
        let copied = first.extended(by: 5, to: 8, with: Self.h2, id: 2).extended(by: 1, to: 12, with: Self.h, id: 3)
        #expect(copied.chronological.map(\.member) == [3, 5, 1])
        #expect(copied.root == 3)
    }

    @Test(arguments: [(1, h), (0, h2)])
    func anotherMemberOrHyperparametersStartsASegment(member: Int, hyperparameters: Hyperparameters) {
        let first = LineageSegment(id: 1, member: 0, fromStep: 0, toStep: 4, hyperparameters: Self.h, previous: nil)
        let next = first.extended(by: member, to: 8, with: hyperparameters, id: 3)
        #expect(next.fromStep == 4)
        #expect(next.toStep == 8)
        #expect(next.previous === first)
        #expect(next.chronological.map(\.member) == [0, member])
        #expect(next.chronological.map(\.toStep) == [4, 8])
    }

    @Test func bestMergesConsecutiveSegmentsOfOneMemberInTheLineage() {
        // m1 trains 0–4 with h, 4–8 with h2; m0 copies it at 8 and trains 8–12 with h.
        let history = LineageSegment(id: 1, member: 1, fromStep: 0, toStep: 4, hyperparameters: Self.h, previous: nil)
            .extended(by: 1, to: 8, with: Self.h2, id: 4)
            .extended(by: 0, to: 12, with: Self.h, id: 5)
        let best = ExperimentSummary.Best(
            member: 0, score: 1.1, step: 12, history: history, hyperparameters: Self.h2, metrics: ["score": 1.1])
        #expect(best.schedule.map(\.fromStep) == [0, 4, 8])
        #expect(best.schedule.map(\.toStep) == [4, 8, 12])
        #expect(best.schedule.map(\.member) == [1, 1, 0])
        #expect(best.schedule.map(\.hyperparameters) == [Self.h, Self.h2, Self.h])
        #expect(best.lineage == [.init(member: 1, fromStep: 0, toStep: 8), .init(member: 0, fromStep: 8, toStep: 12)])
        #expect(best.hyperparameters == Self.h, "the hyperparameters of the last segment")
        #expect(best.metrics == ["score": 1.1])
    }

    @Test func bestWithoutHistoryHasNoScheduleAndItsOwnHyperparameters() {
        let best = ExperimentSummary.Best(
            member: 2, score: 0.3, step: 0, history: nil, hyperparameters: Self.h2, metrics: [:])
        #expect(best.schedule.isEmpty)
        #expect(best.lineage.isEmpty)
        #expect(best.hyperparameters == Self.h2)
    }
}

/// Event topics, worker roles and worker ids as they appear on the stream.
@Suite("PBTEvent")
struct PBTEventTests {
    static let trained = PBTEvent.MemberTrained(
        member: 0, version: 1, trainer: "t", fromStep: 0, step: 4, seconds: 1, checkpoint: "c",
        hyperparameters: Hyperparameters(), metrics: [:], interrupted: false)
    static let exploited = PBTEvent.MemberExploited(
        member: 0, donor: 1, step: 4, checkpoint: "c", old: Hyperparameters(), copied: Hyperparameters(),
        new: Hyperparameters(), changes: [:])
    static let progress = PBTEvent.Progress(
        seconds: 1, steps: 2, stepsPerSecond: 2, bestMember: nil, bestScore: nil, trainers: 1, busyTrainers: 0,
        membersFinished: 0, population: 2, exploits: 0)

    @Test(arguments: [
        (PBTEvent.experimentStarted(name: "x", population: 2, hyperparameters: []), "experiment.started"),
        (.workerJoined(role: .trainer, worker: "w"), "trainer.joined"),
        (.workerJoined(role: .evaluator, worker: "w"), "evaluator.joined"),
        (.workerLeft(role: .mutator, worker: "w", reason: "bye"), "mutator.left"),
        (.memberAssigned(member: 0, version: 1, role: .trainer, worker: "w", step: 0), "member.assigned"),
        (.memberTrained(trained), "member.trained"),
        (.memberScored(member: 0, version: 1, step: 4, score: 1, evaluator: "e"), "member.scored"),
        (.memberDecided(member: 0, step: 4, comparedAt: 4, decision: .keep, cohort: 2, rank: 0), "member.decided"),
        (.memberExploited(exploited), "member.exploited"),
        (.memberFinished(member: 0, step: 4, score: nil), "member.finished"),
        (.memberFailed(member: 0, version: 1, worker: "w", reason: "r", givenUp: false), "member.failed"),
        (.leaseExpired(member: 0, version: 1, role: .trainer, worker: "w"), "lease.expired"),
        (
            .resultDropped(
                member: 0, version: 1, worker: "w", reason: "stale_version", detail: "d", count: 1, total: 1),
            "result.dropped"
        ),
        (.workerBenched(role: .trainer, worker: "w", failures: 3, seconds: 30), "trainer.benched"),
        (.workerBenched(role: .evaluator, worker: "w", failures: 3, seconds: 30), "evaluator.benched"),
        (.progress(progress), "experiment.progress"),
        (.experimentFinished(reason: .maxSteps, best: nil, score: nil, steps: 0, seconds: 0), "experiment.finished"),
        (.stageStarted(stage: "selector", worker: "s", pid: 1), "stage.started"),
        (.stageStopped(stage: "selector", worker: "s", reason: "r"), "stage.stopped"),
        (.frameDropped(stage: "selector", worker: "s", reason: "r", total: 1), "frame.dropped"),
        (.peerRefused(stage: "events", address: "", key: "", reason: "not_curve", total: 1), "peer.refused"),
    ])
    func topic(event: PBTEvent, expected: String) {
        #expect(event.topic.rawValue == expected)
    }

    @Test func rolesAndReasonsHaveStableNames() {
        #expect(WorkerRole.allCases.map(\.description) == ["trainer", "evaluator", "mutator"])
        #expect(WorkerRole.allCases.map(\.rawValue) == [1, 2, 3])
        #expect(FinishReason.maxSteps.rawValue == "max_steps")
        #expect(FinishReason.target.rawValue == "target_score")
        #expect(FinishReason.timeBudget.rawValue == "time_budget")
    }

    @Test(arguments: [([UInt8](), "worker-"), ([1], "worker-01"), ([0xab, 0x00, 0x10], "worker-ab0010")])
    func workerIDDescription(bytes: [UInt8], expected: String) {
        #expect(WorkerID(bytes).description == expected)
    }
}
