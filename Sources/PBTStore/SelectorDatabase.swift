import Foundation
import GRDB
import PBTCore

/// The selector's durable state: an SQLite file (`selector.sqlite`) in the run directory.
///
/// Each commit is one transaction: the member rows that changed, new lineage segments and
/// scores, the counters, and how long `events.jsonl` is with the batch's events in it. The
/// events are appended to the log just before the commit and published to the stream only
/// after it, so the stream never says what the store does not hold, and a restart cuts the log
/// back to the committed length: the events of a batch a crash kept from committing go with it.
/// (Tasks go out before: a restart skips versions, so a task the store never saw cannot be
/// confused with a later one.)
///
///     members    one row a member: version, step, checkpoint, hyperparameters, phase, lease
///     lineage    history segments (each points at the one before)
///     scores     the score board: a member's state at each step it was scored
///     best_ever  the best score reached and its checkpoint
///     meta       experiment id, schema, counters, the committed length of events.jsonl
public final class SelectorDatabase {
    private let queue: DatabaseQueue
    public let path: String
    /// Whether this instance has stored the experiment id (once is enough).
    private var identified = false

    /// Opens (creating if needed) the database at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS members (
                        id INTEGER PRIMARY KEY, seed INTEGER NOT NULL, version INTEGER NOT NULL, step INTEGER NOT NULL,
                        target_step INTEGER NOT NULL, checkpoint TEXT, hyperparameters TEXT NOT NULL, score REAL,
                        phase TEXT NOT NULL, queue_role INTEGER, lease_worker BLOB, lease_trainer TEXT, history INTEGER,
                        exploits INTEGER NOT NULL, failures INTEGER NOT NULL, metrics TEXT NOT NULL,
                        pending_donor INTEGER, pending_old TEXT, pending_copied TEXT,
                        recent TEXT NOT NULL DEFAULT '[]');
                    CREATE TABLE IF NOT EXISTS lineage (
                        id INTEGER PRIMARY KEY, member INTEGER NOT NULL, from_step INTEGER NOT NULL, to_step INTEGER NOT NULL,
                        hyperparameters TEXT NOT NULL, previous INTEGER);
                    CREATE TABLE IF NOT EXISTS scores (
                        step INTEGER NOT NULL, member INTEGER NOT NULL, fitness REAL NOT NULL, score REAL NOT NULL,
                        checkpoint TEXT NOT NULL, hyperparameters TEXT NOT NULL, history INTEGER, metrics TEXT NOT NULL,
                        recent TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (step, member));
                    CREATE TABLE IF NOT EXISTS best_ever (
                        id INTEGER PRIMARY KEY CHECK (id = 1), member INTEGER NOT NULL, step INTEGER NOT NULL, fitness REAL NOT NULL,
                        score REAL NOT NULL, checkpoint TEXT NOT NULL, hyperparameters TEXT NOT NULL, history INTEGER, metrics TEXT NOT NULL,
                        recent TEXT NOT NULL DEFAULT '[]');
                    """)
        }
        if let schema = try schemaVersion(), schema != Self.schemaVersion {
            throw StoreError(
                "\(path) was written by another version of pbt (store schema \(schema), this build reads \(Self.schemaVersion)); finish that run with the pbt that started it"
            )
        }
    }

    /// The layout of the tables; a store of another layout is refused, not misread.
    public static let schemaVersion = "2"

    /// The schema a store was written with: nil for a new one, "1" for one from before it was recorded.
    private func schemaVersion() throws -> String? {
        try queue.read { db in
            guard try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'experiment_id'") != nil else {
                return nil
            }
            return try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema'") ?? "1"
        }
    }

    /// Writes what is in the write-ahead log into the database file and empties the log, so
    /// that a finished run leaves one file (closing the store then removes the `-wal` and `-shm`).
    public func checkpointLog() throws {
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// The experiment this database belongs to, or nil when it is new.
    public func experimentID() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'experiment_id'") }
    }

    /// Counters kept beside the rows.
    public struct Counters: Sendable {
        public var steps: Int
        public var exploits: Int
        public var elapsed: Double
        public var forgottenBelow: Int
        public var finished: Bool
        /// Why it finished, once it has.
        public var reason: FinishReason?

        public init(
            steps: Int, exploits: Int, elapsed: Double, forgottenBelow: Int, finished: Bool, reason: FinishReason? = nil
        ) {
            self.reason = reason
            self.steps = steps
            self.exploits = exploits
            self.elapsed = elapsed
            self.forgottenBelow = forgottenBelow
            self.finished = finished
        }
    }

    /// Commits one batch, with `logEnd`: the length of `events.jsonl` once the batch's events
    /// are in it (a restart cuts the log back to the last committed length).
    public func save(
        experimentID: String, changes: SelectorMachine.Changes, bestEver: SelectorMachine.ScoreSnapshot?,
        counters: Counters, logEnd: Int64
    ) throws {
        let identified = self.identified
        try queue.write { db in
            if !identified {
                try Self.set(db, "experiment_id", experimentID)
                try Self.set(db, "schema", Self.schemaVersion)
            }
            // The counters and the log's length in one row: one statement a commit.
            try Self.set(
                db, "counters",
                "\(counters.steps) \(counters.exploits) \(counters.elapsed) \(counters.forgottenBelow) \(counters.finished ? 1 : 0) \(counters.reason?.rawValue ?? "-") \(logEnd)"
            )
            for segment in changes.segments { try self.insert(segment, db) }
            for index in changes.members.keys.sorted() { try self.upsert(changes.members[index]!, db) }
            for snapshot in changes.scores {
                try db.cachedStatement(
                    sql: """
                        INSERT OR REPLACE INTO scores (step, member, fitness, score, checkpoint, hyperparameters, history, metrics, recent)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        snapshot.step, snapshot.member, snapshot.fitness, snapshot.score, snapshot.checkpoint,
                        encoded(snapshot.hyperparameters), snapshot.history?.id, ValueCoding.encode(snapshot.metrics),
                        ValueCoding.encode(snapshot.recent),
                    ])
            }
            if let below = changes.forgetBelow {
                try db.execute(sql: "DELETE FROM scores WHERE step < ?", arguments: [below])
            }
            if let best = bestEver {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO best_ever (id, member, step, fitness, score, checkpoint, hyperparameters, history, metrics, recent)
                        VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        best.member, best.step, best.fitness, best.score, best.checkpoint,
                        ValueCoding.encode(best.hyperparameters),
                        best.history?.id, ValueCoding.encode(best.metrics), ValueCoding.encode(best.recent),
                    ])
            }
        }
        self.identified = true
    }

    /// The length of `events.jsonl` at the last commit, or nil for a new store.
    public func committedLogEnd() throws -> Int64? {
        try queue.read { db in
            try Self.committedLogEnd(db)
        }
    }

    /// The committed length of `events.jsonl`: the last field of the `counters` row.
    static func committedLogEnd(_ db: Database) throws -> Int64? {
        guard let counters = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'counters'") else {
            return nil
        }
        let fields = counters.split(separator: " ")
        return fields.count > 6 ? Int64(fields[6]) : nil
    }

    /// Everything the selector needs to go on, or nil for a new database.
    public func load() throws -> (state: SelectorMachine.SavedState, finished: FinishReason?)? {
        try queue.read { db in
            guard try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'experiment_id'") != nil else {
                return nil
            }
            func meta(_ key: String) throws -> String? {
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
            }
            var segments: [Int: LineageSegment] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM lineage ORDER BY id") {
                let id: Int = row["id"]
                let previous: Int? = row["previous"]
                segments[id] = LineageSegment(
                    id: id, member: row["member"], fromStep: row["from_step"], toStep: row["to_step"],
                    hyperparameters: try ValueCoding.hyperparameters(row["hyperparameters"]),
                    previous: previous.flatMap { segments[$0] })
            }
            var members: [Member] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM members ORDER BY id") {
                let phase: MemberPhase
                let phaseName: String = row["phase"]
                switch phaseName {
                case "finished": phase = .finished
                case "waiting": phase = .waiting
                case "failed": phase = .failed
                case "training":
                    let worker: Data = row["lease_worker"] ?? Data()
                    phase = .training(WorkerID([UInt8](worker)))
                case "scoring": phase = .scoring
                case "exploring": phase = .exploring
                case "queued":
                    phase = .queued(WorkerRole(rawValue: UInt8(row["queue_role"] as Int? ?? 1)) ?? .trainer)
                default:
                    throw StoreError("member \(row["id"] as Int? ?? -1) has an unknown phase '\(phaseName.prefix(40))'")
                }
                let trainer: String? = row["lease_trainer"]
                let lease =
                    phase.isLeased ? MemberLease(since: 0, started: 0, deadline: 0, trainer: trainer ?? "") : nil
                var pending: PendingExploit?
                if let donor: Int = row["pending_donor"] {
                    pending = .init(
                        donor: donor, old: try ValueCoding.hyperparameters(row["pending_old"] ?? "[]"),
                        copied: try ValueCoding.hyperparameters(row["pending_copied"] ?? "[]"))
                }
                let history: Int? = row["history"]
                let seed: Int64 = row["seed"]
                members.append(
                    Member(
                        id: row["id"], seed: UInt64(bitPattern: seed), version: row["version"], step: row["step"],
                        targetStep: row["target_step"],
                        checkpoint: row["checkpoint"],
                        hyperparameters: try ValueCoding.hyperparameters(row["hyperparameters"]), score: row["score"],
                        phase: phase, lease: lease, history: history.flatMap { segments[$0] },
                        exploits: row["exploits"], failures: row["failures"],
                        metrics: try ValueCoding.metrics(row["metrics"]), pendingExploit: pending,
                        recent: try ValueCoding.numbers(row["recent"])))
            }
            func snapshot(_ row: Row) throws -> SelectorMachine.ScoreSnapshot {
                let history: Int? = row["history"]
                return SelectorMachine.ScoreSnapshot(
                    member: row["member"], step: row["step"], fitness: row["fitness"], score: row["score"],
                    checkpoint: row["checkpoint"],
                    hyperparameters: try ValueCoding.hyperparameters(row["hyperparameters"]),
                    history: history.flatMap { segments[$0] },
                    metrics: try ValueCoding.metrics(row["metrics"]), recent: try ValueCoding.numbers(row["recent"]))
            }
            let scores = try Row.fetchAll(db, sql: "SELECT * FROM scores").map(snapshot)
            let best = try Row.fetchOne(db, sql: "SELECT * FROM best_ever WHERE id = 1").map(snapshot)
            let counters = (try meta("counters") ?? "").split(separator: " ").map(String.init)
            func counter(_ index: Int) -> String { index < counters.count ? counters[index] : "0" }
            let state = SelectorMachine.SavedState(
                members: members, scores: scores, steps: Int(counter(0)) ?? 0, exploits: Int(counter(1)) ?? 0,
                elapsed: Double(counter(2)) ?? 0, forgottenBelow: Int(counter(3)) ?? 0, bestEver: best,
                highestSegmentID: segments.keys.max() ?? 0)
            return (state, counter(4) == "1" ? FinishReason(rawValue: counter(5)) ?? .maxSteps : nil)
        }
    }

    private static func set(_ db: Database, _ key: String, _ value: String) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").execute(arguments: [
            key, value,
        ])
    }

    private func insert(_ segment: LineageSegment, _ db: Database) throws {
        try db.cachedStatement(
            sql:
                "INSERT OR IGNORE INTO lineage (id, member, from_step, to_step, hyperparameters, previous) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(
            arguments: [
                segment.id, segment.member, segment.fromStep, segment.toStep, encoded(segment.hyperparameters),
                segment.previous?.id,
            ])
    }

    /// Text forms of hyperparameters already written: they change only on exploit, and a
    /// member's row, lineage and scores write them at every step.
    private var encodedHyperparameters: [Hyperparameters: String] = [:]

    private func encoded(_ hyperparameters: Hyperparameters) -> String {
        if let text = encodedHyperparameters[hyperparameters] { return text }
        if encodedHyperparameters.count > 10_000 { encodedHyperparameters.removeAll(keepingCapacity: true) }
        let text = ValueCoding.encode(hyperparameters)
        encodedHyperparameters[hyperparameters] = text
        return text
    }

    private func upsert(_ member: Member, _ db: Database) throws {
        var phase: String
        var role: Int?
        var worker: Data?
        switch member.phase {
        case .queued(let queuedRole):
            phase = "queued"
            role = Int(queuedRole.rawValue)
        case .training(let holder):
            phase = "training"
            worker = Data(holder.bytes)
        case .scoring: phase = "scoring"
        case .exploring: phase = "exploring"
        case .waiting: phase = "waiting"
        case .finished: phase = "finished"
        case .failed: phase = "failed"
        }
        let values: [(any DatabaseValueConvertible)?] = [
            member.id, Int64(bitPattern: member.seed), member.version, member.step, member.targetStep,
            member.checkpoint,
            encoded(member.hyperparameters), member.score, phase, role, worker, member.lease?.trainer,
            member.history?.id, member.exploits,
            member.failures, ValueCoding.encode(member.metrics), member.pendingExploit?.donor,
            member.pendingExploit.map { ValueCoding.encode($0.old) },
            member.pendingExploit.map { ValueCoding.encode($0.copied) },
            ValueCoding.encode(member.recent),
        ]
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO members (id, seed, version, step, target_step, checkpoint, hyperparameters, score, phase,
                    queue_role, lease_worker, lease_trainer, history, exploits, failures, metrics, pending_donor, pending_old, pending_copied,
                    recent)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: StatementArguments(values))
    }
}

