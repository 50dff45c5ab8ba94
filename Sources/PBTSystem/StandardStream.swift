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

    /// Writes all of `text`, or as much as the stream takes before an error. Returns whether
    /// all of it was written (false: the stream is closed, or its reader has gone).
    @discardableResult
    public func write(_ text: String) -> Bool {
        Self.writeAll(text, to: rawValue) == nil
    }

    /// Writes all of `text` to `descriptor`, going on after partial writes and interruptions.
    /// Returns nil, or the `errno` of the write that failed.
    public static func writeAll(_ text: String, to descriptor: Int32) -> Int32? {
        var text = text
        return text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return written < 0 ? errno : EIO }
                offset += written
            }
            return nil
        }
    }
}

extension StandardStream {
    /// Whether the stream is a pipe or a socket: a stream whose reader can go away.
    public var isPipe: Bool {
        var status = stat()
        guard fstat(rawValue, &status) == 0 else { return false }
        let kind = status.st_mode & S_IFMT
        return kind == S_IFIFO || kind == S_IFSOCK
    }

    /// Whether the reader of this pipe has gone: poll(2) reports an error or a hang-up on it,
    /// as it does on a pipe's write end once the read end is closed (`pbt events | head -1`
    /// after head exits), without anything written.
    public var readerHasGone: Bool {
        var descriptor = pollfd(fd: rawValue, events: 0, revents: 0)
        return poll(&descriptor, 1, 0) > 0 && descriptor.revents & Int16(POLLERR | POLLHUP) != 0
    }
}

/// write(2), apart from the method of the same name.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
