import PBTCore

/// Why a frame could not be decoded. Every case names the field.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case notPBT
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case truncated(field: String)
    case invalid(field: String, reason: String)
    case trailingBytes(Int)
    case tooLarge(bytes: Int, limit: Int)
    case wrongFrameCount(Int)

    public var description: String {
        switch self {
        case .empty: "empty frame"
        case .notPBT: "not a pbt frame (bad magic)"
        case .unsupportedVersion(let version): "protocol version \(version), this build speaks \(WireProtocol.version)"
        case .unknownKind(let kind): "unknown message kind \(kind)"
        case .truncated(let field): "truncated at \(field)"
        case .invalid(let field, let reason): "\(field): \(reason)"
        case .trailingBytes(let count): "\(count) bytes after the end of the message"
        case .tooLarge(let bytes, let limit): "\(bytes) bytes, more than the \(limit)-byte limit"
        case .wrongFrameCount(let count): "\(count) frames, expected 1"
        }
    }

    /// A short, stable label for counting drops (`pbt_frames_dropped_total{reason=...}`).
    public var reason: String {
        switch self {
        case .empty: "empty"
        case .notPBT: "bad_magic"
        case .unsupportedVersion: "wrong_version"
        case .unknownKind: "unknown_kind"
        case .truncated: "truncated"
        case .invalid: "invalid_field"
        case .trailingBytes: "trailing_bytes"
        case .tooLarge: "oversized"
        case .wrongFrameCount: "wrong_frame_count"
        }
    }
}

/// Appends the protocol's primitive types to a byte buffer.
///
/// Integers are LEB128 varints (signed ones zig-zag encoded), reals are IEEE 754 binary64
/// little-endian, text is a varint length then UTF-8.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// A non-negative count or id.
    public mutating func count(_ value: Int) { varint(UInt64(max(0, value))) }

    public mutating func signed(_ value: Int) {
        varint(UInt64(bitPattern: Int64((value << 1) ^ (value >> (Int.bitWidth - 1)))))
    }

    public mutating func fixed64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func real(_ value: Double) { fixed64(value.bitPattern) }

    public mutating func text(_ value: String) {
        let utf8 = value.utf8
        count(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    public mutating func blob(_ value: [UInt8]) {
        count(value.count)
        bytes.append(contentsOf: value)
    }

    public mutating func flag(_ value: Bool) { bytes.append(value ? 1 : 0) }
}

/// Reads what `WireWriter` wrote, refusing anything malformed with a `WireError`.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    private var offset: Int

    /// Limits that keep a hostile frame from making the decoder allocate much.
    public static let maximumTextBytes = 8 << 20
    public static let maximumEntries = 100_000

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func byte(_ field: String) throws(WireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(field: field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func varint(_ field: String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte(field)
            if shift == 63 && next > 1 { throw .invalid(field: field, reason: "varint overflows 64 bits") }
            result |= UInt64(next & 0x7f) << shift
            if next & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .invalid(field: field, reason: "varint longer than 10 bytes") }
        }
    }

    /// A non-negative integer no larger than `limit`.
    public mutating func count(_ field: String, limit: Int = Int.max) throws(WireError) -> Int {
        let value = try varint(field)
        guard value <= UInt64(limit) else { throw .invalid(field: field, reason: "\(value) is more than \(limit)") }
        return Int(value)
    }

    public mutating func signed(_ field: String) throws(WireError) -> Int {
        let raw = try varint(field)
        let value = Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        return Int(value)
    }

    public mutating func fixed64(_ field: String) throws(WireError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated(field: field) }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
        offset += 8
        return value
    }

    public mutating func real(_ field: String, finite: Bool = true) throws(WireError) -> Double {
        let value = Double(bitPattern: try fixed64(field))
        if finite && !value.isFinite { throw .invalid(field: field, reason: "\(value) is not a finite number") }
        return value
    }

    public mutating func text(_ field: String, limit: Int = WireReader.maximumTextBytes) throws(WireError) -> String {
        let length = try count(field, limit: limit)
        guard remaining >= length else { throw .truncated(field: field) }
        let slice = bytes[offset..<(offset + length)]
        offset += length
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw .invalid(field: field, reason: "not UTF-8")
        }
        return text
    }

    public mutating func blob(_ field: String, limit: Int = WireReader.maximumTextBytes) throws(WireError) -> [UInt8] {
        let length = try count(field, limit: limit)
        guard remaining >= length else { throw .truncated(field: field) }
        defer { offset += length }
        return Array(bytes[offset..<(offset + length)])
    }

    public mutating func flag(_ field: String) throws(WireError) -> Bool {
        switch try byte(field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalid(field: field, reason: "flag byte \(other) is neither 0 nor 1")
        }
    }

    /// Fails unless every byte was read.
    public func finish() throws(WireError) {
        if remaining > 0 { throw .trailingBytes(remaining) }
    }
}

/// The four bytes every pbt frame starts with (two of magic, the protocol's version, the
/// message's kind), written and checked in one place for both protocols.
enum FrameHeader {
    static func write(magic: [UInt8], version: UInt8, kind: UInt8) -> WireWriter {
        var writer = WireWriter()
        writer.byte(magic[0])
        writer.byte(magic[1])
        writer.byte(version)
        writer.byte(kind)
        return writer
    }

    /// The kind byte and a reader at the body, once size, magic and version are checked.
    static func read(
        _ frame: [UInt8], magic: [UInt8], version: UInt8, limit: Int
    ) throws(WireError) -> (
        UInt8, WireReader
    ) {
        guard !frame.isEmpty else { throw .empty }
        guard frame.count <= limit else { throw .tooLarge(bytes: frame.count, limit: limit) }
        guard frame.count >= 4, frame[0] == magic[0], frame[1] == magic[1] else { throw .notPBT }
        guard frame[2] == version else { throw .unsupportedVersion(frame[2]) }
        return (frame[3], WireReader(frame, offset: 4))
    }
}
