import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A directory of scratch files that does not outlive its owner for long: the owner holds an
/// exclusive `flock` on `.owner` inside it while it lives, and whoever makes a new directory
/// of the same prefix removes the ones whose lock nobody holds any more (their owners were
/// killed before they could tidy up). The kernel lets go of a lock when its process ends,
/// however it ends, and a lock is seen across PID namespaces on one file system, so a live
/// owner in another container sharing the directory keeps its scratch.
public final class ScratchDirectory: @unchecked Sendable {
    /// The directory, e.g. `/tmp/pbt-command-1234-567`.
    public let path: String
    private let parent: String
    private let prefix: String
    private let lock = NSLock()
    private var descriptor: Int32 = -1

    /// A directory not yet made: `PARENT/PREFIXpid-random`.
    public init(prefix: String, in parent: String = NSTemporaryDirectory()) {
        self.parent = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        self.prefix = prefix
        path = "\(self.parent)/\(prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
        if descriptor >= 0 { close(descriptor) }
    }

    /// Makes the directory and takes its lock, the first time (and again if someone removed
    /// it); the first time, sweeps the directories of owners that are gone.
    public func make() throws {
        lock.lock()
        defer { lock.unlock() }
        if descriptor >= 0 && FileManager.default.fileExists(atPath: path + "/.owner") { return }
        let first = descriptor < 0
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let descriptor = open(path + "/.owner", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ScratchDirectoryError("cannot open \(path)/.owner: \(String(cString: strerror(errno)))")
        }
        _ = flock(descriptor, LOCK_EX | LOCK_NB)
        self.descriptor = descriptor
        if first { Self.sweep(parent: parent, prefix: prefix, except: path) }
    }

    /// How long a directory's lock file must have existed before an unheld lock means its owner
    /// is gone: a new owner makes the file and locks it a moment later.
    public static let settled: TimeInterval = 60

    /// Removes `PARENT/PREFIX*` directories whose `.owner` is unlocked and older than `settled`;
    /// returns the paths removed. Directories without a lock file are left alone.
    @discardableResult
    public static func sweep(parent: String, prefix: String, except: String? = nil, now: Date = Date()) -> [String] {
        var removed: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for name in names where name.hasPrefix(prefix) {
            let directory = "\(parent)/\(name)"
            // A directory of its own, not a link to somewhere else (the item itself, unfollowed).
            guard directory != except,
                (try? FileManager.default.attributesOfItem(atPath: directory))?[.type] as? FileAttributeType
                    == .typeDirectory
            else { continue }
            let owner = directory + "/.owner"
            guard let made = (try? FileManager.default.attributesOfItem(atPath: owner))?[.modificationDate] as? Date,
                now.timeIntervalSince(made) >= settled
            else { continue }
            let descriptor = open(owner, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }  // its owner lives
            if (try? FileManager.default.removeItem(atPath: directory)) != nil { removed.append(directory) }
        }
        return removed
    }
}

/// A scratch directory that cannot be made.
public struct ScratchDirectoryError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