/// Exact text forms of hyperparameters and metrics for the database: JSON arrays whose
/// numbers are written as Swift prints them (the shortest text that reads back the same
/// Double), and whose values keep their kind (real, integer, text).
enum ValueCoding {
    static func encode(_ hyperparameters: Hyperparameters) -> String {
        let items: [[String]] = hyperparameters.sorted.map { name, value in
            switch value {
            case .real(let x): [name, "r", "\(x)"]
            case .integer(let x): [name, "i", String(x)]
            case .text(let x): [name, "t", x]
            }
        }
        return json(items)
    }

    static func encode(_ metrics: [String: Double]) -> String {
        json(metrics.keys.sorted().map { [$0, "\(metrics[$0]!)"] })
    }

    static func encode(_ numbers: [Double]) -> String {
        json([numbers.map { "\($0)" }])
    }

    static func numbers(_ text: String) throws -> [Double] {
        (try array(text).first ?? []).map { Double($0) ?? .nan }
    }

    static func hyperparameters(_ text: String) throws -> Hyperparameters {
        var values: [String: HyperparameterValue] = [:]
        for item in try array(text) {
            guard item.count == 3 else { throw StoreError("bad hyperparameter entry \(item)") }
            switch item[1] {
            case "r": values[item[0]] = .real(Double(item[2]) ?? .nan)
            case "i": values[item[0]] = .integer(Int(item[2]) ?? 0)
            default: values[item[0]] = .text(item[2])
            }
        }
        return Hyperparameters(values)
    }

