import PBTCore

/// Builds compact JSON text without Foundation, fast enough for the selector's hot path.
///
///     var json = JSONWriter()
///     json.object { o in
///         o.field("event", "member.scored")
///         o.field("score", 1.19)
///     }
public struct JSONWriter: Sendable {
    public private(set) var text = ""

    public init() {
        text.reserveCapacity(256)
    }

    public var bytes: [UInt8] { Array(text.utf8) }

    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        var writer = ObjectWriter(json: self)
        text = ""
        writer.json.text.append("{")
        body(&writer)
        writer.json.text.append("}")
        self = writer.json
    }

    /// Writes fields of one JSON object.
    public struct ObjectWriter {
        var json: JSONWriter
        var first = true

        mutating func key(_ name: String) {
            if !first { json.text.append(",") }
            first = false
            JSONWriter.appendString(name, to: &json.text)
            json.text.append(":")
        }

        public mutating func field(_ name: String, _ value: String) {
            key(name)
            JSONWriter.appendString(value, to: &json.text)
        }

        public mutating func field(_ name: String, _ value: Int) {
            key(name)
            json.text.append(String(value))
        }

        public mutating func field(_ name: String, _ value: UInt64) {
            key(name)
            json.text.append(String(value))
        }

        public mutating func field(_ name: String, _ value: Double) {
            key(name)
            JSONWriter.appendNumber(value, to: &json.text)
        }

        public mutating func field(_ name: String, _ value: Bool) {
            key(name)
            json.text.append(value ? "true" : "false")
        }

        public mutating func null(_ name: String) {
            key(name)
            json.text.append("null")
        }

        public mutating func field(_ name: String, _ value: Int?) {
            if let value { field(name, value) } else { null(name) }
        }

        public mutating func field(_ name: String, _ value: Double?) {
            if let value { field(name, value) } else { null(name) }
        }

        public mutating func field(_ name: String, _ value: HyperparameterValue) {
            key(name)
            JSONWriter.appendValue(value, to: &json.text)
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
            json.text.append("[")
            for (index, string) in strings.enumerated() {
                if index > 0 { json.text.append(",") }
                JSONWriter.appendString(string, to: &json.text)
            }
            json.text.append("]")
        }

        /// A nested object.
        public mutating func object(_ name: String, _ body: (inout ObjectWriter) -> Void) {
            key(name)
            var nested = ObjectWriter(json: json)
            json.text = ""
            nested.json.text.append("{")
            body(&nested)
            nested.json.text.append("}")
            json = nested.json
        }

        /// An array of objects.
        public mutating func array<Element>(_ name: String, _ elements: [Element], _ body: (inout ObjectWriter, Element) -> Void) {
            key(name)
            json.text.append("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { json.text.append(",") }
                var nested = ObjectWriter(json: json)
                json.text = ""
                nested.json.text.append("{")
                body(&nested, element)
                nested.json.text.append("}")
                json = nested.json
            }
            json.text.append("]")
        }
    }

    static func appendString(_ value: String, to text: inout String) {
        text.append("\"")
        // Most strings (names, topics, hex) need no escaping: append them whole.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            text.append(value)
            text.append("\"")
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }

    /// JSON has no NaN or infinity: they are written as null.
    static func appendNumber(_ value: Double, to text: inout String) {
        guard value.isFinite else {
            text.append("null")
            return
        }
        if value == value.rounded() && abs(value) < 1e15 {
            text.append(String(Int64(value)))
        } else {
            text.append("\(value)")
        }
    }

    static func appendValue(_ value: HyperparameterValue, to text: inout String) {
        switch value {
        case .real(let x): appendNumber(x, to: &text)
        case .integer(let x): text.append(String(x))
        case .text(let x): appendString(x, to: &text)
        }
    }
}
