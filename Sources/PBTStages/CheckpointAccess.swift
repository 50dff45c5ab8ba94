import Foundation
import Logging
import PBTCore
import PBTSecurity
import PBTStageLoop
import PBTStore
import PBTSystem
import PBTWire
import ZeroMQ

/// How a trainer or an evaluator reaches checkpoints: the selector's store itself, on a disk
/// they share, or the checkpoint service over ZeroMQ with a bounded local cache.
///
///     shared:   read/write RUN_DIR/checkpoints directly (one machine, or a shared volume)
///     service:  cache hit → read locally; miss → fetch from the service into the cache;
///               write → into the cache, then store at the service before the result goes on
///
/// Content addressing keeps the cache consistent whatever happens: a name holds the bytes that
/// hash to it or nothing, so a member that stays on one trainer never downloads its own
/// checkpoint, and any cached file may be evicted and fetched again.
final class CheckpointAccess: @unchecked Sendable {
    /// The store read and written here: the selector's (shared), or this worker's cache.
    let local: CheckpointStore
    private let service: CheckpointServiceClient?
    private let cacheBytes: Int64

    /// The shared store.
    init(shared store: CheckpointStore) {
        local = store
        service = nil
        cacheBytes = .max
    }

    /// The service, with `cache` as the local cache, kept under `cacheBytes`.
    init(service: CheckpointServiceClient, cache: CheckpointStore, cacheBytes: Int64) {
        local = cache
        self.service = service
        self.cacheBytes = cacheBytes
    }

    var isShared: Bool { service == nil }

    /// Where checkpoints come from, for messages.
    var description: String {
        service.map { "the checkpoint service at \($0.endpoint) (cache \(local.directory))" }
            ?? "the store at \(local.directory)"
    }

    /// The checkpoint's bytes, checked against its name; fetched first when not here.
    /// `heartbeat` is called about once a second while the service is waited for (a task on
    /// the worker's loop thread keeps its worker from falling silent that way).
    func read(_ reference: String, heartbeat: () -> Void = {}) throws(CheckpointError) -> [UInt8] {
        guard let service else { return try local.read(reference) }
        if local.contains(reference), let bytes = try? local.read(reference) {
            local.touch(reference)
            return bytes
        }
        try service.fetch(reference, into: local, heartbeat: heartbeat)
        local.evict(toAtMost: cacheBytes, keeping: [reference])
        return try local.read(reference)
    }

    /// The local file of a checkpoint (a command workload reads it itself), fetched first when
    /// not here.
    func path(of reference: String, heartbeat: () -> Void = {}) throws(CheckpointError) -> String {
        if let service, !local.contains(reference) {
            try service.fetch(reference, into: local, heartbeat: heartbeat)
            local.evict(toAtMost: cacheBytes, keeping: [reference])
        }
        return try local.path(of: reference)
    }

    /// Stores `bytes`: in the shared store, or in the cache and then at the service. Returns
    /// the reference once anyone in the run can load it. `heartbeat` as for `read`; its false
    /// (the worker is stopping) ends a wait for a busy service.
    func write(_ bytes: [UInt8], heartbeat: () -> Bool = { true }) throws(CheckpointError) -> String {
        let reference = try local.write(bytes)
        if let service {
            try service.store(reference, from: local, heartbeat: heartbeat)
            local.evict(toAtMost: cacheBytes, keeping: [reference])
        }
        return reference
    }

    /// Whether anyone in the run can load `reference` (one `stat`, or a question to the
    /// service, which throws when the service does not answer: that is not the trainer's fault).
    func contains(_ reference: String, heartbeat: () -> Void = {}) throws(CheckpointError) -> Bool {
        guard let service else { return local.contains(reference) }
        return try service.has(reference, heartbeat: heartbeat)
    }
}

