/// The checkpoint service's contract: how a trainer or an evaluator that shares no disk with
/// the selector stores and fetches checkpoints (worker DEALER ⇄ the selector's store ROUTER).
///
///     frame 0   "P" "S" version kind body    (the kind's fields, in the order `encode` writes them)
///     frame 1   the bytes of a chunk          (`chunk` and `data` only)
///
/// The receiver of bytes always asks for them, one chunk a request, with a few requests out at
/// once (the zguide's credit-based file transfer): memory stays bounded whatever the file's
/// size, and a sender never floods a receiver.
///
///     fetch:  get ref offset length ──▶  ◀── data ref offset size + bytes   (or missing ref)
///     store:  offer ref size ──▶         ◀── want ref offset length         (or stored ref at once)
///             chunk ref offset + bytes ──▶    … ◀── stored ref              (or refused ref reason)
///     check:  has ref ──▶                ◀── stored ref                     (or missing ref)
public enum StoreProtocol {
    /// Bumped on any change to the layout of any message.
    public static let version: UInt8 = 1
    static let magic: [UInt8] = [0x50, 0x53]  // "PS"
    /// The largest chunk either side asks for or accepts, in bytes.
    public static let maximumChunkBytes = 4 << 20
    /// The largest checkpoint the service takes, in bytes (1 TiB: a bound, not a budget).
    public static let maximumCheckpointBytes = 1 << 40

