/// Little-endian writing of a checkpoint's payload: whole numbers as 64 bits (or 32, `u32`),
/// floats and doubles as their bit patterns.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    /// A whole number as 32 bits (formats that count small things, such as the mlp's widths).
    mutating func u32(_ value: Int) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    mutating func word(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func integers(_ values: [Int]) {
        for value in values { word(UInt64(bitPattern: Int64(value))) }
    }

    mutating func doubles(_ values: [Double]) {
        for value in values { word(value.bitPattern) }
    }

    mutating func floats(_ values: [Float]) {
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for value in values {
            let bits = value.bitPattern
            for shift in stride(from: 0, to: 32, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift)))
            }
        }
    }
}

/// Reads what `ByteWriter` wrote; a payload cut short, or longer than what was read, is an
/// error naming the checkpoint.
struct ByteReader {
    let bytes: [UInt8]
    let name: String
    private var offset = 0

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, offset + count <= bytes.count else { throw WorkloadError("\(name) is truncated") }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func u32() throws -> Int {
        let slice = try take(4)
        return slice.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }

    mutating func word() throws -> UInt64 {
        let slice = try take(8)
        return slice.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
    }

    /// `count` whole numbers, each at most 2⁴⁰ (anything larger is damage, not a count).
    mutating func integers(_ count: Int) throws -> [Int] {
        try (0..<count).map { _ in
            let value = Int64(bitPattern: try word())
            guard abs(value) <= 1 << 40 else { throw WorkloadError("\(name) holds a number out of range (\(value))") }
            return Int(value)
        }
    }

    mutating func doubles(_ count: Int) throws -> [Double] {
        try (0..<count).map { _ in Double(bitPattern: try word()) }
    }

    mutating func floats(_ count: Int) throws -> [Float] {
        let slice = try take(4 * count)
        return slice.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                let base = 4 * index
                let bits =
                    UInt32(buffer[base]) | UInt32(buffer[base + 1]) << 8 | UInt32(buffer[base + 2]) << 16 | UInt32(
                        buffer[base + 3]) << 24
                return Float(bitPattern: bits)
            }
        }
    }

    /// Fails unless every byte was read.
    func finish() throws {
        guard offset == bytes.count else { throw WorkloadError("\(name) has \(bytes.count - offset) bytes too many") }
    }
}
