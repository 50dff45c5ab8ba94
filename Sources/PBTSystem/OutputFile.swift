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

    /// Writes `text` to `path` (see the type's description).
    public static func write(_ text: String, to path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG else {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            return
        }
        if status.st_mode & S_IFMT == S_IFDIR { throw WriteError(description: "\(path) is a directory") }
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw WriteError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let failure = StandardStream.writeAll(text, to: descriptor)
        if let failure { throw WriteError(description: "cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
