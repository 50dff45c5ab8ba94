#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output and standard error, written with write(2) and never a trap.
///
/// `FileHandle.write(_:)` traps when a write fails, which it does when the stream is closed
/// (`pbt … 2>&-`) or is a pipe whose reader has gone (`pbt events | head -1`, EPIPE, with
/// SIGPIPE ignored as `StopSignal.install()` does). A message nobody can read is not worth
/// dying for: these writes give up silently.
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes all of `text`, or as much as the stream takes before an error.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(rawValue, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// write(2), apart from the method of the same name.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