/// A worker's side of the checkpoint service (`StoreProtocol`): one DEALER, used by one thread
/// at a time (the task's), each call synchronous with a deadline on every reply it waits for.
/// A transfer that fails midway is given up whole (the cache keeps no partial file) and the
/// socket is made again, so that no late reply of it is read as part of the next.
public final class CheckpointServiceClient: @unchecked Sendable {
    /// Seconds without a reply after which a transfer fails (the task fails, and the member
    /// goes out again).
    static let replyTimeout = 30.0
    /// Chunks a fetch keeps asked for at once.
    static let window = 8
    /// Seconds a store goes on offering a checkpoint the service refuses as busy (it is at
    /// its limit of uploads at once: many trainers finished together) before it gives up and
    /// the task fails; the pause between offers grows by `busyPause` up to a second.
    static let busyPatience = 60.0
    /// Seconds added to the pause after each busy refusal.
    static let busyPause = 0.05

    public let endpoint: String
    private let context: ZMQContext
    private let security: CurveSecurity?
    private let logger: Logger
    private var socket: ZMQSocket?

    public init(endpoint: String, context: ZMQContext, security: CurveSecurity?, logger: Logger) {
        self.endpoint = endpoint
        self.context = context
        self.security = security
        self.logger = logger
    }

    deinit {
        socket?.close()
    }

    private func connected() throws(CheckpointError) -> ZMQSocket {
        if let socket { return socket }
        do {
            let socket = try ZMQSocket(context, .dealer, linger: 0)
            try socket.setMaximumMessageSize(Int64(StoreProtocol.maximumChunkBytes) + 8192)
            try socket.setReconnect(
                intervalMilliseconds: StageTiming.reconnectMilliseconds,
                maximumMilliseconds: StageTiming.reconnectMaximumMilliseconds)
            if let security { try socket.secureClient(security) }
            try socket.connect(endpoint)
            self.socket = socket
            return socket
        } catch {
            throw .unavailable(directory: endpoint, reason: "cannot connect to the checkpoint service: \(error)")
        }
    }

    /// Drops the socket after a failed transfer: the next call starts clean.
    private func reset() {
        socket?.close()
        socket = nil
    }

    private func send(_ frames: [[UInt8]]) throws(CheckpointError) {
        let socket = try connected()
        do {
            _ = try socket.send(frames)
        } catch {
            reset()
            throw .unavailable(directory: endpoint, reason: "cannot reach the checkpoint service: \(error)")
        }
    }

    /// The next reply, or an error after `replyTimeout` seconds of silence; `heartbeat` is
    /// called at least once a second while it waits (it limits itself: `HeartbeatTimer`).
    private func receive(
        _ what: String, heartbeat: () -> Void
    ) throws(CheckpointError) -> (
        StoreProtocol.Reply, [UInt8]
    ) {
        let socket = try connected()
        let deadline = Clock.monotonic + Self.replyTimeout
        while true {
            heartbeat()
            let left = deadline - Clock.monotonic
            guard left > 0 else {
                reset()
                throw .unavailable(
                    directory: endpoint,
                    reason: "the checkpoint service did not answer for \(Int(Self.replyTimeout)) s (\(what))")
            }
            let frames: [[UInt8]]?
            do {
                frames = try socket.receive(timeoutMilliseconds: Int(min(left, 1) * 1000))
            } catch {
                reset()
                throw .unavailable(directory: endpoint, reason: "checkpoint service: \(error)")
            }
            guard let frames else { continue }
            do {
                return try StoreProtocol.decodeReply(frames)
            } catch {
                logger.warning("checkpoint service sent a bad reply (\(error)); ignored")
            }
        }
    }

    /// Fetches `reference` into `cache`, checking every byte against the name before it is
    /// given the name.
    public func fetch(
        _ reference: String, into cache: CheckpointStore, heartbeat: () -> Void = {}
    ) throws(CheckpointError) {
        do {
            let timer = HeartbeatTimer()
            try fetchOnce(reference, into: cache) { timer.tick(heartbeat) }
        } catch {
            reset()
            throw error
        }
    }

