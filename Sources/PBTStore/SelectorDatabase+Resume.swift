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
    ///     any            another experiment's         refused
    ///
    /// `pbt run --resume` and `pbt selector` call it before anything starts.
    public static func validateForResume(run: RunDirectory, experimentID: String?) throws(ResumeError) {
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
        let stored: String?
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: run.database, configuration: configuration)
            stored = try queue.read { db in
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'experiment_id'")
            }
        } catch {
            let reason = (error as? DatabaseError)?.message ?? "\(error)"
            throw ResumeError(
                "\(run.database) (\(storeBytes) bytes) is not a selector store that can be read (\(reason)): \(eventBytes > 0 ? consequence : "use another run directory")"
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
                "\(run.path) holds experiment \(stored), not \(experimentID) (the experiment file differs); use another run directory"
            )
        }
    }

    private static func fileSize(_ path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Int64(status.st_size)
    }
}
