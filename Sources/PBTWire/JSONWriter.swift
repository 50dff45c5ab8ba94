import PBTCore

/// Builds compact JSON text without Foundation, fast enough for the selector's hot path.
///
///     var json = JSONWriter()
///     json.object { o in
///         o.field("event", "member.scored")
///         o.field("score", 1.19)
///     }
public struct JSONWriter: Sendable {
    /// The UTF-8 written so far (appending bytes is much cheaper than appending to a `String`).
    public private(set) var bytes: [UInt8] = []

    public init() {
        bytes.reserveCapacity(512)
    }

    /// The JSON written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        var writer = ObjectWriter(json: self)
        bytes = []
        writer.json.bytes.append(UInt8(ascii: "{"))
        body(&writer)
        writer.json.bytes.append(UInt8(ascii: "}"))
        self = writer.json
    }

    /// Writes fields of one JSON object.
    public struct ObjectWriter {
        var json: JSONWriter
        var first = true

        mutating func key(_ name: String) {
            if !first { json.bytes.append(UInt8(ascii: ",")) }
            first = false
            JSONWriter.appendString(name, to: &json.bytes)
            json.bytes.append(UInt8(ascii: ":"))
        }

        public mutating func field(_ name: String, _ value: String) {
            key(name)
            JSONWriter.appendString(value, to: &json.bytes)
        }

        public mutating func field(_ name: String, _ value: Int) {
            key(name)
            JSONWriter.appendInteger(Int64(value), to: &json.bytes)
        }

        public mutating func field(_ name: String, _ value: UInt64) {
            key(name)
            JSONWriter.appendInteger(value, to: &json.bytes)
        }

        public mutating func field(_ name: String, _ value: Double) {
            key(name)
            JSONWriter.appendNumber(value, to: &json.bytes)
        }

        public mutating func field(_ name: String, _ value: Bool) {
            key(name)
            json.bytes.append(contentsOf: (value ? "true" : "false").utf8)
        }

        public mutating func null(_ name: String) {
            key(name)
            json.bytes.append(contentsOf: "null".utf8)
        }

        public mutating func field(_ name: String, _ value: Int?) {
            if let value { field(name, value) } else { null(name) }
        }

        public mutating func field(_ name: String, _ value: Double?) {
            if let value { field(name, value) } else { null(name) }
        }

        public mutating func field(_ name: String, _ value: HyperparameterValue) {
            key(name)
            JSONWriter.appendValue(value, to: &json.bytes)
        }

        public mutating func field(_ name: String, _ values: Hyperparameters) {
            object(name) { o in
                for (key, value) in values.sorted { o.field(key, value) }
            }
        }

        public mutating func field(_ name: String, _ metrics: [String: Double]) {
            object(name) { o in
                for key in metrics.keys.sorted() { o.field(key, metrics[key]!) }
            }
        }

        public mutating func field(_ name: String, _ strings: [String]) {
            key(name)
            json.bytes.append(UInt8(ascii: "["))
            for (index, string) in strings.enumerated() {
                if index > 0 { json.bytes.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(string, to: &json.bytes)
            }
            json.bytes.append(UInt8(ascii: "]"))
        }

        /// A nested object.
        public mutating func object(_ name: String, _ body: (inout ObjectWriter) -> Void) {
            key(name)
            var nested = ObjectWriter(json: json)
            json.bytes = []
            nested.json.bytes.append(UInt8(ascii: "{"))
            body(&nested)
            nested.json.bytes.append(UInt8(ascii: "}"))
            json = nested.json
        }

        /// An array of objects.
        public mutating func array<Element>(
            _ name: String, _ elements: [Element], _ body: (inout ObjectWriter, Element) -> Void
        ) {
            key(name)
            json.bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { json.bytes.append(UInt8(ascii: ",")) }
                var nested = ObjectWriter(json: json)
                json.bytes = []
                nested.json.bytes.append(UInt8(ascii: "{"))
                body(&nested, element)
                nested.json.bytes.append(UInt8(ascii: "}"))
                json = nested.json
            }
            json.bytes.append(UInt8(ascii: "]"))
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (names, topics, hex) need no escaping: append them whole.
        var plain = true
        for byte in value.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            plain = false
            break
        }
        if plain {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case 0x22: bytes.append(contentsOf: #"\""#.utf8)
            case 0x5C: bytes.append(contentsOf: #"\\"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hexDigits[Int(byte >> 4)])
                bytes.append(hexDigits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Decimal digits, without making a `String`.
    static func appendInteger(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendInteger(value.magnitude, to: &bytes)
    }

    static func appendInteger(_ value: UInt64, to bytes: inout [UInt8]) {
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// JSON has no NaN or infinity: they are written as null.
    static func appendNumber(_ value: Double, to bytes: inout [UInt8]) {
        guard value.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded() && abs(value) < 1e15 {
            appendInteger(Int64(value), to: &bytes)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    static func appendValue(_ value: HyperparameterValue, to bytes: inout [UInt8]) {
        switch value {
        case .real(let x): appendNumber(x, to: &bytes)
        case .integer(let x): appendInteger(Int64(x), to: &bytes)
        case .text(let x): appendString(x, to: &bytes)
        }
    }
}
