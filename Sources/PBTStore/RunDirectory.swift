import Foundation

/// The files of one run.
///
///     RUN_DIR/
///       experiment.yml    the experiment file as run
///       events.jsonl      every event, one JSON object a line
///       summary.json      the outcome, written when the experiment ends
///       selector.sqlite   the selector's state, committed with every decision
///       checkpoints/      the content-addressed checkpoint store
///       logs/             each stage's log, when `pbt run` started the stages
public struct RunDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    public var experiment: String { "\(path)/experiment.yml" }
    public var events: String { "\(path)/events.jsonl" }
    public var summary: String { "\(path)/summary.json" }
    public var database: String { "\(path)/selector.sqlite" }
    public var checkpoints: String { "\(path)/checkpoints" }
    public var logs: String { "\(path)/logs" }

    /// Creates the directory and its subdirectories. Throws a `RunDirectoryError` that says
    /// which part of the path is in the way: a file where a directory should be, a directory
    /// this process may not write in, a name too long.
    public func create() throws(RunDirectoryError) {
        do throws(RunDirectoryError) {
            for directory in [path, logs, checkpoints] { try Self.makeDirectory(directory) }
            guard access(path, W_OK) == 0 else {
                throw RunDirectoryError("cannot write in \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            throw RunDirectoryError("cannot make the run directory \(path): \(error.description)")
        }
    }

    /// Makes `directory` and its missing parents (mkdir -p), naming the part that fails.
    private static func makeDirectory(_ directory: String) throws(RunDirectoryError) {
        var status = stat()
        if stat(directory, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw RunDirectoryError("\(directory) is a file, not a directory")
            }
            return
        }
        let parent = Self.parent(of: directory)
        if !parent.isEmpty, parent != directory { try makeDirectory(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            let reason = String(cString: strerror(errno))
            throw RunDirectoryError(parent.isEmpty ? reason : "\(reason) in \(parent)")
        }
    }

    /// The directory that holds `path` (`a/b` → `a`, `/a` → `/`, `a` → empty), by hand:
    /// Foundation's `deletingLastPathComponent` traps on a one-letter name such as `-o r`.
    public static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// Writes `text` to `file` atomically (a temporary file renamed into place).
    public static func writeAtomically(_ text: String, to file: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
    }

    /// The absolute form of `path`.
    public var absolute: String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// A run directory that cannot be made or written in, in words a person can act on.
public struct RunDirectoryError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// An append-only file of lines, flushed by the caller at the end of each batch.
public final class LineLog {
    private let file: UnsafeMutablePointer<FILE>
    public let path: String
    /// Bytes in the file, counting what is appended but not yet flushed.
    public private(set) var size: Int64

    public init(path: String) throws {
        guard let file = fopen(path, "a") else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [
                    NSFilePathErrorKey: path,
                    NSLocalizedDescriptionKey: "cannot open \(path): \(String(cString: strerror(errno)))",
                ])
        }
        self.file = file
        self.path = path
        var status = stat()
        size = fstat(fileno(file), &status) == 0 ? Int64(status.st_size) : 0
    }

    public func append(_ line: String) {
        var line = line
        line.append("\n")
        line.withUTF8 { buffer in size += Int64(fwrite(buffer.baseAddress, 1, buffer.count, file)) }
    }

    public func flush() {
        fflush(file)
    }

    /// Cuts the file back to its first `offset` bytes (when it is longer), so that lines
    /// appended after that point can be written again without appearing twice.
    public func truncate(to offset: Int64) throws {
        fflush(file)
        guard size > offset else { return }
        guard ftruncate(fileno(file), off_t(offset)) == 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [
                    NSFilePathErrorKey: path,
                    NSLocalizedDescriptionKey: "cannot truncate \(path): \(String(cString: strerror(errno)))",
                ])
        }
        size = offset
    }

    /// Ends the file's last line when it does not end in a newline (a log cut in a line, kept
    /// as it is by `--accept-partial-log`), so that the next event starts a line of its own.
    public func endLastLine() {
        fflush(file)
        guard size > 0, let reader = fopen(path, "r") else { return }
        defer { fclose(reader) }
        guard fseeko(reader, off_t(size - 1), SEEK_SET) == 0, fgetc(reader) != 0x0A else { return }
        append("")
    }

    deinit {
        fclose(file)
    }
}
