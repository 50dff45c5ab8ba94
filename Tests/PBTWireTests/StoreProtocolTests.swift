import PBTCore
import PBTWire
import Testing

/// The checkpoint service's frames: every message round-trips, and what is not a message is
/// refused with the field named, never trapped on.
@Suite struct StoreProtocolTests {
    static let reference = String(repeating: "ab", count: 32)

    static let requests: [(StoreProtocol.Request, [UInt8])] = [
        (.get(reference: reference, offset: 0, length: 1 << 20), []),
        (.get(reference: reference, offset: 1 << 39, length: 1), []),
        (.has(reference: reference), []),
        (.offer(reference: reference, size: 0), []),
        (.offer(reference: reference, size: 3_000_000), []),
        (.chunk(reference: reference, offset: 1 << 20), [1, 2, 3]),
        (.chunk(reference: reference, offset: 0), []),
    ]

    static let replies: [(StoreProtocol.Reply, [UInt8])] = [
        (.data(reference: reference, offset: 2 << 20, size: 3_000_000), Array(repeating: 9, count: 1000)),
        (.missing(reference: reference), []),
        (.want(reference: reference, offset: 0, length: 1 << 20), []),
        (.stored(reference: reference), []),
        (.refused(reference: reference, reason: "busy: 256 uploads in progress"), []),
    ]

    @Test func requestsRoundTrip() throws {
        for (request, bytes) in Self.requests {
            let frames = StoreProtocol.encode(request, bytes: bytes)
            #expect(Array(frames[0].prefix(3)) == [0x50, 0x53, StoreProtocol.version])
            let (decoded, payload) = try StoreProtocol.decodeRequest(frames)
            #expect(decoded == request)
            #expect(payload == bytes)
        }
    }

    @Test func repliesRoundTrip() throws {
        for (reply, bytes) in Self.replies {
            let (decoded, payload) = try StoreProtocol.decodeReply(StoreProtocol.encode(reply, bytes: bytes))
            #expect(decoded == reply)
            #expect(payload == bytes)
        }
    }

    @Test func theSamplesCoverEveryKind() {
        let kinds = Set(
            Self.requests.map { StoreProtocol.encode($0.0, bytes: $0.1)[0][3] }
                + Self.replies.map { StoreProtocol.encode($0.0, bytes: $0.1)[0][3] })
        #expect(kinds == Set(StoreProtocol.Kind.allCases.map(\.rawValue)))
    }

    @Test func badFramesAreRefusedWithTheirReason() {
        let get = StoreProtocol.encode(.get(reference: Self.reference, offset: 0, length: 10))[0]
        let cases: [([[UInt8]], String)] = [
            ([], "empty"),
            ([[]], "empty"),
            ([[0x50, 0x42, 1, 1]], "bad_magic"),
            ([[0x50, 0x53, 9, 1]], "wrong_version"),
            ([[0x50, 0x53, StoreProtocol.version, 99]], "unknown_kind"),
            ([get, [1]], "wrong_frame_count"),
            ([Array(get.dropLast())], "truncated"),
            ([get + [0]], "trailing_bytes"),
            (
                StoreProtocol.encode(.chunk(reference: Self.reference, offset: 0), bytes: []).prefix(1).map { $0 },
                "wrong_frame_count"
            ),
            ([StoreProtocol.encode(.stored(reference: Self.reference))[0]], "invalid_field"),
            (
                StoreProtocol.encode(
                    .chunk(reference: Self.reference, offset: 0),
                    bytes: Array(repeating: 0, count: StoreProtocol.maximumChunkBytes + 1)), "oversized"
            ),
        ]
        for (frames, reason) in cases {
            #expect(throws: WireError.self) { try StoreProtocol.decodeRequest(frames) }
            do {
                _ = try StoreProtocol.decodeRequest(frames)
            } catch {
                #expect(error.reason == reason, "\(frames.map(\.count)): \(error)")
            }
        }
        // A reference that could name a path is never one.
        var traversal = WireWriter()
        for byte: UInt8 in [0x50, 0x53, StoreProtocol.version, 1] { traversal.byte(byte) }
        traversal.text("../../etc/passwd" + String(repeating: "a", count: 48))
        traversal.count(0)
        traversal.count(10)
        #expect(throws: WireError.self) { try StoreProtocol.decodeRequest([traversal.bytes]) }
        // A length past the largest chunk.
        #expect(throws: WireError.self) {
            try StoreProtocol.decodeRequest(
                StoreProtocol.encode(
                    .get(reference: Self.reference, offset: 0, length: StoreProtocol.maximumChunkBytes + 1)))
        }
    }

    /// Random bytes behind a valid header never trap the decoder.
    @Test func randomFramesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 17)
        let kinds = StoreProtocol.Kind.allCases.map(\.rawValue)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...80, using: &random)
            let body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let frame =
                [0x50, 0x53, StoreProtocol.version, kinds[Int.random(in: 0..<kinds.count, using: &random)]] + body
            let frames = Bool.random(using: &random) ? [frame] : [frame, body]
            _ = try? StoreProtocol.decodeRequest(frames)
            _ = try? StoreProtocol.decodeReply(frames)
        }
    }
}
