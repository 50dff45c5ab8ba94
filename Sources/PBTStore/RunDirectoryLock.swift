import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A selector's hold on its run directory: an exclusive `flock` on `RUN_DIR/selector.lock`,
/// held for as long as the lock lives, so that a second selector on the same directory (a
/// second `pbt run --resume`, a selector started by hand) is refused rather than writing the
/// same store and log. The kernel lets go of it when the process ends, however it ends.
public final class RunDirectoryLock {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock, or throws naming the process that holds it.
    public init(run: RunDirectory) throws(RunDirectoryError) {
        path = run.path + "/selector.lock"
        // Close-on-exec: a program a stage starts must not hold the lock after the stage ends.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunDirectoryError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        // Refused only when another holds it: a file system without locks (some network or
        // FUSE mounts) runs unlocked, as before the lock existed.
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            let holder = Self.holder(descriptor)
            close(descriptor)
            throw RunDirectoryError(
                "\(run.path) is in use by another selector\(holder.map { " (pid \($0))" } ?? ""): one run directory takes one selector at a time; wait for it to stop, or use another directory"
            )
        }
        self.descriptor = descriptor
        // Who holds it, for the message a second selector gets.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
    }

    deinit { close(descriptor) }

    /// The pid written in the lock file, if it reads.
    private static func holder(_ descriptor: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer.prefix(count), as: UTF8.self)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
