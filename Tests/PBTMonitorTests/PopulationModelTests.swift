import PBTCore
import PBTMonitor
import Testing

/// The fold of events into the population: states, workers, counters, lineage, restarts.
@Suite("Population model")
struct PopulationModelTests {
    typealias State = PopulationModel.MemberState

    /// The member states and busy workers after each prefix of the two-member story.
    static let states: [(prefix: Int, member0: State, member1: State, busy: [String: Int])] = [
        (1, .unknown, .unknown, [:]),
        (6, .training(worker: "t1"), .unknown, ["t1": 0]),
        (7, .training(worker: "t1"), .training(worker: "t2"), ["t1": 0, "t2": 1]),
        (8, .waiting, .training(worker: "t2"), ["t2": 1]),
        (10, .evaluating(worker: "e1"), .waiting, ["e1": 0]),
        (11, .waiting, .waiting, [:]),
        (13, .training(worker: "t1"), .waiting, ["t1": 0]),
        (17, .training(worker: "t1"), .exploring(worker: "m1"), ["t1": 0, "m1": 1]),
        (18, .training(worker: "t1"), .waiting, ["t1": 0]),
        (19, .training(worker: "t1"), .training(worker: "t2"), ["t1": 0, "t2": 1]),
        (21, .waiting, .waiting, [:]),
    ]

    @Test("member states and busy workers follow the events", arguments: states)
    func statesFollowEvents(prefix: Int, member0: State, member1: State, busy: [String: Int]) throws {
        let (model, _) = try E.fold(Array(E.twoMembers.prefix(prefix)))
        #expect(model.rows.map(\.state) == [member0, member1])
        var held: [String: Int] = [:]
        for worker in model.workers.values { if let member = worker.member { held[worker.name] = member } }
        #expect(held == busy)
    }

    /// A watcher attached mid-run missed the workers' `joined` events: the selector's counts in
    /// `experiment.progress` stand in for them while the experiment runs.
    @Test func evaluatorsAndMutatorsJoinedBeforeAWatcherAreCountedFromProgress() throws {
        let (late, _) = try E.fold([
            E.progress(105, steps: 8, best: 0, score: 1, evaluators: 2, mutators: 3)
        ])
        #expect(late.connectedCount(.evaluator) == 2)
        #expect(late.connectedCount(.mutator) == 3)
        // A selector that does not say: the workers the stream told of.
        let (older, _) = try E.fold([
            E.joined(101, "evaluator", "e1"), E.progress(105, steps: 8, best: 0, score: 1),
        ])
        #expect(older.connectedCount(.evaluator) == 1)
        #expect(older.connectedCount(.mutator) == 0)
    }

    /// An evaluator of reported metrics may be handed several members at once: it stays busy
    /// until it has handed in every one.
    @Test func anEvaluatorHandedTwoMembersIsBusyUntilBothAreScored() throws {
        let story = [
            E.started(0), E.joined(0.1, "trainer", "t1"), E.joined(0.1, "trainer", "t2"),
            E.joined(0.1, "evaluator", "e1"),
            E.assigned(0.2, 0, "trainer", "t1", step: 0), E.assigned(0.2, 1, "trainer", "t2", step: 0),
            E.trained(0.3, 0, from: 0, to: 4, h0: 1), E.trained(0.3, 1, from: 0, to: 4, h0: 1, trainer: "t2"),
            E.assigned(0.4, 0, "evaluator", "e1", step: 4), E.assigned(0.4, 1, "evaluator", "e1", step: 4),
        ]
        var (model, _) = try E.fold(story)
        #expect(model.workers["e1"]?.held == [0, 1])
        #expect(model.workerCount("evaluator") == (1, 1))
        (model, _) = try E.fold(story + [E.scored(0.5, 0, step: 4, score: 0.5)])
        #expect(model.workers["e1"]?.held == [1])
        #expect(model.workerCount("evaluator") == (1, 1))
        (model, _) = try E.fold(story + [E.scored(0.5, 0, step: 4, score: 0.5), E.scored(0.6, 1, step: 4, score: 0.6)])
        #expect(model.workers["e1"]?.held == [])
        #expect(model.workerCount("evaluator") == (1, 0))
    }