    static func metrics(_ text: String) throws -> [String: Double] {
        var values: [String: Double] = [:]
        for item in try array(text) where item.count == 2 { values[item[0]] = Double(item[1]) ?? .nan }
        return values
    }

    /// A JSON array of arrays of strings, written by hand: this runs for every row the
    /// selector stores, and Foundation's serializer costs ten times as much. Most strings
    /// (names, numbers) need no escaping and go in whole.
    static func json(_ items: [[String]]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        bytes.reserveCapacity(64 * items.count + 2)
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "["))
            for (position, string) in item.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(UInt8(ascii: "\""))
                if string.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                    bytes.append(contentsOf: string.utf8)
                } else {
                    for byte in string.utf8 {
                        switch byte {
                        case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
                        case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
                        case 0..<0x20:
                            bytes.append(contentsOf: #"\u00"#.utf8)
                            bytes.append(contentsOf: String(byte >> 4, radix: 16).utf8)
                            bytes.append(contentsOf: String(byte & 0xF, radix: 16).utf8)
                        default: bytes.append(byte)
                        }
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "]"))
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func array(_ text: String) throws -> [[String]] {
        guard let items = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String]] else {
            throw StoreError("not a list of string lists: \(text.prefix(80))")
        }
        return items
    }
}

/// A database row the selector cannot read back.
public struct StoreError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
