import Foundation
import Synchronization

/// Serializes what must not interleave in one store: the collector's "old enough, and not
/// referenced: delete" against the checkpoint service's "touch it (someone is about to use
/// it)" and "rename an upload into place". Without it a checkpoint the service just said it
/// holds could be deleted in the same instant by a collection that read its age before.
public final class CheckpointLock: Sendable {
    private let mutex = Mutex(())

    public init() {}

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body() }
    }
}

/// Population-aware garbage collection of the checkpoint store: deletes checkpoints no one
/// can load any more.
///
/// The selector knows every reference that matters (each member's checkpoint, the ones a
/// member may still copy, the best ever). A checkpoint outside that set is deleted once it is
/// older than `grace`. A trainer writes its checkpoint just before it reports it, and a report
/// that arrives more than a lease timeout after the trainer's last word is stale and dropped,
/// so a grace of the lease timeout (plus a second for file-time granularity) keeps every
/// checkpoint that can still become referenced.
public struct CheckpointCollector: Sendable {
    public let store: CheckpointStore
    /// Held while a file's age is read again and the file deleted.
    public let lock: CheckpointLock

    public init(store: CheckpointStore, lock: CheckpointLock = CheckpointLock()) {
        self.store = store
        self.lock = lock
    }

    /// What one collection did.
    public struct Outcome: Sendable {
        public var deleted = 0
        public var freedBytes: Int64 = 0
        public var kept = 0
        public var keptBytes: Int64 = 0
    }

    /// Deletes every checkpoint not in `keep` whose file is older than `grace` seconds.
    public func collect(keeping keep: Set<String>, grace: Double, now: Date = Date()) -> Outcome {
        var outcome = Outcome()
        let manager = FileManager.default
        guard let folders = try? manager.contentsOfDirectory(atPath: store.directory) else { return outcome }
        for folder in folders where folder.count == 2 {
            let path = "\(store.directory)/\(folder)"
            guard let files = try? manager.contentsOfDirectory(atPath: path) else { continue }
            for file in files {
                let full = "\(path)/\(file)"
                guard let attributes = try? manager.attributesOfItem(atPath: full) else { continue }
                let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
                let modified = (attributes[.modificationDate] as? Date) ?? now
                let isCheckpoint = CheckpointStore.isValid(file)
                // Leftover temporary files of a trainer that died mid-write go too, after the grace.
                let unreferenced = isCheckpoint ? !keep.contains(file) : file.hasSuffix(".tmp")
                if unreferenced && now.timeIntervalSince(modified) > grace,
                    deleteIfStillOld(full, grace: grace, now: now)
                {
                    outcome.deleted += 1
                    outcome.freedBytes += size
                } else if isCheckpoint {
                    outcome.kept += 1
                    outcome.keptBytes += size
                }
            }
        }
        return outcome
    }

    /// Deletes `path` if, read again under the lock, it is still older than `grace` (the
    /// checkpoint service may have touched it since the listing).
    private func deleteIfStillOld(_ path: String, grace: Double, now: Date) -> Bool {
        lock.withLock {
            var status = stat()
            guard stat(path, &status) == 0 else { return false }
            let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
            guard now.timeIntervalSince1970 - modified > grace else { return false }
            return unlink(path) == 0
        }
    }

    /// Bytes and files in the store now.
    public func usage() -> (files: Int, bytes: Int64) {
        let outcome = collect(keeping: [], grace: .infinity)
        return (outcome.kept, outcome.keptBytes)
    }
}
