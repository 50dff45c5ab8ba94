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
    static func openForWriting(_ path: String, fifo: Bool) throws -> Int32 {
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

    /// Writes `text` to `path` (see the type's description).
    public static func write(_ text: String, to path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG else {
            // A symbolic link stays one: the file it points at is what is replaced.
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath()
            try Data(text.utf8).write(to: target, options: .atomic)
            return
        }
        if status.st_mode & S_IFMT == S_IFDIR { throw WriteError(description: "\(path) is a directory") }
        let descriptor = try openForWriting(path, fifo: status.st_mode & S_IFMT == S_IFIFO)
        defer { close(descriptor) }
        let failure = StandardStream.writeAll(text, to: descriptor)
        if let failure { throw WriteError(description: "cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
