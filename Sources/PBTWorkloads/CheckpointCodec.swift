/// A small binary container every built-in workload uses for its checkpoints:
///
///     magic (4 bytes) · format version (1 byte) · payload · crc32 of all before (4 bytes)
///
/// The magic says whose checkpoint it is, the version lets a format evolve, and the
/// checksum catches damage even outside the content-addressed store.
public struct CheckpointCodec: Sendable {
    public let magic: [UInt8]
    /// The version this build writes.
    public let version: UInt8
    /// Earlier versions this build still reads (a run resumed across an upgrade).
    public let alsoReads: Set<UInt8>

    public init(magic: String, version: UInt8, alsoReads: Set<UInt8> = []) {
        self.magic = Array(magic.utf8)
        self.version = version
        self.alsoReads = alsoReads
    }

    public func seal(_ payload: [UInt8]) -> [UInt8] {
        var bytes = magic + [version] + payload
        let crc = Self.crc32(bytes)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        return bytes
    }

    /// The payload, after checking magic, version and checksum.
    public func open(_ bytes: [UInt8]) throws -> [UInt8] {
        try openVersioned(bytes).payload
    }

    /// The payload and the version it was written in (this one, or one of `alsoReads`).
    public func openVersioned(_ bytes: [UInt8]) throws -> (payload: [UInt8], version: UInt8) {
        let name = String(decoding: magic, as: UTF8.self)
        guard bytes.count >= magic.count + 5 else {
            throw WorkloadError("checkpoint is \(bytes.count) bytes, too short to be a \(name) checkpoint")
        }
        guard Array(bytes[0..<magic.count]) == magic else {
            throw WorkloadError(
                "checkpoint is not a \(name) checkpoint (it starts with \(bytes.prefix(4).map { String($0, radix: 16) }))"
            )
        }
        let written = bytes[magic.count]
        guard written == version || alsoReads.contains(written) else {
            let readable = ([version] + alsoReads).sorted().map(String.init).joined(separator: " and ")
            throw WorkloadError(
                "\(name) checkpoint has format version \(written); this build reads version\(alsoReads.isEmpty ? "" : "s") \(readable)"
            )
        }
        let body = Array(bytes[0..<(bytes.count - 4)])
        var stored: UInt32 = 0
        for index in 0..<4 { stored |= UInt32(bytes[bytes.count - 4 + index]) << UInt32(8 * index) }
        guard Self.crc32(body) == stored else {
            throw WorkloadError("\(name) checkpoint fails its checksum; not loaded")
        }
        return (Array(body[(magic.count + 1)...]), written)
    }

    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// CRC-32 (IEEE 802.3).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Little-endian reading and writing of doubles for checkpoint payloads.
public enum Float64Bytes {
    public static func encode(_ values: [Double]) -> [UInt8] {
        var writer = ByteWriter()
        writer.doubles(values)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8], count: Int) throws -> [Double] {
        guard bytes.count == count * 8 else {
            throw WorkloadError("expected \(count) numbers (\(count * 8) bytes), found \(bytes.count) bytes")
        }
        var reader = ByteReader(bytes: bytes, name: "the payload")
        return try reader.doubles(count)
    }
}
