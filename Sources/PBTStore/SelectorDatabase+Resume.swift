import Foundation
import GRDB

extension SelectorDatabase {
    /// Why a run directory's store cannot be used to go on with its run.
    public struct ResumeError: Error, Sendable, CustomStringConvertible {
        public let description: String

        public init(_ description: String) {
            self.description = description
        }
    }

    /// Checks, changing nothing, that the selector may open the store in `run` for the
    /// experiment `experimentID` (nil: any):
    ///
    ///     events.jsonl   selector.sqlite              verdict
    ///     empty/absent   absent or empty              a new run: fine
    ///     has events     absent, empty or no state    refused: the selector would start the
    ///                                                 experiment over, its progress lost and
    ///                                                 its summary overwritten
    ///     any            not an SQLite store          refused
    ///     any            damaged (quick_check)        refused
    ///     any            another experiment's         refused
    ///     shorter than the store committed            refused unless `acceptPartialLog`: part of
    ///     (deleted, truncated, replaced), or edited   the record is gone, and report and replay
    ///     before its committed end                    read it
    ///
    /// `pbt run --resume` and `pbt selector` call it before anything starts.
    public static func validateForResume(
        run: RunDirectory, experimentID: String?, acceptPartialLog: Bool = false
    ) throws(ResumeError) {
        let eventBytes = fileSize(run.events) ?? 0
        let storeBytes = fileSize(run.database)
        let pendingBytes = fileSize(run.database + "-wal") ?? 0
        let history = "\(run.events) holds \(eventBytes) bytes of events"
        let consequence =
            "going on would start the experiment over and overwrite its results. Restore selector.sqlite, or start afresh in another directory"
        guard let storeBytes, storeBytes > 0 || pendingBytes > 0 else {
            if eventBytes > 0 {
                let state = storeBytes == nil ? "there is no \(run.database)" : "\(run.database) is empty (0 bytes)"
                throw ResumeError("\(history) but \(state): \(consequence)")
            }
            return
        }
        // A run to go on with: the files its selector writes must be files it can write.
        for file in [run.summary, run.events] {
            var status = stat()
            if stat(file, &status) == 0, status.st_mode & S_IFMT != S_IFREG {
                throw ResumeError(
                    "\(file) is not a regular file (a directory?): move it away, or use another run directory")
            }
        }
        let stored: String?
        let committedLogEnd: Int64?
        let check: [String]
        var checkpoints: [(member: Int, reference: String)] = []
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: run.database, configuration: configuration)
            (stored, committedLogEnd, check) = try queue.read { db in
                let id = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'experiment_id'")
                // Every page read once: a store damaged in its middle is found now, not mid-run.
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
                if check == ["ok"] {
                    for row in try Row.fetchAll(
                        db,
                        sql:
                            "SELECT id, checkpoint FROM members WHERE checkpoint IS NOT NULL AND phase NOT IN ('finished', 'failed') ORDER BY id"
                    ) {
                        checkpoints.append((row["id"], row["checkpoint"]))
                    }
                }
                return (id, try Self.committedLogEnd(db), check)
            }
        } catch {
            let reason = (error as? DatabaseError)?.message ?? "\(error)"
            throw ResumeError(
                "\(run.database) (\(storeBytes) bytes) is not a selector store that can be read (\(reason)): \(eventBytes > 0 ? consequence : "use another run directory")"
            )
        }
        guard check == ["ok"] else {
            throw ResumeError(
                "\(run.database) (\(storeBytes) bytes) is damaged (SQLite's quick_check: \(check.joined(separator: "; ").replacingOccurrences(of: "\n", with: " ").prefix(300))): \(eventBytes > 0 ? consequence : "use another run directory")"
            )
        }
        guard let stored else {
            if eventBytes > 0 {
                throw ResumeError("\(history) but \(run.database) holds no committed state: \(consequence)")
            }
            return
        }
        if let experimentID, stored != experimentID {
            throw ResumeError(
                "\(run.path) holds experiment \(stored), not \(experimentID): the experiment file differs from the one that started the run (pbt run --resume reads \(run.experiment); any edit, even a comment, counts). Restore that file, or use another run directory"
            )
        }
        // The members still training go on from their checkpoints: without them every one
        // would fail (the checkpoints directory deleted, or moved with the rest but not it).
        let missing = checkpoints.filter { !CheckpointStore.holds($0.reference, in: run.checkpoints) }
        if let first = missing.first {
            throw ResumeError(
                "\(missing.count) of the \(checkpoints.count) members still training have no checkpoint in \(run.checkpoints) (member \(first.member): \(first.reference.prefix(12))…), so they cannot go on. Restore \(run.checkpoints) from a copy, or start afresh in another directory"
            )
        }
        if let end = committedLogEnd, !acceptPartialLog {
            let goOn =
                "pbt report, pbt replay and pbt tensorboard read that record. Restore \(run.events) from a copy; or, to go on with the record as it is, resume with --accept-partial-log"
            if eventBytes < end {
                throw ResumeError(
                    "\(run.events) holds \(eventBytes) bytes, but the store committed \(end) bytes of events to it: part of the run's record is gone (deleted, truncated or replaced). \(goOn)"
                )
            }
            if end > 0, lastByte(before: end, of: run.events) != 0x0A {
                throw ResumeError(
                    "\(run.events) was changed before the end the store committed (\(end) bytes: no line ends there), so cutting it back there would cut an event. \(goOn)"
                )
            }
        }
    }

    /// The byte just before `offset` in the file at `path`.
    private static func lastByte(before offset: Int64, of path: String) -> UInt8? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset - 1))) != nil,
            let data = try? handle.read(upToCount: 1)
        else { return nil }
        return data.first
    }

    private static func fileSize(_ path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Int64(status.st_size)
    }
}
