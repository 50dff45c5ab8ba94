#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file a user names for output (`--ready-file`, `pbt report -o`, `pbt replay -o`).
///
/// A regular file, or a new one, is written atomically: a temporary file beside it renamed
/// into place, so that a reader never sees half of it. Anything else already at the path
/// (`/dev/null`, `/dev/stdout`, a FIFO another program reads) is written into as it is and
/// never replaced: renaming over `/dev/null` as root would leave a regular file where every
/// program expects the null device.
public enum OutputFile {
    /// Why the text could not be written.
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens `path` to write into it. A FIFO is opened without blocking, again every 50 ms
    /// until a reader is there, so that a stop signal ends the wait (a blocking open would
    /// miss one that came just before it).
    static func openForWriting(_ path: String, fifo: Bool) throws(WriteError) -> Int32 {
        while true {
            let descriptor = open(path, O_WRONLY | O_CLOEXEC | (fifo ? O_NONBLOCK : 0))
            if descriptor >= 0 {
                if fifo { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK) }
                return descriptor
            }
            let failure = errno
            guard fifo && (failure == ENXIO || failure == EINTR) else {
                throw WriteError(description: "cannot open \(path): \(String(cString: strerror(failure)))")
            }
            if let signal = StopSignal.received {
                throw WriteError(description: "stopped by signal \(signal) while waiting for a reader of \(path)")
            }
            usleep(50_000)
        }
    }

    /// Why `path` cannot be made, in words a user can act on: its folder does not exist
    /// (unless `creatingFolders`, for a directory made with its parents), the nearest folder
    /// that exists is not a directory, or this process may not write in it. Nil when none of
    /// these holds (the caller then reports the system's own error).
    public static func folderProblem(of path: String, creatingFolders: Bool = false) -> String? {
        var folder = (path as NSString).deletingLastPathComponent
        if folder.isEmpty { folder = "." }
        var missing: String?
        while true {
            var status = stat()
            if stat(folder, &status) == 0 {
                if status.st_mode & S_IFMT != S_IFDIR { return "\(folder) is not a directory" }
                if let missing, !creatingFolders { return "its directory \(missing) does not exist" }
                if access(folder, W_OK) != 0 { return "this process may not write in \(folder)" }
                return nil
            }
            if missing == nil { missing = folder }
            let parent = (folder as NSString).deletingLastPathComponent
            if parent == folder { return nil }
            folder = parent.isEmpty ? "." : parent
        }
    }

    /// Why the directory `path` cannot be made with its parents, or written in (see
    /// `folderProblem`): nil when nothing in the way can be named.
    public static func directoryProblem(_ path: String) -> String? {
        folderProblem(of: path + "/file", creatingFolders: true)
    }

    /// Writes `text` to `path` (see the type's description). Every error says why in words.
    public static func write(_ text: String, to path: String) throws(WriteError) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG else {
            // A symbolic link stays one: the file it points at is what is replaced.
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath()
            do {
                try Data(text.utf8).write(to: target, options: .atomic)
            } catch {
                // Why, looked for only when it failed: a missing folder, a file in the way.
                throw WriteError(description: folderProblem(of: target.path) ?? error.localizedDescription)
            }
            return
        }
        if status.st_mode & S_IFMT == S_IFDIR { throw WriteError(description: "\(path) is a directory") }
        let descriptor = try openForWriting(path, fifo: status.st_mode & S_IFMT == S_IFIFO)
        defer { close(descriptor) }
        let failure = StandardStream.writeAll(text, to: descriptor)
        if let failure { throw WriteError(description: "cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
