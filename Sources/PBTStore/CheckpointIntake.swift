import Crypto
import Foundation

/// A checkpoint arriving in chunks, in order (an upload at the service, a download into a
/// worker's cache): written to a temporary file in the store's `.incoming` folder and hashed
/// as it comes, then renamed to its name only if every byte is there and the bytes hash to it.
/// A name therefore never holds a partial or a wrong file; a transfer that dies leaves a
/// temporary file that `abandon` (or the next `CheckpointStore.clearIncoming`) deletes.
public final class CheckpointIntake {
    public let reference: String
    /// The whole checkpoint's size in bytes.
    public let size: Int
    /// Bytes received so far (the offset the next chunk must start at).
    public private(set) var received = 0
    private let store: CheckpointStore
    private let temporary: String
    private var descriptor: Int32
    private var hasher = SHA256()

    /// Opens the temporary file for `reference`, `size` bytes long.
    public init(store: CheckpointStore, reference: String, size: Int) throws(CheckpointError) {
        _ = try store.path(of: reference)
        self.store = store
        self.reference = reference
        self.size = size
        let folder = store.directory + "/" + CheckpointStore.incomingFolder
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            throw .unavailable(
                directory: store.directory, reason: "cannot create \(folder): \(CheckpointStore.lastError())")
        }
        temporary = "\(folder)/\(reference).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .unavailable(
                directory: store.directory, reason: "cannot create \(temporary): \(CheckpointStore.lastError())")
        }
    }

    deinit {
        abandon()
    }

    /// Whether every byte has arrived.
    public var isComplete: Bool { received == size }

    /// Takes the chunk that starts at `offset` (which must be `received`).
    public func append(_ bytes: [UInt8], at offset: Int) throws(CheckpointError) {
        guard descriptor >= 0 else { throw .unavailable(directory: store.directory, reason: "transfer closed") }
        guard offset == received, received + bytes.count <= size else {
            throw .unavailable(
                directory: store.directory,
                reason: "chunk at \(offset) (\(bytes.count) bytes) out of order: expected \(received) of \(size)")
        }
        hasher.update(data: bytes)
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        guard written else {
            let reason = CheckpointStore.lastError()
            abandon()
            throw .unavailable(directory: store.directory, reason: "cannot write \(temporary): \(reason)")
        }
        received += bytes.count
    }

    /// Checks the bytes against the name and renames the file into place (under `lock`, when
    /// the store has a collector that must not interleave with it).
    public func finish(lock: CheckpointLock? = nil) throws(CheckpointError) {
        guard isComplete else {
            throw .unavailable(directory: store.directory, reason: "transfer incomplete: \(received) of \(size) bytes")
        }
        let actual = CheckpointStore.hex(hasher.finalize())
        close(descriptor)
        descriptor = -1
        guard actual == reference else {
            unlink(temporary)
            throw .corrupt(reference: reference, actual: actual)
        }
        let target = try store.path(of: reference)
        let folder = "\(store.directory)/\(reference.prefix(2))"
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            unlink(temporary)
            throw .unavailable(
                directory: store.directory, reason: "cannot create \(folder): \(CheckpointStore.lastError())")
        }
        let renamed = lock.map { lock in lock.withLock { rename(temporary, target) } } ?? rename(temporary, target)
        if renamed != 0 {
            let reason = CheckpointStore.lastError()
            unlink(temporary)
            throw .unavailable(directory: store.directory, reason: "rename into place failed: \(reason)")
        }
    }

    /// Gives the transfer up: the temporary file goes.
    public func abandon() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporary)
    }
}