    @Test func countersStepsScoresAndTheLastExploit() throws {
        let (model, observations) = try E.fold(E.twoMembers)
        #expect(model.name == "toy")
        #expect(model.population == 2)
        #expect(model.counters.steps == 16)
        #expect(model.counters.exploits == 1)
        let member1 = try #require(model.members[1])
        #expect(member1.step == 8)
        #expect(member1.hyperparameters == ["h0": .number(1.2)])
        #expect(member1.exploits == 1)
        let exploit = try #require(member1.lastExploit)
        #expect(exploit.donor == 0)
        #expect(exploit.step == 4)
        #expect(exploit.copiedScore == 0.8)
        #expect(exploit.operations == ["h0": "×1.2"])
        #expect(model.workerCount("trainer") == (2, 0))
        // Turnaround: trained → next training, per member.
        let turnarounds = observations.compactMap {
            if case .turnaround(let member, let seconds) = $0 { (member, seconds) } else { nil }
        }
        #expect(turnarounds.count == 2)
        #expect(turnarounds[0].0 == 0 && abs(turnarounds[0].1 - 0.25) < 1e-9)
        #expect(turnarounds[1].0 == 1 && abs(turnarounds[1].1 - 0.6) < 1e-9)
        #expect(model.membersByState["waiting"] == 2)
        #expect(model.membersByState["training"] == 0)
    }

