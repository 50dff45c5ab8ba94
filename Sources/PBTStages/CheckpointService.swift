import Foundation
import Logging
import PBTCore
import PBTStageLoop
import PBTStore
import PBTSystem
import PBTWire
import Synchronization
import ZeroMQ

/// The checkpoint service: the selector's store, served over ZeroMQ to trainers and
/// evaluators that share no disk with it (`StoreProtocol`). It runs in the selector's process,
/// on a thread and a ROUTER socket of its own: the store, its garbage collector and the
/// references the collector keeps are the selector's, so a second stateful stage (and a second
/// volume to keep) would buy nothing, while the thread keeps transfers off the decision loop.
///
///     worker DEALER ──get/has/offer/chunk──▶ ROUTER (binds) ── pread / CheckpointIntake ── RUN_DIR/checkpoints
///                   ◀──data/missing/want/stored/refused──
///
/// Fetches are stateless (each `get` reads one chunk with `pread`); each upload is a
/// `CheckpointIntake` that asks for `window` chunks at a time, so the memory a transfer holds
/// is bounded by `window × chunkBytes` whatever the checkpoint's size. An upload that goes
/// quiet for `uploadTimeout` is abandoned (its temporary file deleted); at most
/// `maximumUploads` run at once, and an offer past that is refused (the worker offers again).
final class CheckpointService: @unchecked Sendable {
    /// Bytes a chunk carries.
    static let chunkBytes = 1 << 20
    /// Chunks an upload has asked for and not yet received.
    static let window = 8
    /// Seconds an upload may go without a chunk before it is abandoned.
    static let uploadTimeout = 30.0
    /// Uploads in progress at most (each holds a file open).
    static let maximumUploads = 64
    /// Uploads in progress at most from one peer (pbt's workers upload one at a time), so that
    /// one peer cannot hold every slot.
    static let maximumUploadsPerPeer = 4
    /// Messages the socket queues at most for one peer, each way: a peer that asks and never
    /// reads holds at most this many chunks in the selector's memory.
    static let highWaterMark: Int32 = 64
    /// Seconds between two touches of a checkpoint being fetched (its modification time is the
    /// collector's clock: a checkpoint being fetched stays younger than the grace).
    static let touchInterval = 1.0

    /// What the service did, for the selector's log and `summary.json`.
    struct Counters: Sendable {
        var bytesServed = 0
        var bytesStored = 0
        var uploadsStored = 0
        var uploadsAbandoned = 0
        var uploadsRefused = 0
        var fetchesMissing = 0
    }

    let endpoint: String
    private let socket: ZMQSocket
    private let store: CheckpointStore
    /// Shared with the selector's collector: a touch or a rename never interleaves with its deletes.
    private let lock: CheckpointLock
    private let logger: Logger
    private let drops = DropCounter(stage: "store", worker: "store")
    private let stopping = Atomic<Bool>(false)
    private let finished = NSCondition()
    private var done = false
    private let shared = Mutex<(events: [PBTEvent], counters: Counters)>(([], Counters()))

    private struct Upload {
        let intake: CheckpointIntake
        /// Who offered it.
        let peer: [UInt8]
        /// The next offset to ask for.
        var asked: Int
        var lastHeard: Double
    }
    private var uploads: [[UInt8]: Upload] = [:]
    private var touched: [String: Double] = [:]

    /// Binds the service's socket (secured by the caller first, when the run uses CURVE) and
    /// starts its thread.
    init(socket: ZMQSocket, bind: String, store: CheckpointStore, lock: CheckpointLock, logger: Logger) throws {
        self.socket = socket
        self.store = store
        self.lock = lock
        self.logger = logger
        try socket.setRouterMandatory(true)
        // Twice the largest chunk: a chunk over the limit reaches the decoder and is counted
        // (oversized) instead of libzmq dropping it, and its connection, without a word.
        try socket.setMaximumMessageSize(Int64(StoreProtocol.maximumChunkBytes) * 2 + 8192)
        try socket.setSendHighWaterMark(Self.highWaterMark)
        try socket.setReceiveHighWaterMark(Self.highWaterMark)
        try socket.bind(bind, option: "--store-bind")
        endpoint = try socket.lastEndpoint
        store.clearIncoming()
        let thread = Thread { [self] in
            ThreadName.set("pbt-checkpoints")
            serve()
            finished.lock()
            done = true
            finished.broadcast()
            finished.unlock()
        }
        thread.start()
    }

