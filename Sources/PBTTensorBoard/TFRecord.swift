/// TFRecord framing, the container of TensorBoard's event files: a record is
///
///     uint64 length (little-endian) · uint32 masked CRC-32C of those 8 bytes
///     length bytes of data          · uint32 masked CRC-32C of the data
public enum TFRecord {
    /// The record that holds `data`.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        append(data, to: &record)
        return record
    }

    /// Appends the record that holds `data` to `buffer`.
    public static func append(_ data: [UInt8], to buffer: inout [UInt8]) {
        let start = buffer.count
        appendLittleEndian(UInt64(data.count), to: &buffer)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(buffer[start..<start + 8])), to: &buffer)
        buffer += data
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(data)), to: &buffer)
    }

    /// The records of a file's bytes, each checked. A record cut short at the end (a file
    /// being written) ends the list without an error; a wrong checksum is an error.
    public static func records(in bytes: [UInt8]) throws(TFRecordError) -> [[UInt8]] {
        var records: [[UInt8]] = []
        var offset = 0
        while bytes.count - offset >= 12 {
            let header = Array(bytes[offset..<offset + 8])
            let length = readLittleEndian(UInt64.self, header[...])
            guard
                readLittleEndian(UInt32.self, bytes[offset + 8..<offset + 12]) == CRC32C.masked(CRC32C.checksum(header))
            else {
                throw TFRecordError(offset: offset, problem: "the length's checksum is wrong")
            }
            guard length <= UInt64(bytes.count - offset - 16) else { break }
            let start = offset + 12
            let end = start + Int(length)
            let data = Array(bytes[start..<end])
            guard readLittleEndian(UInt32.self, bytes[end..<end + 4]) == CRC32C.masked(CRC32C.checksum(data)) else {
                throw TFRecordError(offset: offset, problem: "the data's checksum is wrong")
            }
            records.append(data)
            offset = end + 4
        }
        return records
    }

    static func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value, to buffer: inout [UInt8]) {
        var value = value.littleEndian
        withUnsafeBytes(of: &value) { buffer += $0 }
    }

    static func readLittleEndian<Value: FixedWidthInteger>(_ type: Value.Type, _ bytes: ArraySlice<UInt8>) -> Value {
        var value: Value = 0
        for (shift, byte) in bytes.prefix(MemoryLayout<Value>.size).enumerated() { value |= Value(byte) << (8 * shift) }
        return value
    }
}

/// A TFRecord file that does not check out.
public struct TFRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the bad record starts.
    public let offset: Int
    public let problem: String
    public var description: String { "record at byte \(offset): \(problem)" }
}
