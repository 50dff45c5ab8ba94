import Foundation
import GRDB
import PBTStore
import Testing

@testable import PBTCore

/// The selector's durable state: member rows in every phase, the changes a batch commits,
/// counters and the finish reason, scores, events, and stores of another schema refused.
@Suite("SelectorDatabase")
struct SelectorDatabaseTests {
    /// A checkpoint reference (64 hex digits) numbered `n`.
    static func reference(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 64 - hex.count) + hex
    }

    static let hyperparameters = Hyperparameters([
        "lr": .real(0.1 + 0.2), "tiny": .real(.leastNonzeroMagnitude), "huge": .real(.infinity),
        "big": .integer(Int.max),
        "small": .integer(Int.min), "opt": .text("adam \"w\"\\\n ü 🙂"),
    ])
    static let copied = Hyperparameters(["lr": .real(0.01), "opt": .text("sgd")])

    /// A history of two segments (member 0 trained 0–4, member 2 went on 4–8).
    static let firstSegment = LineageSegment(
        id: 1, member: 0, fromStep: 0, toStep: 4, hyperparameters: copied, previous: nil)
    static let secondSegment = LineageSegment(
        id: 2, member: 2, fromStep: 4, toStep: 8, hyperparameters: hyperparameters, previous: firstSegment)

    /// The routing id of a trainer, with a zero byte inside (it is a blob, not text).
    static let holder = WorkerID([0x00, 0x6B, 0xFF, 0x10, 0x00])

    static func lease(_ trainer: String) -> MemberLease {
        MemberLease(since: 1.5, started: 2.5, deadline: 32.5, trainer: trainer)
    }

    static func member(
        _ id: Int, _ phase: MemberPhase, lease: MemberLease? = nil, seed: UInt64 = 42, checkpoint: String? = nil,
        score: Double? = nil, history: LineageSegment? = nil, pending: PendingExploit? = nil, failures: Int = 0
    ) -> Member {
        Member(
            id: id, seed: seed, version: 10 * id + 1, step: 4 * id, targetStep: 4 * id + 4, checkpoint: checkpoint,
            hyperparameters: id.isMultiple(of: 2) ? hyperparameters : copied, score: score, phase: phase, lease: lease,
            history: history, exploits: id, failures: failures,
            metrics: id.isMultiple(of: 2) ? ["score": 0.75, "loss": .infinity, "neg": -.infinity] : [:],
            pendingExploit: pending, recent: id.isMultiple(of: 2) ? [0.5, -1e-300, 0.1 + 0.2] : [])
    }

    static let pending = PendingExploit(donor: 0, old: hyperparameters, copied: copied)

    /// A member in every phase, with the fields each carries there.
    static let members: [Member] = [
        member(0, .queued(.trainer), seed: 0),
        member(
            1, .queued(.mutator), seed: .max, checkpoint: reference(1), score: 0.25, history: firstSegment,
            pending: pending),
        member(
            2, .training(holder), lease: lease("trainer-7"), checkpoint: reference(2), score: -3.5,
            history: secondSegment),
        member(3, .scoring, lease: lease("trainer-2"), checkpoint: reference(3), score: 1e300, history: firstSegment),
        member(
            4, .exploring, lease: lease("trainer ü"), checkpoint: reference(4), score: 0, history: secondSegment,
            pending: pending),
        member(5, .waiting, checkpoint: reference(5), score: 0.5, history: firstSegment),
        member(6, .finished, checkpoint: reference(6), score: 0.875, history: secondSegment),
        member(7, .failed, failures: 4),
    ]

    /// What a store gives back for `member`: the same row, with a lease that keeps only the
    /// trainer's name (its times are the old process's; the restored machine sets new ones).
    static func restored(_ member: Member) -> Member {
        Member(
            id: member.id, seed: member.seed, version: member.version, step: member.step, targetStep: member.targetStep,
            checkpoint: member.checkpoint, hyperparameters: member.hyperparameters, score: member.score,
            phase: member.phase,
            lease: member.phase.isLeased
                ? MemberLease(since: 0, started: 0, deadline: 0, trainer: member.lease?.trainer ?? "") : nil,
            history: member.history, exploits: member.exploits, failures: member.failures, metrics: member.metrics,
            pendingExploit: member.pendingExploit, recent: member.recent)
    }

    static func changes(
        _ members: [Member], segments: [LineageSegment] = [], scores: [SelectorMachine.ScoreSnapshot] = []
    ) -> SelectorMachine.Changes {
        var changes = SelectorMachine.Changes()
        for member in members { changes.members[member.id] = member }
        changes.segments = segments
        changes.scores = scores
        return changes
    }

    static let counters = SelectorDatabase.Counters(
        steps: 12, exploits: 3, elapsed: 4.25, forgottenBelow: 4, finished: false)

    static func open(_ directory: TemporaryDirectory) throws -> SelectorDatabase {
        try SelectorDatabase(path: directory.path + "/selector.sqlite")
    }

    /// Writes the experiment's first batch: every member, the lineage, no scores.
    static func saveAll(_ database: SelectorDatabase) throws {
        try database.save(
            experimentID: "exp-1", changes: changes(members, segments: [firstSegment, secondSegment]), bestEver: nil,
            counters: counters, logEnd: 0)
    }

    // MARK: Members

    @Test func aNewStoreHoldsNothing() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        #expect(try database.load() == nil)
        #expect(try database.experimentID() == nil)
        #expect(try database.committedLogEnd() == nil)
    }

    @Test func membersInEveryPhaseComeBackAsTheyWereSaved() throws {
        let directory = try TemporaryDirectory()
        do {
            let database = try Self.open(directory)
            try Self.saveAll(database)
        }
        // Read back by another instance, as a restarted selector would.
        let database = try Self.open(directory)
        #expect(try database.experimentID() == "exp-1")
        let (state, finished) = try #require(try database.load())
        #expect(finished == nil)
        #expect(state.members.map(\.id) == Array(0..<8))
        for (loaded, saved) in zip(state.members, Self.members) {
            #expect(loaded == Self.restored(saved), "member \(saved.id) in \(saved.phase)")
            // Histories are compared by id above: their segments too.
            let segments = loaded.history?.chronological.map { [$0.id, $0.member, $0.fromStep, $0.toStep] }
            #expect(segments == saved.history?.chronological.map { [$0.id, $0.member, $0.fromStep, $0.toStep] })
            #expect(
                loaded.history?.chronological.map(\.hyperparameters)
                    == saved.history?.chronological.map(\.hyperparameters))
        }
        let phases = state.members.map(\.phase)
        #expect(
            phases == [
                .queued(.trainer), .queued(.mutator), .training(Self.holder), .scoring, .exploring, .waiting, .finished,
                .failed,
            ])
    }

    /// A training member keeps its trainer's routing id and name; every leased member keeps the
    /// name of the trainer that trained it (for the events after a restart).
    @Test func aLeaseKeepsItsTrainer() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try Self.saveAll(database)
        let members = try #require(try database.load()).state.members
        guard case .training(let holder) = members[2].phase else {
            Issue.record("member 2 is \(members[2].phase)")
            return
        }
        #expect(holder.bytes == [0x00, 0x6B, 0xFF, 0x10, 0x00])
        #expect(members[2].lease?.trainer == "trainer-7")
        #expect(members[3].lease?.trainer == "trainer-2")
        #expect(members[4].lease?.trainer == "trainer ü")
        for index in [0, 1, 5, 6, 7] { #expect(members[index].lease == nil, "member \(index)") }
        #expect(members[1].pendingExploit == Self.pending)
        #expect(members[4].pendingExploit == Self.pending)
        #expect(members[1].seed == .max)
        #expect(members[0].hyperparameters == Self.hyperparameters)
        #expect(members[0].hyperparameters["lr"] == .real(0.1 + 0.2), "reals come back exactly")
    }

    /// A batch holds only the rows that changed: the others stay as they were.
    @Test func aBatchReplacesOnlyTheRowsItHolds() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try Self.saveAll(database)
        // Member 3 was scored and queued again; member 2's trainer handed it on.
        let scored = Self.member(
            3, .queued(.trainer), checkpoint: Self.reference(33), score: 0.9, history: Self.secondSegment)
        let handedOn = Self.member(
            2, .scoring, lease: Self.lease("trainer-7"), checkpoint: Self.reference(2), score: -3.5,
            history: Self.secondSegment)
        try database.save(
            experimentID: "exp-1", changes: Self.changes([scored, handedOn]), bestEver: nil, counters: Self.counters,
            logEnd: 0)
        let members = try #require(try database.load()).state.members
        #expect(members.count == 8)
        #expect(members[3] == Self.restored(scored))
        #expect(members[2] == Self.restored(handedOn))
        #expect(members[2].lease?.trainer == "trainer-7")
        for index in [0, 1, 4, 5, 6, 7] {
            #expect(members[index] == Self.restored(Self.members[index]), "member \(index)")
        }
    }

    /// Batches merged for one transaction hold each member's latest row.
    @Test func mergedChangesKeepTheLatestRow() throws {
        var changes = Self.changes([Self.members[0], Self.members[2]], segments: [Self.firstSegment])
        let later = Self.member(
            2, .queued(.trainer), checkpoint: Self.reference(99), score: 0.1, history: Self.secondSegment)
        changes.append(Self.changes([later], segments: [Self.secondSegment]))
        #expect(changes.members.count == 2)
        #expect(changes.members[2] == later)
        #expect(changes.segments.map(\.id) == [1, 2])
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try database.save(experimentID: "exp-1", changes: changes, bestEver: nil, counters: Self.counters, logEnd: 0)
        let members = try #require(try database.load()).state.members
        #expect(members == [Self.restored(Self.members[0]), Self.restored(later)])
        #expect(members[1].history?.chronological.map(\.id) == [1, 2])
    }

    /// The rows a running machine emits go through the store and back into a machine.
    @Test func whatTheMachinePersistsRestoresTheMachine() throws {
        let settings = SelectorSettings(
            experimentID: "exp-1", seed: 7, interval: 4, stop: StopCondition(maxSteps: 8), exploit: .none,
            explores: false)
        var machine = SelectorMachine(
            settings: settings, name: "x",
            initial: [Hyperparameters(["lr": .real(0.5)]), Hyperparameters(["lr": .real(0.25)])])
        let trainer = WorkerID([1, 2, 3])
        var changes = SelectorMachine.Changes()
        func collect(_ actions: [SelectorMachine.Action]) {
            for case .persist(let batch) in actions + machine.endBatch() { changes.append(batch) }
        }
        collect(machine.start(now: 0))
        collect(
            machine.handle(
                .ready(Ready(role: .trainer, received: 0, name: "trainer-a", experimentID: "exp-1")), from: trainer,
                now: 1))
        collect(
            machine.handle(
                .ready(
                    Ready(
                        role: .evaluator, received: 0, name: "e", experimentID: "exp-1",
                        inlet: PeerEndpoint(endpoint: "tcp://e:1"))),
                from: WorkerID([9]), now: 1))
        let leased = try #require(
            machine.members.first { $0.phase == .training(trainer) }, "no member went to the trainer")
        #expect(changes.members.count == 2)

        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try database.save(
            experimentID: "exp-1", changes: changes, bestEver: machine.bestEver,
            counters: .init(
                steps: machine.steps, exploits: machine.exploits, elapsed: machine.elapsed(now: 2), forgottenBelow: 0,
                finished: false), logEnd: 0)
        let (state, finished) = try #require(try database.load())
        #expect(finished == nil)
        #expect(state.members == machine.members.map(Self.restored))
        #expect(state.elapsed == 2)
        let loaded = state.members[leased.id]
        #expect(loaded.phase == .training(trainer))
        #expect(loaded.lease?.trainer == "trainer-a")

        let again = SelectorMachine(settings: settings, name: "x", restoring: state, now: 100)
        #expect(again.members[leased.id].phase == .training(trainer))
        #expect(again.members[leased.id].lease?.trainer == "trainer-a")
        #expect(again.members[leased.id].version == leased.version)
        #expect(again.workers[trainer]?.name == "trainer-a")
    }

    @Test func aRowWithAnUnknownPhaseIsRefusedNamingTheMember() throws {
        let directory = try TemporaryDirectory()
        do {
            let database = try Self.open(directory)
            try Self.saveAll(database)
        }
        let queue = try DatabaseQueue(path: directory.path + "/selector.sqlite")
        try queue.write { db in try db.execute(sql: "UPDATE members SET phase = 'leased' WHERE id = 2") }
        let database = try Self.open(directory)
        let error = #expect(throws: StoreError.self) { try database.load() }
        #expect(error?.description.contains("member 2") == true)
        #expect(error?.description.contains("'leased'") == true)
    }

    // MARK: Counters, scores, events

    @Test func countersComeBack() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try Self.saveAll(database)
        let (state, finished) = try #require(try database.load())
        #expect(finished == nil)
        #expect(state.steps == 12)
        #expect(state.exploits == 3)
        #expect(state.elapsed == 4.25)
        #expect(state.forgottenBelow == 4)
    }

    @Test(arguments: [FinishReason.maxSteps, .target, .timeBudget, .totalSteps, .allFailed])
    func aFinishedExperimentSaysWhyItFinished(reason: FinishReason) throws {
        let directory = try TemporaryDirectory()
        do {
            let database = try Self.open(directory)
            try Self.saveAll(database)
            var counters = Self.counters
            counters.finished = true
            counters.reason = reason
            try database.save(experimentID: "exp-1", changes: .init(), bestEver: nil, counters: counters, logEnd: 0)
        }
        let (state, finished) = try #require(try Self.open(directory).load())
        #expect(finished == reason)
        #expect(state.steps == 12)
    }

    /// A finish saved without its reason reads as the usual end.
    @Test func aFinishWithoutAReasonIsMaxSteps() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        var counters = Self.counters
        counters.finished = true
        try database.save(
            experimentID: "exp-1", changes: Self.changes(Self.members), bestEver: nil, counters: counters, logEnd: 0)
        #expect(try #require(try database.load()).finished == .maxSteps)
        // A reason given with `finished` false does not make the experiment finished.
        counters.finished = false
        counters.reason = .allFailed
        try database.save(experimentID: "exp-1", changes: .init(), bestEver: nil, counters: counters, logEnd: 0)
        #expect(try #require(try database.load()).finished == nil)
    }

    static func snapshot(
        member: Int, step: Int, score: Double, history: LineageSegment?
    ) -> SelectorMachine.ScoreSnapshot {
        .init(
            member: member, step: step, fitness: -score, score: score, checkpoint: reference(100 * member + step),
            hyperparameters: copied, history: history, metrics: ["score": score], recent: [-score])
    }

    @Test func scoresAndTheBestEverComeBackAndPassedStepsAreForgotten() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        let scores = [
            Self.snapshot(member: 0, step: 4, score: 0.5, history: Self.firstSegment),
            Self.snapshot(member: 2, step: 8, score: 0.25, history: Self.secondSegment),
            Self.snapshot(member: 1, step: 8, score: 0.75, history: nil),
        ]
        let best = scores[1]
        try database.save(
            experimentID: "exp-1",
            changes: Self.changes(Self.members, segments: [Self.firstSegment, Self.secondSegment], scores: scores),
            bestEver: best, counters: Self.counters, logEnd: 0)
        var (state, _) = try #require(try database.load())
        let key: (SelectorMachine.ScoreSnapshot) -> [Int] = { [$0.step, $0.member] }
        #expect(
            state.scores.sorted { key($0).lexicographicallyPrecedes(key($1)) }
                == scores.sorted { key($0).lexicographicallyPrecedes(key($1)) })
        #expect(state.scores.first { $0.member == 2 }?.history?.chronological.map(\.id) == [1, 2])
        #expect(state.bestEver == best)
        #expect(state.bestEver?.checkpoint == Self.reference(208))

        var forget = SelectorMachine.Changes()
        forget.forgetBelow = 8
        try database.save(experimentID: "exp-1", changes: forget, bestEver: nil, counters: Self.counters, logEnd: 0)
        (state, _) = try #require(try database.load())
        #expect(state.scores.map(\.step) == [8, 8])
        #expect(state.bestEver == best, "the best ever is kept when no new one is given")
    }

    /// Each commit records how long the event log is with the batch's events in it; a restart
    /// cuts the log back there.
    @Test func eachCommitRecordsTheLogsLength() throws {
        let directory = try TemporaryDirectory()
        let database = try Self.open(directory)
        try database.save(
            experimentID: "exp-1", changes: Self.changes(Self.members), bestEver: nil, counters: Self.counters,
            logEnd: 100)
        #expect(try database.committedLogEnd() == 100)
        try database.save(experimentID: "exp-1", changes: .init(), bestEver: nil, counters: Self.counters, logEnd: 128)
        #expect(try database.committedLogEnd() == 128)
        #expect(try database.load() != nil, "the counters still read back")
    }

    // MARK: Schema

    /// Writes a meta row by hand, as another version of pbt would have.
    static func setMeta(_ directory: TemporaryDirectory, _ key: String, _ value: String?) throws {
        let queue = try DatabaseQueue(path: directory.path + "/selector.sqlite")
        try queue.write { db in
            if let value {
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
            } else {
                try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key])
            }
        }
    }

    @Test func aStoreRecordsItsSchemaAndOpensAgain() throws {
        let directory = try TemporaryDirectory()
        do {
            let database = try Self.open(directory)
            try Self.saveAll(database)
        }
        let queue = try DatabaseQueue(path: directory.path + "/selector.sqlite")
        let schema = try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema'")
        }
        #expect(schema == SelectorDatabase.schemaVersion)
        #expect(SelectorDatabase.schemaVersion == "2")
        #expect(try Self.open(directory).load() != nil)
    }

    /// A store of another layout is refused with an error that says so, not misread. A store
    /// from before the schema was recorded counts as schema 1.
    @Test(arguments: ["1", "3", "", nil] as [String?])
    func aStoreOfAnotherSchemaIsRefused(schema: String?) throws {
        let directory = try TemporaryDirectory()
        do {
            let database = try Self.open(directory)
            try Self.saveAll(database)
        }
        try Self.setMeta(directory, "schema", schema)
        let error = #expect(throws: StoreError.self) { try Self.open(directory) }
        let description = error?.description ?? ""
        #expect(description.contains(directory.path + "/selector.sqlite"))
        #expect(description.contains("another version of pbt"))
        #expect(description.contains("store schema \(schema ?? "1"),"))
        #expect(description.contains("this build reads 2"))
    }

    /// Only a store that holds an experiment has a schema to check: an empty one (created,
    /// never written) is simply new.
    @Test func anEmptyStoreIsNew() throws {
        let directory = try TemporaryDirectory()
        _ = try Self.open(directory)
        try Self.setMeta(directory, "schema", "1")
        let database = try Self.open(directory)
        #expect(try database.load() == nil)
    }
}