    @Test func theLineageOfAMemberThatExploitedStartsWithTheDonor() throws {
        let (model, _) = try E.fold(E.twoMembers)
        #expect(
            model.schedule(of: 1) == [
                ScheduleSegment(fromStep: 0, toStep: 4, trainedBy: 0, hyperparameters: ["h0": .integer(1)]),
                ScheduleSegment(fromStep: 4, toStep: 8, trainedBy: 1, hyperparameters: ["h0": .number(1.2)]),
            ])
        #expect(
            model.lineage(of: 1) == [
                LineageSpan(member: 0, fromStep: 0, toStep: 4), LineageSpan(member: 1, fromStep: 4, toStep: 8),
            ])
        // Member 0 trained with the same values throughout: one range.
        #expect(
            model.schedule(of: 0) == [
                ScheduleSegment(fromStep: 0, toStep: 8, trainedBy: 0, hyperparameters: ["h0": .integer(1)])
            ])
        #expect(model.lineageScores(of: 1).map(\.score) == [0.8])
    }

    /// A member that copies a donor at an earlier step (where it last had company) gets the
    /// donor's history at that step, not the donor's latest.
    @Test func aCopyAtAnEarlierStepTakesTheDonorsHistoryThere() throws {
        let lines = [
            E.started(0),
            E.trained(1, 0, from: 0, to: 4, h0: 1), E.scored(1.1, 0, step: 4, score: 0.9),
            E.trained(2, 0, from: 4, to: 8, h0: 1.1), E.scored(2.1, 0, step: 8, score: 1.0),
            E.trained(3, 1, from: 0, to: 4, h0: 0.2), E.scored(3.1, 1, step: 4, score: 0.1),
            E.trained(4, 1, from: 4, to: 8, h0: 0.2), E.scored(4.1, 1, step: 8, score: 0.2),
            E.decided(4.2, 1, step: 8, comparedAt: 4, donor: 0),
            E.exploited(4.3, 1, donor: 0, step: 4, checkpoint: "unknown-checkpoint", old: 0.2, copied: 1, new: 0.8),
            E.trained(5, 1, from: 4, to: 8, h0: 0.8),
        ]
        let (model, _) = try E.fold(lines)
        #expect(
            model.lineage(of: 1) == [
                LineageSpan(member: 0, fromStep: 0, toStep: 4), LineageSpan(member: 1, fromStep: 4, toStep: 8),
            ])
        #expect(model.members[1]?.lastExploit?.copiedScore == 0.9)
        #expect(model.scoreSeries[1]?.map(\.score) == [0.1, 0.2, 0.9])
        #expect(model.scoreSeries[1]?.last?.donor == 0)
    }

    /// Two members whose checkpoints are byte-identical share one name (a workload whose
    /// state does not depend on its hyperparameters): the copy is the donor's history, not the
    /// history of whoever last wrote that name.
    @Test func aCopyOfACheckpointTwoMembersShareIsTheDonors() throws {
        let lines = [
            E.started(0),
            E.trained(1, 0, from: 0, to: 4, h0: 1, checkpoint: "same"), E.scored(1.1, 0, step: 4, score: 0.9),
            E.trained(2, 1, from: 0, to: 4, h0: 0.2, checkpoint: "same"), E.scored(2.1, 1, step: 4, score: 0.1),
            E.decided(2.2, 1, step: 4, comparedAt: 4, donor: 0),
            E.exploited(2.3, 1, donor: 0, step: 4, checkpoint: "same", old: 0.2, copied: 1, new: 0.8),
            E.trained(3, 1, from: 4, to: 8, h0: 0.8, checkpoint: "same"),
        ]
        let (model, _) = try E.fold(lines)
        #expect(
            model.lineage(of: 1) == [
                LineageSpan(member: 0, fromStep: 0, toStep: 4), LineageSpan(member: 1, fromStep: 4, toStep: 8),
            ])
        #expect(model.members[1]?.lastExploit?.copiedScore == 0.9)
    }

    /// A donor that copied another member at the same step, just before it was copied itself:
    /// the copy is the donor's weights when the decision compared them (its own), as the
    /// selector's summary has it, even when every checkpoint has one name.
    @Test func aCopyOfADonorThatCopiedAtTheSameStepIsTheDonorsOwn() throws {
        let lines = [
            E.started(0, population: 3),
            E.trained(1, 0, from: 0, to: 4, h0: 1, checkpoint: "same"), E.scored(1.1, 0, step: 4, score: 0.9),
            E.trained(2, 1, from: 0, to: 4, h0: 0.5, checkpoint: "same"), E.scored(2.1, 1, step: 4, score: 0.5),
            E.trained(3, 2, from: 0, to: 4, h0: 0.2, checkpoint: "same"), E.scored(3.1, 2, step: 4, score: 0.1),
            E.decided(3.2, 1, step: 4, comparedAt: 4, donor: 0),
            E.decided(3.3, 2, step: 4, comparedAt: 4, donor: 1),
            E.exploited(3.4, 1, donor: 0, step: 4, checkpoint: "same", old: 0.5, copied: 1, new: 1.2),
            E.exploited(3.5, 2, donor: 1, step: 4, checkpoint: "same", old: 0.2, copied: 0.5, new: 0.6),
            E.trained(4, 2, from: 4, to: 8, h0: 0.6, checkpoint: "same"),
        ]
        let (model, _) = try E.fold(lines)
        #expect(
            model.lineage(of: 2) == [
                LineageSpan(member: 1, fromStep: 0, toStep: 4), LineageSpan(member: 2, fromStep: 4, toStep: 8),
            ])
    }

    @Test func withoutLineageOnlyTheLatestRangeIsKeptButCopiesStillKnowTheirScore() throws {
        let (model, _) = try E.fold(E.twoMembers, options: .init(trackLineage: false))
        #expect(model.history(of: 1).count == 1)
        #expect(model.history(of: 0).count == 1)
        #expect(model.members[1]?.lastExploit?.copiedScore == 0.8)
    }

    @Test func aModelAttachedMidRunLearnsThePopulationFromProgress() throws {
        let (model, _) = try E.fold([
            E.progress(200, steps: 400, best: 1, score: 0.75, population: 3),
            E.scored(200.1, 2, step: 40, score: 0.5),
        ])
        #expect(model.name == "toy")
        #expect(model.rows.map(\.state.name) == ["unknown", "unknown", "waiting"])
        #expect(model.best?.member == 1)
        #expect(model.best?.score == 0.75)
        #expect(model.history(of: 2).isEmpty)
    }

    @Test func aNewExperimentStartsAfresh() throws {
        var lines = E.twoMembers
        lines.append(E.finished(102, best: 0, score: 0.8))
        let (before, _) = try E.fold(lines)
        #expect(before.finish?.reason == "max_steps")
        lines.append(E.started(200, name: "second", population: 3))
        let (model, observations) = try E.fold(lines)
        #expect(model.name == "second")
        #expect(model.finish == nil)
        #expect(model.rows.count == 3)
        #expect(model.rows.allSatisfy { $0.state == .unknown })
        #expect(model.counters.steps == 0)
        #expect(model.restarts == 1)
        #expect(model.eventsSeen == lines.count)
        #expect(observations.last == .restarted(name: "second"))
    }

    /// A new selector's first events can be lost on the stream (its connection is not up yet):
    /// its progress, naming another experiment or another start, starts the model afresh.
    @Test(arguments: [("second", 210.0), ("toy", 180.0)])
    func aNewExperimentWhoseStartWasLostIsNoticedByItsProgress(name: String, time: Double) throws {
        var lines = E.twoMembers
        lines.append(E.finished(102, best: 0, score: 0.8))
        lines.append(E.scored(time - 1, 0, step: 4, score: 0.1))
        lines.append(E.progress(time, name: name, seconds: 2, steps: 4, best: 0, score: 0.1, population: 3))
        let (model, observations) = try E.fold(lines)
        #expect(model.name == name)
        #expect(model.restarts == 1)
        #expect(model.finish == nil)
        #expect(model.rows.count == 3)
        #expect(model.counters.steps == 0)
        #expect(observations.last == .restarted(name: name))
    }

    @Test func progressOfTheSameExperimentIsNoRestart() throws {
        var lines = E.twoMembers
        lines.append(E.progress(101.8, steps: 16, best: 0, score: 0.8))  // started at 100, 1.8 s ago
        lines.append(E.line("experiment.resumed", 150, #""steps":16,"members_done":0,"leased":0"#))
        lines.append(E.progress(151, seconds: 1, steps: 16, best: 0, score: 0.8))  // a resumed selector counts afresh
        let (model, _) = try E.fold(lines)
        #expect(model.restarts == 0)
        #expect(model.resumes == 1)
        #expect(model.counters.steps == 16)
    }

    /// Totals are the selector's progress figures plus what happened since, so that a watcher
    /// that attached late shows the experiment's totals, and the finish's steps at the end.
    @Test func totalsAreTheSelectorsProgressPlusWhatFollowed() throws {
        let lines = [
            E.progress(200, seconds: 100, steps: 400, best: 0, score: 0.5),  // attached mid-run: 1 exploit so far
            E.trained(200.1, 0, from: 40, to: 44, h0: 1),
            E.decided(200.2, 1, step: 44, comparedAt: 44, donor: 0),
            E.decided(200.3, 0, step: 44, comparedAt: 44, donor: nil),
        ]
        let (model, _) = try E.fold(lines)
        #expect(model.totalSteps == 404)
        #expect(model.totalExploits == 2)
        #expect(model.counters.steps == 4)
        let (ended, _) = try E.fold(lines + [E.finished(201, best: 0, score: 0.9)])
        #expect(ended.totalSteps == 16)
        #expect(ended.totalExploits == 2)
        let (reset, _) = try E.fold(lines + [E.progress(201, seconds: 101, steps: 404, best: 0, score: 0.5)])
        #expect(reset.totalSteps == 404 && reset.totalExploits == 1)
    }

    @Test func dropsExpiriesAndFailuresAreCounted() throws {
        let (model, _) = try E.fold([
            E.started(0),
            E.assigned(1, 0, "trainer", "t1", step: 0),
            E.line("lease.expired", 2, #""member":0,"version":1,"role":"trainer","worker":"t1""#),
            E.line("frame.dropped", 3, #""stage":"selector","worker":"selector","reason":"bad_magic","total":1"#),
            E.line("frame.dropped", 3, #""stage":"selector","worker":"selector","reason":"bad_magic","total":2"#),
            E.line("frame.dropped", 3, #""stage":"events","worker":"events","reason":"not_json","total":1"#),
            E.dropped(4, reason: "stale_version", count: 1, total: 1, worker: "t1"),
            E.failed(5, 1, worker: "", reason: "lease expired: no word from the evaluator for 30 s", givenUp: true),
        ])
        #expect(model.counters.leaseExpiries == 1)
        #expect(model.counters.framesDropped == ["bad_magic": 2, "not_json": 1])
        #expect(model.counters.resultsDropped == 1)
        #expect(model.counters.resultsDroppedByReason == ["stale_version": 1])
        #expect(model.counters.failures == 1)
        #expect(model.counters.givenUp == 1)
        #expect(model.rows.map(\.state) == [.waiting, .failed])
        #expect(model.workers["t1"]?.member == nil)
    }

    /// `result.dropped` is rate-limited at the selector (the first ten of a reason, then one a
    /// second) and carries the reason's running count: the model counts every drop, not every
    /// event, and starts the counts again when the selector restarts.
    @Test func droppedResultsFollowTheSelectorsRunningCounts() throws {
        var lines = [E.started(0)]
        for count in 1...10 { lines.append(E.dropped(1, reason: "stale_version", count: count, total: count)) }
        lines.append(E.dropped(2, reason: "not_leased", count: 1, total: 11))
        lines.append(E.dropped(3, reason: "stale_version", count: 40, total: 41))  // 30 untold in between
        lines.append(E.dropped(3, reason: "stale_version", count: 40, total: 41))  // the same event again: nothing new
        var (model, observations) = try E.fold(lines)
        #expect(model.counters.resultsDropped == 41)
        #expect(model.counters.resultsDroppedByReason == ["stale_version": 40, "not_leased": 1])
        var told = observations.compactMap {
            if case .resultsDropped(let reason, let count) = $0 { (reason, count) } else { nil }
        }
        #expect(told.count == 12)
        #expect(told.map(\.1).reduce(0, +) == 41)
        #expect(told.last?.0 == "stale_version" && told.last?.1 == 30)

        // A restarted selector counts from 1 again; an older selector's event has no count.
        lines.append(E.line("experiment.resumed", 10, #""steps":16,"members_done":0,"leased":1"#))
        lines.append(E.dropped(11, reason: "stale_version", count: 1, total: 1))
        lines.append(E.dropped(12, reason: "stale_version", count: 2, total: 2))
        lines.append(E.line("result.dropped", 13, #""member":9,"version":1,"worker":"t1","reason":"unknown member""#))
        (model, observations) = try E.fold(lines)
        #expect(model.counters.resultsDropped == 44)
        #expect(model.counters.resultsDroppedByReason == ["stale_version": 42, "not_leased": 1, "unknown member": 1])
        told = observations.compactMap {
            if case .resultsDropped(let reason, let count) = $0 { (reason, count) } else { nil }
        }
        #expect(told.map(\.1).reduce(0, +) == 44)
    }

    /// A count that goes down without a resume event (the selector restarted, and its
    /// `experiment.resumed` was lost on the stream) starts the reason's count again.
    @Test func aDropCountThatGoesDownStartsAgain() throws {
        let (model, _) = try E.fold([
            E.started(0),
            E.dropped(1, reason: "not_leased", count: 5, total: 5),
            E.dropped(2, reason: "not_leased", count: 2, total: 2),
            E.dropped(3, reason: "not_leased", count: 3, total: 3),
        ])
        #expect(model.counters.resultsDropped == 8)
    }

    /// `member.failed` names the worker that reported the failure: an evaluator that could not
    /// score a member the monitor still shows at its trainer.
    @Test func aFailureFreesTheHolderAndCountsForTheWorkerThatReportedIt() throws {
        let failure = try #require(E.pipeline.firstIndex { $0.contains("\"member.failed\"") })
        let (before, _) = try E.fold(Array(E.pipeline.prefix(failure)))
        #expect(before.members[0]?.state == .training(worker: "t1"))
        #expect(before.workers["t1"]?.member == 0)
        let (model, _) = try E.fold(Array(E.pipeline.prefix(failure + 1)))
        #expect(model.members[0]?.state == .waiting)
        #expect(model.members[0]?.failures == 1)
        #expect(model.workers["t1"]?.member == nil)
        #expect(model.workers["e1"]?.failures == 1)
        #expect(model.workers["t1"]?.failures == 0)
        #expect(model.counters.failures == 1)
        #expect(model.counters.givenUp == 0)
        // A worker the model does not know (it attached late) is no trouble.
        let (late, _) = try E.fold([E.failed(1, 3, worker: "e9", givenUp: true)])
        #expect(late.members[3]?.state == .failed)
        #expect(late.workers["e9"] == nil)
    }

    @Test func aBenchedWorkerIsBenchedUntilItsTimeIsUp() throws {
        let lines = [
            E.started(0), E.joined(0.1, "trainer", "t1"),
            E.benched(5, "trainer", "t1", seconds: 30), E.benched(6, "evaluator", "e9", seconds: 60),
        ]
        var (model, _) = try E.fold(lines)
        #expect(model.counters.benchings == 2)
        let t1 = try #require(model.workers["t1"])
        #expect(t1.role == "trainer")
        #expect(t1.benchedUntil == 35)
        #expect(t1.isBenched(at: 34.9))
        #expect(!t1.isBenched(at: 35))
        #expect(model.workers["e9"]?.role == "evaluator")
        #expect(model.workers["e9"]?.isBenched(at: 65) == true)
        #expect(model.workerCount("evaluator") == (1, 0))
        // A worker that joins again starts afresh.
        (model, _) = try E.fold(lines + [E.joined(10, "trainer", "t1")])
        #expect(model.workers["t1"]?.benchedUntil == nil)
    }

    /// The member states and busy workers after each prefix of the version-2 story.
    static let pipelineStates: [(prefix: Int, member0: State, member1: State, busy: [String: Int])] = [
        (7, .training(worker: "t1"), .training(worker: "t2"), ["t1": 0, "t2": 1]),
        (10, .waiting, .training(worker: "t2"), ["t2": 1]),
        (11, .training(worker: "t1"), .training(worker: "t2"), ["t1": 0, "t2": 1]),
        (15, .training(worker: "t1"), .waiting, ["t1": 0]),
        (16, .training(worker: "t1"), .training(worker: "t2"), ["t1": 0, "t2": 1]),
        (17, .waiting, .training(worker: "t2"), ["t2": 1]),
        (20, .waiting, .waiting, [:]),
        (21, .training(worker: "t2"), .waiting, ["t2": 0]),
        (23, .waiting, .waiting, [:]),
    ]

    @Test("member states follow the version-2 pipeline's events", arguments: pipelineStates)
    func statesFollowThePipeline(prefix: Int, member0: State, member1: State, busy: [String: Int]) throws {
        let (model, _) = try E.fold(Array(E.pipeline.prefix(prefix)))
        #expect(model.rows.map(\.state) == [member0, member1])
        var held: [String: Int] = [:]
        for worker in model.workers.values { if let member = worker.member { held[worker.name] = member } }
        #expect(held == busy)
    }

    @Test func thePipelinesCountersLineageAndTurnarounds() throws {
        #expect(E.pipeline.count == 23)
        let (model, observations) = try E.fold(E.pipeline)
        #expect(model.counters.steps == 16)
        #expect(model.counters.exploits == 1)
        #expect(model.counters.failures == 1)
        let member1 = try #require(model.members[1])
        #expect(member1.step == 8)
        #expect(member1.score == 0.9)
        #expect(member1.lastExploit?.donor == 0)
        #expect(member1.lastExploit?.copiedScore == 0.8)
        #expect(model.members[0]?.score == 0.85)
        #expect(
            model.lineage(of: 1) == [
                LineageSpan(member: 0, fromStep: 0, toStep: 4), LineageSpan(member: 1, fromStep: 4, toStep: 8),
            ])
        #expect(model.lineageScores(of: 1).map(\.score) == [0.8, 0.9])
        // Scored → trained again: member 0 at 100.5 → 100.55, member 1 at 100.6 → 100.75 (the
        // failed range has no turnaround: nothing was handed in).
        let turnarounds = observations.compactMap {
            if case .turnaround(let member, let seconds) = $0 { (member, seconds) } else { nil }
        }
        #expect(turnarounds.map(\.0) == [0, 1])
        #expect(abs(turnarounds[0].1 - 0.05) < 1e-9)
        #expect(abs(turnarounds[1].1 - 0.15) < 1e-9)
        #expect(model.workerCount("trainer") == (2, 0))
    }

    /// Snapshots below every live member's step are forgotten at each progress event; a copy
    /// decided before still finds its donor's history.
    @Test func forgettingPassedStepsKeepsPendingCopies() throws {
        let lines = [
            E.started(0),
            E.trained(1, 0, from: 0, to: 4, h0: 1), E.scored(1.1, 0, step: 4, score: 0.9),
            E.trained(2, 1, from: 0, to: 4, h0: 0.2), E.scored(2.1, 1, step: 4, score: 0.1),
            E.decided(2.2, 1, step: 4, comparedAt: 4, donor: 0),
            E.trained(3, 0, from: 4, to: 8, h0: 1), E.scored(3.1, 0, step: 8, score: 1.0),
            E.progress(3.5, seconds: 3.5, steps: 12, best: 0, score: 1.0),
            E.exploited(4, 1, donor: 0, step: 4, checkpoint: "gone", old: 0.2, copied: 1, new: 1.1),
        ]
        let (model, _) = try E.fold(lines)
        #expect(model.lineage(of: 1) == [LineageSpan(member: 0, fromStep: 0, toStep: 4)])
    }
}

/// The states the monitor infers where no event says them: a member its trainer handed on (the
/// trainer took its next member) is at an evaluator; one that decided to exploit is at a mutator.
@Suite("Population model: inferred states")
struct InferredStateTests {
    @Test func aHandedOnMemberIsEvaluatingAndAnExploitingOneExploring() throws {
        let events = [
            E.started(0), E.joined(0, "trainer", "t1"),
            E.assigned(1, 0, "trainer", "t1", step: 0),
            E.assigned(2, 1, "trainer", "t1", step: 0),  // t1 handed member 0 on and took member 1
        ]
        let (handedOn, _) = try E.fold(events)
        #expect(handedOn.rows.map(\.state) == [.evaluating(worker: ""), .training(worker: "t1")])
        let (exploiting, _) = try E.fold(
            events + [
                E.trained(3, 0, from: 0, to: 4, h0: 0.5), E.scored(3, 0, step: 4, score: 0.1),
                E.decided(3, 0, step: 4, comparedAt: 4, donor: 1),
            ])
        #expect(exploiting.rows.first?.state == .exploring(worker: ""))
    }
}
