import Foundation
import PBTCore
import PBTStore

/// Commits the selector's batches on a thread of its own, in order, so that the selector's
/// thread goes back to its workers while a batch is written.
///
///     selector thread: receive → decide → send tasks → publish events → submit(batch) → receive …
///     writer thread:                                      commit(batch) → append to events.jsonl
///
/// A batch's events reach `events.jsonl` only after its transaction commits, so the log never
/// says what the store does not hold. A crash loses at most the batches not yet committed;
/// their tasks' results are then stale (see `SelectorMachine.versionsSkippedOnRestore`).
final class StoreWriter: @unchecked Sendable {
    struct Batch: @unchecked Sendable {
        let changes: SelectorMachine.Changes
        let members: [SelectorMachine.Member]
        let bestEver: SelectorMachine.ScoreSnapshot?
        let counters: SelectorDatabase.Counters
        let events: [String]
    }

    private let database: SelectorDatabase
    private let eventLog: LineLog
    private let experimentID: String
    private let condition = NSCondition()
    private var queue: [Batch] = []
    private var busy = false
    private var failure: (any Error)?
    private var written: Int64?
    /// Batches waiting at most; the selector waits when the writer falls this far behind.
    private let limit = 64

    init(database: SelectorDatabase, eventLog: LineLog, experimentID: String, written: Int64?) {
        self.database = database
        self.eventLog = eventLog
        self.experimentID = experimentID
        self.written = written
        let thread = Thread { [self] in serve() }
        thread.name = "pbt-store"
        thread.start()
    }

    /// Queues a batch. Throws the error of an earlier batch that could not be committed.
    func submit(_ batch: Batch) throws {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= limit && failure == nil { condition.wait() }
        if let failure { throw failure }
        queue.append(batch)
        condition.broadcast()
    }

    /// Waits until every queued batch is committed and logged.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        while (!queue.isEmpty || busy) && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    private func serve() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let batch = queue.removeFirst()
            busy = true
            let written = self.written
            condition.unlock()
            do {
                let last = try database.save(
                    experimentID: experimentID, changes: batch.changes, members: batch.members, bestEver: batch.bestEver,
                    counters: batch.counters, events: batch.events, written: written)
                for event in batch.events { eventLog.append(event) }
                eventLog.flush()
                condition.lock()
                if let last { self.written = last }
                busy = false
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                failure = error
                busy = false
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }
}
