import Foundation
import PBTCore
import PBTStore
import PBTSystem
import PBTWire

/// Commits the selector's batches on a thread of its own, in order, so that the selector's
/// thread goes back to its workers while a batch is written.
///
///     selector thread: receive → decide → send tasks → submit(batch) → receive …
///     writer thread:   (every commit interval) merge the waiting batches → encode their events
///                      → append them to events.jsonl → commit (with the log's new length)
///                      → publish them to the stream
///
/// The writer commits at most once a `commitInterval` (50 ms; sooner when half its queue is
/// full or someone drains it): the batches that arrived meanwhile go in as one transaction, each
/// member's row once however often it changed. A transaction costs much the same for one
/// decision as for a hundred, so this is what keeps the store off the pipeline's critical path.
///
/// A batch's events reach the stream only after its transaction commits, and the log is cut
/// back to its committed length on restart, so neither ever says what the store does not hold.
/// A crash loses at most the batches not yet committed (at most `2 × limit`, the decisions
/// of a commit interval or two); their tasks' results are then stale (see
/// `SelectorMachine.versionsSkippedOnRestore`).
final class StoreWriter: @unchecked Sendable {
    struct Batch: @unchecked Sendable {
        var changes: SelectorMachine.Changes
        var bestEver: SelectorMachine.ScoreSnapshot?
        var counters: SelectorDatabase.Counters
        /// The batch's events, and the wall-clock time they carry.
        var events: [(event: PBTEvent, time: Double)]

        /// The batches, oldest first, as one: later member rows, counters and best score replace earlier ones.
        static func merged(_ batches: [Batch]) -> Batch? {
            guard var merged = batches.first else { return nil }
            for batch in batches.dropFirst() {
                merged.changes.append(batch.changes)
                merged.bestEver = batch.bestEver ?? merged.bestEver
                merged.counters = batch.counters
                merged.events += batch.events
            }
            return merged
        }
    }

    private let database: SelectorDatabase
    private let eventLog: LineLog
    /// Used by the writer thread only, once handed over.
    private let publisher: EventPublisher
    private let experimentID: String
    private let commitInterval: Double
    private let condition = NSCondition()
    private var queue: [Batch] = []
    /// When the oldest waiting batch arrived.
    private var oldest: Date?
    private var draining = 0
    private var busy = false
    private var failure: (any Error)?
    private var stopping = false
    private var stopped = false
    /// Batches waiting at most; the selector waits when the writer falls this far behind.
    private let limit = 256

    init(
        database: SelectorDatabase, eventLog: LineLog, publisher: EventPublisher, experimentID: String,
        commitInterval: Double = 0.05
    ) {
        self.database = database
        self.eventLog = eventLog
        self.publisher = publisher
        self.experimentID = experimentID
        self.commitInterval = commitInterval
        let thread = Thread { [self] in
            ThreadName.set("pbt-store-write")
            serve()
        }
        thread.start()
    }

    /// Queues a batch. Throws the error of an earlier batch that could not be committed.
    func submit(_ batch: Batch) throws {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= limit && failure == nil { condition.wait() }
        if let failure { throw failure }
        if queue.isEmpty { oldest = Date() }
        queue.append(batch)
        if queue.count == 1 || queue.count >= limit / 2 { condition.broadcast() }
    }

    /// Waits until every queued batch is committed and logged.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        draining += 1
        defer { draining -= 1 }
        condition.broadcast()
        while (!queue.isEmpty || busy) && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Commits what is queued, then ends the writer's thread (which lets go of the store).
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
    }

    private func serve() {
        while true {
            condition.lock()
            while true {
                if queue.isEmpty && stopping {
                    stopped = true
                    condition.broadcast()
                    condition.unlock()
                    return
                } else if queue.isEmpty {
                    condition.wait()
                } else if draining == 0, !stopping, queue.count < limit / 2, let oldest,
                    oldest.timeIntervalSinceNow > -commitInterval
                {
                    _ = condition.wait(until: oldest.addingTimeInterval(commitInterval))
                } else {
                    break
                }
            }
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            oldest = nil
            busy = true
            condition.broadcast()
            condition.unlock()
            guard let batch = Batch.merged(taken) else { continue }
            do {
                let events = batch.events.map { EventJSON.encode($0.event, time: $0.time) }
                for event in events { eventLog.append(event) }
                eventLog.flush()
                try database.save(
                    experimentID: experimentID, changes: batch.changes, bestEver: batch.bestEver,
                    counters: batch.counters, logEnd: eventLog.size)
                for (index, json) in events.enumerated() {
                    publisher.publish(topic: batch.events[index].event.topic, json: json)
                }
                condition.lock()
                busy = false
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                failure = error
                busy = false
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }
}
