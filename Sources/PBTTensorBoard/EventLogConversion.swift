import Foundation
import PBTMonitor

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

    /// Converts the log at `events` into `output`, which must not hold event files already
    /// (a second conversion beside the first would show every point twice).
    public static func convert(events: String, output: String, progress: (Int) -> Void = { _ in }) throws(TensorBoardError) -> Outcome {
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
        func take(_ line: ArraySlice<UInt8>) {
            guard line.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) else { return }
            guard let event = try? EventRecord(json: Array(line)) else {
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
                take(pending[start..<newline])
                start = newline + 1
            }
            pending.removeFirst(start)
            if directory.waitingBytes > 16 << 20 { try directory.flush() }
        }
        take(pending[...])
        try directory.flush()
        outcome.records = directory.recordsWritten
        outcome.bytes = directory.bytesWritten
        outcome.runs = directory.runs.count
        return outcome
    }
}
