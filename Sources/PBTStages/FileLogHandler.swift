import Foundation

#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A log file that several threads write lines to: the log of one stage of a run whose
/// stages share one process, where each stage would otherwise have had its own stderr.
final class FileLog: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    /// Opened to append (O_APPEND), so that lines from a program that writes to the same file
    /// (a command workload's stderr) are never written over; -1 when it cannot be opened.
    private let descriptor: Int32

    /// Opens (creates, appends to) the file at `path`; a file that cannot be opened is not
    /// written (the stage still runs).
    init(path: String) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    func write(_ line: String) {
        guard descriptor >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        lock.withLock {
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }

    /// The time as `StreamLogHandler` writes it (`2026-12-06T23:46:23+0000`).
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A swift-log handler that writes to a `FileLog`, in `StreamLogHandler`'s format:
/// `TIME LEVEL LABEL: [SOURCE] MESSAGE METADATA`.
struct FileLogHandler: LogHandler {
    let label: String
    let file: FileLog
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields =
            merged.isEmpty
            ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        file.write("\(FileLog.timestamp()) \(event.level) \(label):\(fields) [\(event.source)] \(event.message)")
    }
}