    /// Message kinds: requests (worker → service) below 16, replies from 16.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case get = 1, has = 2, offer = 3, chunk = 4
        case data = 16, missing = 17, want = 18, stored = 19, refused = 20
    }

    /// What a worker asks of the service.
    public enum Request: Sendable, Hashable {
        /// `length` bytes of `reference` from `offset`.
        case get(reference: String, offset: Int, length: Int)
        /// Whether the service holds `reference`.
        case has(reference: String)
        /// The worker holds `size` bytes named `reference` and would store them.
        case offer(reference: String, size: Int)
        /// Bytes of an offered checkpoint from `offset` (the bytes are the second frame).
        case chunk(reference: String, offset: Int)
    }

    /// What the service answers.
    public enum Reply: Sendable, Hashable {
        /// Bytes of `reference` from `offset` (the second frame); `size` is the whole file's.
        case data(reference: String, offset: Int, size: Int)
        /// The service does not hold `reference`.
        case missing(reference: String)
        /// Send `length` bytes of the offered `reference` from `offset`.
        case want(reference: String, offset: Int, length: Int)
        /// `reference` is in the store, complete and checked.
        case stored(reference: String)
        /// The offer or its bytes were refused (a transfer the service cannot take now, bytes
        /// that do not hash to their name, a disk error); the worker may offer again.
        case refused(reference: String, reason: String)
    }

    static func header(_ kind: Kind) -> WireWriter {
        FrameHeader.write(magic: magic, version: version, kind: kind.rawValue)
    }

    static func open(_ frame: [UInt8]) throws(WireError) -> (Kind, WireReader) {
        let (byte, reader) = try FrameHeader.read(frame, magic: magic, version: version, limit: 4096)
        guard let kind = Kind(rawValue: byte) else { throw .unknownKind(byte) }
        return (kind, reader)
    }

    /// The frames of a request: its header, and the chunk's bytes for a `chunk`.
    public static func encode(_ request: Request, bytes: [UInt8] = []) -> [[UInt8]] {
        var w: WireWriter
        switch request {
        case .get(let reference, let offset, let length):
            w = header(.get)
            w.text(reference)
            w.count(offset)
            w.count(length)
        case .has(let reference):
            w = header(.has)
            w.text(reference)
        case .offer(let reference, let size):
            w = header(.offer)
            w.text(reference)
            w.count(size)
        case .chunk(let reference, let offset):
            w = header(.chunk)
            w.text(reference)
            w.count(offset)
            return [w.bytes, bytes]
        }
        return [w.bytes]
    }

    /// The frames of a reply: its header, and the bytes for a `data`.
    public static func encode(_ reply: Reply, bytes: [UInt8] = []) -> [[UInt8]] {
        var w: WireWriter
        switch reply {
        case .data(let reference, let offset, let size):
            w = header(.data)
            w.text(reference)
            w.count(offset)
            w.count(size)
            return [w.bytes, bytes]
        case .missing(let reference):
            w = header(.missing)
            w.text(reference)
        case .want(let reference, let offset, let length):
            w = header(.want)
            w.text(reference)
            w.count(offset)
            w.count(length)
        case .stored(let reference):
            w = header(.stored)
            w.text(reference)
        case .refused(let reference, let reason):
            w = header(.refused)
            w.text(reference)
            // At most 1,000 bytes of the reason (a cut character becomes U+FFFD): the header stays
            // under its 4,096-byte limit whatever the reason holds.
            w.text(String(decoding: reason.utf8.prefix(1000), as: UTF8.self))
        }
        return [w.bytes]
    }

    /// Decodes a request (its header frame and, for a `chunk`, its bytes), or says exactly
    /// what is wrong with it.
    public static func decodeRequest(_ frames: [[UInt8]]) throws(WireError) -> (Request, [UInt8]) {
        guard let first = frames.first else { throw .empty }
        var (kind, r) = try open(first)
        let expectedFrames = kind == .chunk ? 2 : 1
        guard frames.count == expectedFrames else { throw .wrongFrameCount(frames.count) }
        let request: Request
        switch kind {
        case .get:
            request = .get(
                reference: try r.checkpoint("reference"),
                offset: try r.count("offset", limit: maximumCheckpointBytes),
                length: try r.count("length", limit: maximumChunkBytes))
        case .has:
            request = .has(reference: try r.checkpoint("reference"))
        case .offer:
            request = .offer(
                reference: try r.checkpoint("reference"), size: try r.count("size", limit: maximumCheckpointBytes))
        case .chunk:
            guard frames[1].count <= maximumChunkBytes else {
                throw .tooLarge(bytes: frames[1].count, limit: maximumChunkBytes)
            }
            request = .chunk(
                reference: try r.checkpoint("reference"), offset: try r.count("offset", limit: maximumCheckpointBytes))
        default:
            throw .invalid(field: "kind", reason: "\(kind) is a reply, not a request")
        }
        try r.finish()
        return (request, kind == .chunk ? frames[1] : [])
    }

    /// Decodes a reply (its header frame and, for a `data`, its bytes).
    public static func decodeReply(_ frames: [[UInt8]]) throws(WireError) -> (Reply, [UInt8]) {
        guard let first = frames.first else { throw .empty }
        var (kind, r) = try open(first)
        let expectedFrames = kind == .data ? 2 : 1
        guard frames.count == expectedFrames else { throw .wrongFrameCount(frames.count) }
        let reply: Reply
        switch kind {
        case .data:
            guard frames[1].count <= maximumChunkBytes else {
                throw .tooLarge(bytes: frames[1].count, limit: maximumChunkBytes)
            }
            reply = .data(
                reference: try r.checkpoint("reference"),
                offset: try r.count("offset", limit: maximumCheckpointBytes),
                size: try r.count("size", limit: maximumCheckpointBytes))
        case .missing:
            reply = .missing(reference: try r.checkpoint("reference"))
        case .want:
            reply = .want(
                reference: try r.checkpoint("reference"),
                offset: try r.count("offset", limit: maximumCheckpointBytes),
                length: try r.count("length", limit: maximumChunkBytes))
        case .stored:
            reply = .stored(reference: try r.checkpoint("reference"))
        case .refused:
            reply = .refused(reference: try r.checkpoint("reference"), reason: try r.text("reason", limit: 4096))
        default:
            throw .invalid(field: "kind", reason: "\(kind) is a request, not a reply")
        }
        try r.finish()
        return (reply, kind == .data ? frames[1] : [])
    }
}