    /// Stops the thread and waits for it; uploads in progress are abandoned.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        finished.lock()
        while !done { finished.wait() }
        finished.unlock()
    }

    /// Events the service has to say (dropped frames), taken once; the selector publishes them.
    func takeEvents() -> [PBTEvent] {
        shared.withLock { state in
            defer { state.events = [] }
            return state.events
        }
    }

    var counters: Counters { shared.withLock { $0.counters } }

    private func serve() {
        while !stopping.load(ordering: .relaxed) {
            do {
                let readable = try ZMQPoll.readable([socket], timeoutMilliseconds: StageTiming.pollMilliseconds)
                if readable[0] {
                    var handled = 0
                    while handled < StageTiming.messagesPerTurn, let frames = try socket.receive(dontWait: true) {
                        handled += 1
                        handle(frames)
                    }
                }
                expireUploads(now: Clock.monotonic)
            } catch {
                logger.error("checkpoint service: \(error)")
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        for (_, upload) in uploads { upload.intake.abandon() }
        uploads = [:]
        socket.close()
    }

    private func handle(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else {
            drop(reason: WireError.wrongFrameCount(frames.count).reason, detail: "\(frames.count) frames")
            return
        }
        let peer = frames[0]
        let request: StoreProtocol.Request
        let bytes: [UInt8]
        do {
            (request, bytes) = try StoreProtocol.decodeRequest(Array(frames.dropFirst()))
        } catch {
            drop(reason: error.reason, detail: "\(error) from \(WorkerID(peer))")
            return
        }
        switch request {
        case .get(let reference, let offset, let length):
            fetch(reference, offset: offset, length: min(length, Self.chunkBytes), to: peer)
        case .has(let reference):
            reply(store.contains(reference) ? .stored(reference: reference) : .missing(reference: reference), to: peer)
        case .offer(let reference, let size):
            offer(reference, size: size, from: peer)
        case .chunk(let reference, let offset):
            take(bytes, of: reference, at: offset, from: peer)
        }
    }

    private func fetch(_ reference: String, offset: Int, length: Int, to peer: [UInt8]) {
        let now = Clock.monotonic
        if now - (touched[reference] ?? -.infinity) >= Self.touchInterval {
            lock.withLock { _ = store.touch(reference) }
            touched[reference] = now
            if touched.count > 10_000 { touched = touched.filter { now - $0.value < Self.touchInterval } }
        }
        do {
            guard let (chunk, size) = try store.chunk(of: reference, offset: offset, length: length) else {
                shared.withLock { $0.counters.fetchesMissing += 1 }
                reply(.missing(reference: reference), to: peer)
                return
            }
            shared.withLock { $0.counters.bytesServed += chunk.count }
            reply(.data(reference: reference, offset: offset, size: size), bytes: chunk, to: peer)
        } catch {
            logger.warning("checkpoint service: \(error)")
            reply(.missing(reference: reference), to: peer)
        }
    }

    private func offer(_ reference: String, size: Int, from peer: [UInt8]) {
        let key = peer + Array(reference.utf8)
        uploads.removeValue(forKey: key)?.intake.abandon()
        // Already here, whole (the same bytes from an earlier try): nothing moves. Checked
        // against its name first, so a damaged file is replaced by the upload, never confirmed.
        if store.size(of: reference) == size, store.verify(reference), lock.withLock({ store.touch(reference) }) {
            reply(.stored(reference: reference), to: peer)
            return
        }
        guard uploads.count < Self.maximumUploads else {
            shared.withLock { $0.counters.uploadsRefused += 1 }
            reply(.refused(reference: reference, reason: "busy: \(uploads.count) uploads in progress"), to: peer)
            return
        }
        let fromPeer = uploads.values.filter { $0.peer == peer }.count
        guard fromPeer < Self.maximumUploadsPerPeer else {
            shared.withLock { $0.counters.uploadsRefused += 1 }
            reply(
                .refused(reference: reference, reason: "busy: this peer has \(fromPeer) uploads in progress"), to: peer)
            return
        }
        do {
            let intake = try CheckpointIntake(store: store, reference: reference, size: size)
            var upload = Upload(intake: intake, peer: peer, asked: 0, lastHeard: Clock.monotonic)
            if size == 0 {
                try intake.finish(lock: lock)
                reply(.stored(reference: reference), to: peer)
                return
            }
            ask(&upload, reference: reference, peer: peer)
            uploads[key] = upload
        } catch {
            reply(.refused(reference: reference, reason: "\(error)"), to: peer)
        }
    }

    /// Asks for chunks until `window` are out or the whole file is asked for.
    private func ask(_ upload: inout Upload, reference: String, peer: [UInt8]) {
        let size = upload.intake.size
        while upload.asked < size && upload.asked - upload.intake.received < Self.window * Self.chunkBytes {
            let length = min(Self.chunkBytes, size - upload.asked)
            reply(.want(reference: reference, offset: upload.asked, length: length), to: peer)
            upload.asked += length
        }
    }

    private func take(_ bytes: [UInt8], of reference: String, at offset: Int, from peer: [UInt8]) {
        let key = peer + Array(reference.utf8)
        guard var upload = uploads[key] else {
            drop(
                reason: "unexpected_chunk",
                detail: "a chunk of \(reference.prefix(12))… nobody offered, from \(WorkerID(peer))")
            // Its sender hears at once, rather than after its reply timeout, that no upload
            // of it is in progress here (it went quiet and was abandoned, or never began).
            reply(
                .refused(reference: reference, reason: "no upload of this checkpoint in progress: offer it first"),
                to: peer)
            return
        }
        do {
            // Each chunk is the one asked for next, whole (the intake checks its offset): a short
            // one would keep an upload alive on a byte at a time.
            let wanted = min(Self.chunkBytes, upload.intake.size - upload.intake.received)
            guard bytes.count == wanted else {
                throw CheckpointError.unavailable(
                    directory: store.directory,
                    reason:
                        "a chunk of \(bytes.count) bytes at \(offset), where the next wanted was \(wanted) bytes at \(upload.intake.received)"
                )
            }
            try upload.intake.append(bytes, at: offset)
            upload.lastHeard = Clock.monotonic
            shared.withLock { $0.counters.bytesStored += bytes.count }
            if upload.intake.isComplete {
                uploads[key] = nil
                try upload.intake.finish(lock: lock)
                shared.withLock { $0.counters.uploadsStored += 1 }
                reply(.stored(reference: reference), to: peer)
                return
            }
            ask(&upload, reference: reference, peer: peer)
            uploads[key] = upload
        } catch {
            uploads[key] = nil
            upload.intake.abandon()
            shared.withLock { $0.counters.uploadsAbandoned += 1 }
            reply(.refused(reference: reference, reason: "\(error)"), to: peer)
        }
    }

    private func expireUploads(now: Double) {
        for (key, upload) in uploads where now - upload.lastHeard > Self.uploadTimeout {
            uploads[key] = nil
            upload.intake.abandon()
            shared.withLock { $0.counters.uploadsAbandoned += 1 }
            logger.warning(
                "checkpoint service: an upload of \(upload.intake.reference.prefix(12))… went quiet at \(upload.intake.received) of \(upload.intake.size) bytes; abandoned"
            )
        }
    }

    private func reply(_ reply: StoreProtocol.Reply, bytes: [UInt8] = [], to peer: [UInt8]) {
        do {
            _ = try socket.send([peer] + StoreProtocol.encode(reply, bytes: bytes), dontWait: true)
        } catch {
            // The peer is gone (ROUTER_MANDATORY): its transfer ends with it.
            logger.debug("checkpoint service: cannot answer \(WorkerID(peer)): \(error)")
        }
    }

    private func drop(reason: String, detail: String) {
        if let event = drops.drop(reason: reason, detail: detail, log: { logger.warning("\($0)") }) {
            shared.withLock { $0.events.append(event) }
        }
    }
}
