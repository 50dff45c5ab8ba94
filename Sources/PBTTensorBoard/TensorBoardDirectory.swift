import Foundation
import PBTSystem
import PBTTensorBoardProto
import SwiftProtobuf

/// A TensorBoard log directory being written: one event file a run, made by this writer.
///
///     DIR/events.out.tfevents.…          the experiment (HParams experiment, progress)
///     DIR/member-000/events.out.tfevents.…   one member
///
/// Records wait in memory until `flush()`, which appends each run's waiting records to its
/// file with one `write` (looping only if the kernel takes part of it). A file therefore ends
/// on a whole record after every flush, and a reader that catches one mid-write sees a record
/// cut short at the end, which TensorBoard's reader waits out. Every writer makes new files
/// (named by time, host, process and a counter) and never opens one it did not make, so a
/// writer started again on the same directory adds files beside the old ones instead of
/// writing into them.
public final class TensorBoardDirectory {
    public let path: String
    /// Per run: its file, and the bytes waiting for it.
    private var files: [String: String] = [:]
    private var waiting: [String: [UInt8]] = [:]
    /// Files this writer has made (the first flush of a run makes its file, and fails rather
    /// than write into a file someone else made).
    private var made: Set<String> = []
    public private(set) var waitingBytes = 0
    public private(set) var recordsWritten = 0
    public private(set) var bytesWritten = 0
    private let stamp: String

    /// Writes into `path` (created if missing).
    public init(path: String) throws(TensorBoardError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError(
                "cannot create \(path): \(OutputFile.directoryProblem(path) ?? error.localizedDescription)"
            )
        }
        let host = ProcessInfo.processInfo.hostName.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        // Time, host and process, and a random token for two writers of one process in one second.
        let token = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        stamp = "\(Int(Date().timeIntervalSince1970)).\(String(host.prefix(64))).\(getpid()).\(token)"
    }

    /// Runs with a file so far.
    public var runs: [String] { files.keys.sorted() }

    /// The event file of `run` (made on its first record).
    public func file(of run: String) -> String? { files[run] }

    /// Queues records for their runs' files.
    public func add(_ records: [TensorBoardRecord]) {
        for record in records { add(record.event, to: record.run) }
    }

    /// Queues one event for `run`'s file; a run's first event is the file's version record.
    public func add(_ event: Tensorboard_Event, to run: String) {
        if files[run] == nil {
            let directory = run.isEmpty ? path : path + "/" + run
            files[run] = "\(directory)/events.out.tfevents.\(stamp).\(files.count).pbt"
            append(Summaries.fileVersion(time: event.wallTime), to: run)
        }
        append(event, to: run)
    }

    private func append(_ event: Tensorboard_Event, to run: String) {
        // Serializing a message built in memory cannot fail (it has no required fields).
        guard let bytes: [UInt8] = try? event.serializedBytes() else { return }
        let before = waiting[run]?.count ?? 0
        TFRecord.append(bytes, to: &waiting[run, default: []])
        waitingBytes += (waiting[run]?.count ?? 0) - before
        recordsWritten += 1
    }

    /// Appends every run's waiting records to its file.
    public func flush() throws(TensorBoardError) {
        for run in waiting.keys.sorted() {
            guard let bytes = waiting[run], !bytes.isEmpty, let file = files[run] else { continue }
            let directory = (file as NSString).deletingLastPathComponent
            if !FileManager.default.fileExists(atPath: directory) {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw TensorBoardError("cannot create \(directory): \(error.localizedDescription)")
                }
            }
            try Self.append(bytes, to: file, create: made.insert(file).inserted)
            bytesWritten += bytes.count
            waitingBytes -= bytes.count
            waiting[run] = []
        }
    }

    /// Appends `bytes` to `file`; `create`: the file must not exist yet.
    static func append(_ bytes: [UInt8], to file: String, create: Bool) throws(TensorBoardError) {
        let descriptor = open(file, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0o644)
        guard descriptor >= 0 else {
            throw TensorBoardError("cannot open \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw TensorBoardError("cannot write \(file): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// The event files under `path` (in it and in its run directories), for a writer that
    /// must not add to an earlier conversion.
    public static func eventFiles(under path: String) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        var found: [String] = []
        for entry in entries.sorted() {
            let full = path + "/" + entry
            if entry.contains("tfevents") {
                found.append(full)
            } else if let inner = try? FileManager.default.contentsOfDirectory(atPath: full) {
                found += inner.filter { $0.contains("tfevents") }.sorted().map { full + "/" + $0 }
            }
        }
        return found
    }
}

/// A TensorBoard directory that cannot be written, or a log that cannot be read.
public struct TensorBoardError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
