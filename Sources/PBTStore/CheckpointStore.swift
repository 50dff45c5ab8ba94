import Crypto
import Foundation
import PBTCore

/// Immutable, content-addressed checkpoints: a checkpoint's name is the sha256 of its bytes.
///
/// Writing the same bytes twice stores them once; exploiting hands over a name, never a
/// copy. A file is written under a temporary name and renamed into place, so a reader
/// never sees half a checkpoint, and every read checks the hash, so a damaged file is
/// never loaded.
///
///     checkpoints/
///       3f/3fa9…e1     (first two hex digits fan the files out)
public struct CheckpointStore: Sendable {
    /// Where the checkpoints live.
    public let directory: String

    /// Opens (and creates, if needed) the store at `directory`.
    public init(directory: String) throws(CheckpointError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .unavailable(directory: directory, reason: "\(error.localizedDescription)")
        }
    }

    /// Whether `reference` is a well-formed checkpoint name (64 lowercase hex digits).
    public static func isValid(_ reference: String) -> Bool {
        reference.utf8.count == 64
            && reference.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The sha256 of `bytes` in lowercase hex.
    public static func reference(of bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// A digest in lowercase hex.
    static func hex(_ digest: SHA256.Digest) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 2 * SHA256.byteCount) { text in
            var index = 0
            for byte in digest {
                text[index] = digits.utf8Start[Int(byte >> 4)]
                text[index + 1] = digits.utf8Start[Int(byte & 0x0f)]
                index += 2
            }
            return index
        }
    }

    /// The file that holds `reference`. The reference is checked first, so the path can
    /// never leave the store's directory.
    public func path(of reference: String) throws(CheckpointError) -> String {
        guard Self.isValid(reference) else { throw .invalidReference(reference) }
        return "\(directory)/\(reference.prefix(2))/\(reference)"
    }

    /// Whether the store holds `reference`: a regular file under its name (one `stat`; the
    /// name is its hash, and a file gets its name only once it is complete, by rename).
    public func contains(_ reference: String) -> Bool {
        Self.holds(reference, in: directory)
    }

    /// Whether the store in `directory` holds `reference`, without opening the store (a check
    /// of a run directory before anything starts).
    public static func holds(_ reference: String, in directory: String) -> Bool {
        guard isValid(reference) else { return false }
        var status = stat()
        return stat("\(directory)/\(reference.prefix(2))/\(reference)", &status) == 0
            && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// Stores `bytes` and returns their name.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws(CheckpointError) -> String {
        let reference = Self.reference(of: bytes)
        let target = try path(of: reference)
        // Already stored: keep it, unless the stored file was damaged; then write it again.
        if let stored = Self.contents(of: target), stored.count == bytes.count, Self.reference(of: stored) == reference
        {
            // Fresh again for the garbage collector's grace period: someone is about to refer to it.
            utimes(target, nil)
            return reference
        }
        let folder = "\(directory)/\(reference.prefix(2))"
        let temporary = "\(folder)/.\(reference).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 && errno == ENOENT {
            // The fan-out folder does not exist yet.
            if mkdir(folder, 0o755) != 0 && errno != EEXIST {
                throw .unavailable(directory: directory, reason: "cannot create \(folder): \(Self.lastError())")
            }
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else {
            throw .unavailable(directory: directory, reason: "cannot create \(temporary): \(Self.lastError())")
        }
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        let reason = written ? nil : Self.lastError()
        close(descriptor)
        guard written else {
            unlink(temporary)
            throw .unavailable(directory: directory, reason: "cannot write \(temporary): \(reason ?? "")")
        }
        if rename(temporary, target) != 0 {
            let reason = Self.lastError()
            unlink(temporary)
            throw .unavailable(directory: directory, reason: "rename into place failed: \(reason)")
        }
        return reference
    }

    /// The file in which the selector writes its store token (see `directory(_:holdsToken:)`).
    public static let tokenFile = ".pbt-store"

    /// Whether `directory` is the selector's that wrote `token` (a worker on the same disk);
    /// creates nothing.
    public static func directory(_ directory: String, holdsToken token: String) -> Bool {
        guard !token.isEmpty, let bytes = contents(of: directory + "/" + tokenFile),
            let text = String(validating: bytes, as: UTF8.self)
        else { return false }
        return text.trimmingCharacters(in: .whitespacesAndNewlines) == token
    }

    /// Where transfers in progress keep their bytes (`CheckpointIntake`): a folder the
    /// collector, which reads only the two-digit folders, never looks into.
    public static let incomingFolder = ".incoming"

    /// Deletes what transfers of an earlier process left in `.incoming` (call before any
    /// transfer starts).
    public func clearIncoming() {
        let folder = directory + "/" + Self.incomingFolder
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where file.hasSuffix(".tmp") {
            unlink(folder + "/" + file)
        }
    }

    /// Files in `.incoming` now (transfers in progress, or left by a crash).
    public func incomingCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + Self.incomingFolder)) ?? []).count
    }

    /// The size of `reference`'s file, or nil when the store does not hold it.
    public func size(of reference: String) -> Int? {
        guard let path = try? path(of: reference) else { return nil }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(status.st_size)
    }

    /// Marks `reference` as in use now (its modification time), so that the collector's grace
    /// counts from now; false when the store does not hold it.
    @discardableResult
    public func touch(_ reference: String) -> Bool {
        guard let path = try? path(of: reference) else { return false }
        return utimes(path, nil) == 0
    }

    /// Up to `length` bytes of `reference` from `offset`, and the file's whole size; nil when
    /// the store does not hold it. Reads only what is asked (a chunk of a large file).
    public func chunk(
        of reference: String, offset: Int, length: Int
    ) throws(CheckpointError) -> (
        bytes: [UInt8], size: Int
    )? {
        let file = try path(of: reference)
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        let size = Int(status.st_size)
        let count = max(0, min(length, size - offset))
        // Read straight into the array's storage (no zero-fill first: this is a transfer's hot path).
        var complete = true
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let read = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if read < 0 && errno == EINTR { continue }
                guard read > 0 else { break }
                done += read
            }
            complete = done == count
            initialized = done
        }
        guard complete else {
            throw .unavailable(directory: directory, reason: "cannot read \(file): \(Self.lastError())")
        }
        return (bytes, size)
    }

    /// Whether the file of `reference` is there and its bytes hash to the name, read in 1 MiB
    /// pieces (a large checkpoint is never held whole).
    public func verify(_ reference: String) -> Bool {
        guard let path = try? path(of: reference) else { return false }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return false }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
        return Self.hex(hasher.finalize()) == reference
    }

    /// Deletes the least recently used checkpoints until the store holds at most `bytes`,
    /// keeping those in `keep` (a worker's cache: content addressing keeps it consistent, so
    /// any file may go and be fetched again). Returns the files deleted.
    @discardableResult
    public func evict(toAtMost bytes: Int64, keeping keep: Set<String> = []) -> Int {
        var files: [(path: String, size: Int64, used: Double)] = []
        var total: Int64 = 0
        let manager = FileManager.default
        for folder in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] where folder.count == 2 {
            for name in (try? manager.contentsOfDirectory(atPath: "\(directory)/\(folder)")) ?? []
            where Self.isValid(name) {
                let path = "\(directory)/\(folder)/\(name)"
                var status = stat()
                guard stat(path, &status) == 0 else { continue }
                let size = Int64(status.st_size)
                total += size
                if !keep.contains(name) {
                    files.append((path, size, Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9))
                }
            }
        }
        guard total > bytes else { return 0 }
        var deleted = 0
        for file in files.sorted(by: { $0.used < $1.used }) where total > bytes {
            if unlink(file.path) == 0 {
                total -= file.size
                deleted += 1
            }
        }
        return deleted
    }

    /// Reads `reference`, checking that the bytes still hash to it.
    public func read(_ reference: String) throws(CheckpointError) -> [UInt8] {
        let file = try path(of: reference)
        guard let bytes = Self.contents(of: file) else { throw .missing(reference) }
        let actual = Self.reference(of: bytes)
        guard actual == reference else { throw .corrupt(reference: reference, actual: actual) }
        return bytes
    }

    /// The bytes of the file at `path`, or nil when it cannot be read (plain POSIX calls: this
    /// runs twice a training task, and Foundation's file reading costs several times as much).
    static func contents(of path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        let complete = bytes.withUnsafeMutableBytes { buffer -> Bool in
            var offset = 0
            while offset < size {
                let count = Glibc.read(descriptor, buffer.baseAddress! + offset, size - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        return complete ? bytes : nil
    }

    static func lastError() -> String {
        String(cString: strerror(errno))
    }
}

/// Why a checkpoint could not be stored or loaded.
public enum CheckpointError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidReference(String)
    case missing(String)
    case corrupt(reference: String, actual: String)
    case unavailable(directory: String, reason: String)

    public var description: String {
        switch self {
        case .invalidReference(let reference): "'\(reference.prefix(80))' is not a checkpoint reference (64 hex digits)"
        case .missing(let reference): "checkpoint \(reference.prefix(12))… is not in the store"
        case .corrupt(let reference, let actual):
            "checkpoint \(reference.prefix(12))… fails its hash check (the file hashes to \(actual.prefix(12))…); not loaded"
        case .unavailable(let directory, let reason): "checkpoint store \(directory): \(reason)"
        }
    }
}
