import Foundation
import Logging

/// A log file that several threads write lines to: the log of one stage of a run whose
/// stages share one process, where each stage would otherwise have had its own stderr.
final class FileLog: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private let handle: FileHandle?

    /// Opens (creates, appends to) the file at `path`; a file that cannot be opened is not
    /// written (the stage still runs).
    init(path: String) {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    func write(_ line: String) {
        lock.withLock { try? handle?.write(contentsOf: Data((line + "\n").utf8)) }
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