    private func fetchOnce(
        _ reference: String, into cache: CheckpointStore, heartbeat: () -> Void
    ) throws(CheckpointError) {
        let chunk = CheckpointService.chunkBytes
        try send(StoreProtocol.encode(.get(reference: reference, offset: 0, length: chunk)))
        var intake: CheckpointIntake?
        var asked = chunk
        while true {
            let (reply, bytes) = try receive("fetching \(reference.prefix(12))…", heartbeat: heartbeat)
            switch reply {
            case .missing(let named) where named == reference:
                throw .missing(reference)
            case .data(let named, let offset, let size) where named == reference:
                if intake == nil {
                    intake = try CheckpointIntake(store: cache, reference: reference, size: size)
                }
                guard let current = intake, current.size == size else {
                    throw .unavailable(directory: endpoint, reason: "the checkpoint's size changed during the fetch")
                }
                try current.append(bytes, at: offset)
                if current.isComplete {
                    try current.finish()
                    return
                }
                // Keep `window` chunks asked for.
                while asked < size && asked - current.received < Self.window * chunk {
                    try send(StoreProtocol.encode(.get(reference: reference, offset: asked, length: chunk)))
                    asked += chunk
                }
            default:
                logger.debug("checkpoint service: a reply of another transfer ignored")
            }
        }
    }

    /// Stores `reference` (in `cache`) at the service: offer it, send the chunks it asks for.
    /// `heartbeat` (at most once a second while it waits) answers whether to go on: while the
    /// service is busy, false ends the wait (the worker is stopping).
    public func store(
        _ reference: String, from cache: CheckpointStore, heartbeat: () -> Bool = { true }
    ) throws(CheckpointError) {
        guard let size = cache.size(of: reference) else { throw .missing(reference) }
        let timer = HeartbeatTimer()
        var goOn = true
        var attempt = 0
        let giveUp = Clock.monotonic + Self.busyPatience
        while true {
            do {
                try storeOnce(reference, size: size, from: cache) { timer.tick { goOn = heartbeat() } }
                return
            } catch .unavailable(_, let reason)
                where reason.hasPrefix("busy") && Clock.monotonic < giveUp && goOn
            {
                attempt += 1
                if attempt == 1 || attempt % 20 == 0 {
                    logger.info(
                        "checkpoint service \(endpoint) is busy (\(reason)); offering \(reference.prefix(12))… again")
                }
                Thread.sleep(forTimeInterval: min(1.0, Self.busyPause * Double(attempt)))
                timer.tick { goOn = heartbeat() }
            } catch {
                reset()
                throw error
            }
        }
    }

    private func storeOnce(
        _ reference: String, size: Int, from cache: CheckpointStore, heartbeat: () -> Void
    ) throws(CheckpointError) {
        try send(StoreProtocol.encode(.offer(reference: reference, size: size)))
        while true {
            let (reply, _) = try receive("storing \(reference.prefix(12))…", heartbeat: heartbeat)
            switch reply {
            case .stored(let named) where named == reference:
                return
            case .refused(let named, let reason) where named == reference:
                throw .unavailable(directory: endpoint, reason: reason)
            case .want(let named, let offset, let length) where named == reference:
                guard let (bytes, _) = try cache.chunk(of: reference, offset: offset, length: length),
                    bytes.count == min(length, size - offset)
                else { throw .missing(reference) }
                try send(StoreProtocol.encode(.chunk(reference: reference, offset: offset), bytes: bytes))
            default:
                logger.debug("checkpoint service: a reply of another transfer ignored")
            }
        }
    }

    /// Whether the service holds `reference`.
    public func has(_ reference: String, heartbeat: () -> Void = {}) throws(CheckpointError) -> Bool {
        try send(StoreProtocol.encode(.has(reference: reference)))
        let timer = HeartbeatTimer()
        while true {
            let (reply, _) = try receive("asking for \(reference.prefix(12))…") { timer.tick(heartbeat) }
            switch reply {
            case .stored(let named) where named == reference: return true
            case .missing(let named) where named == reference: return false
            default: continue
            }
        }
    }
}

/// Lets a heartbeat through at most once a second: transfers call it on every reply and every
/// wait, and a worker's task on its loop thread turns it into a `progress` heartbeat.
final class HeartbeatTimer {
    /// Seconds between heartbeats let through.
    static let interval = 1.0
    private var last = Clock.monotonic

    func tick(_ heartbeat: () -> Void) {
        let now = Clock.monotonic
        guard now - last >= Self.interval else { return }
        last = now
        heartbeat()
    }
}
