import Foundation
import PBTWire

/// `pbt tensorboard RUN_DIR`: a run's `events.jsonl` (the selector's authoritative log) as
/// TensorBoard event files.
public enum EventLogConversion {
    /// What a conversion did.
    public struct Outcome: Sendable {
        public var events = 0
        /// Lines that were not events (a log cut short by a crash ends in half a line).
        public var unreadable = 0
        public var records = 0
        public var bytes = 0
        public var runs = 0
    }

    /// Bytes a line may hold before it is skipped as no event.
    static let longestLine = 8 << 20

    /// Converts the log at `events` into `output`, which must not hold event files already
    /// (a second conversion beside the first would show every point twice).
    public static func convert(
        events: String, output: String, progress: (Int) -> Void = { _ in }
    ) throws(TensorBoardError) -> Outcome {
        guard let handle = FileHandle(forReadingAtPath: events) else { throw TensorBoardError("cannot read \(events)") }
        defer { try? handle.close() }
        let existing = TensorBoardDirectory.eventFiles(under: output)
        if let first = existing.first {
            throw TensorBoardError(
                "\(output) already holds TensorBoard event files (\(first)\(existing.count > 1 ? " and \(existing.count - 1) more" : "")); "
                    + "choose another --output, or remove them first")
        }
        let directory = try TensorBoardDirectory(path: output)
        var projection = TensorBoardProjection()
        var outcome = Outcome()
        var pending: [UInt8] = []
        var skipping = false
        func take(_ line: ArraySlice<UInt8>) {
            guard line.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) else { return }
            guard let event = try? EventJSON.decode(Array(line)) else {
                outcome.unreadable += 1
                return
            }
            outcome.events += 1
            directory.add(projection.apply(event))
            if outcome.events % 100_000 == 0 { progress(outcome.events) }
        }
        // A chunk at a time: a long run's log need not fit in memory twice.
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            } catch {
                throw TensorBoardError("cannot read \(events): \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            pending += chunk
            var start = 0
            while let newline = pending[start...].firstIndex(of: 10) {
                if skipping {
                    skipping = false  // the end of a line too long to be an event
                } else {
                    take(pending[start..<newline])
                }
                start = newline + 1
            }
            pending.removeFirst(start)
            // No event is this long (a stage sends at most 1 MiB): count the line, drop it to its end.
            if pending.count > Self.longestLine {
                if !skipping { outcome.unreadable += 1 }
                skipping = true
                pending.removeAll(keepingCapacity: true)
            }
            if directory.waitingBytes > 16 << 20 { try directory.flush() }
        }
        if !skipping { take(pending[...]) }
        try directory.flush()
        outcome.records = directory.recordsWritten
        outcome.bytes = directory.bytesWritten
        outcome.runs = directory.runs.count
        return outcome
    }
}
