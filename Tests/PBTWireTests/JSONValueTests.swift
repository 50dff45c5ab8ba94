import PBTCore
import PBTWire
import Testing

/// The JSON reader events go through: values, numbers that stay integers, escapes, and errors.
@Suite("JSON values")
struct JSONValueTests {
    static let good: [(String, JSONValue)] = [
        ("42", .integer(42)),
        ("-7", .integer(-7)),
        ("-0", .integer(0)),
        ("123456789012345678", .integer(123_456_789_012_345_678)),
        ("1234567890123456789", .integer(1_234_567_890_123_456_789)),
        ("9223372036854775807", .integer(Int.max)),
        ("-9223372036854775808", .integer(Int.min)),
        ("92233720368547758070", .number(9.223372036854776e19)),
        ("1.5", .number(1.5)),
        ("1e-4", .number(0.0001)),
        ("0.30000000000000004", .number(0.30000000000000004)),
        ("true", .bool(true)),
        ("null", .null),
        (#""a\"b\\c\n\u00e9\ud83d\ude00""#, .string("a\"b\\c\né😀")),
        (#""θ₀ ok""#, .string("θ₀ ok")),
        // A high surrogate not followed by a low one stands alone (U+FFFD); the next escape is its own.
        (#""\ud800\u0041""#, .string("\u{FFFD}A")),
        (#""\ud800\ud800""#, .string("\u{FFFD}\u{FFFD}")),
        (#""\ud800\uffff""#, .string("\u{FFFD}\u{FFFF}")),
        (#""\udc00x""#, .string("\u{FFFD}x")),
        (" [1, 2.5, \"x\", [] , {}] ", .array([.integer(1), .number(2.5), .string("x"), .array([]), .object([:])])),
        (#"{"a": {"b": [null]}, "c": false}"#, .object(["a": .object(["b": .array([.null])]), "c": .bool(false)])),
    ]

    @Test("parses", arguments: good)
    func parses(text: String, value: JSONValue) throws {
        #expect(try JSONValue.parse(text) == value)
    }

    @Test(
        "refuses",
        arguments: [
            "", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{\"a\":1}}", "\"bad \\q\"", "-", "1e999",
            String(repeating: "[", count: 100), "\"a\u{01}b\"", "{\"a\":1,}", "+1", "[.5]", #""\u+fff""#, #""\u00g0""#,
        ])
    func refuses(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test(
        "refuses strings that are not UTF-8, with or without escapes",
        arguments: [
            [0x22, 0xFF, 0x22], [0x22, 0x61, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22],
        ] as [[UInt8]])
    func refusesBytesThatAreNotUTF8(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(utf8: bytes) }
        #expect(throws: EventDecodingError.self) {
            try EventJSON.decode(Array(#"{"event":"stage.started","time":1,"stage":"#.utf8) + bytes + [0x7D])
        }
    }

    @Test func eventsFromBytesAndFromTextAreTheSame() throws {
        let text =
            #"{"event":"stage.started","time":3.25,"stage":"trainer","worker":"trainer-é","pid":7}"#
        let fromText = try EventJSON.decode(text)
        let fromBytes = try EventJSON.decode(Array(text.utf8))
        #expect(fromText == fromBytes)
        #expect(
            fromBytes == TimedEvent(time: 3.25, event: .stageStarted(stage: "trainer", worker: "trainer-é", pid: 7)))
    }

    @Test func anEventWithManyFieldsIsReadInLinearTime() throws {
        // A line from the stream may hold thousands of fields: the few an event has are
        // looked up once each, and a repeated key counts once, with its last value.
        let fields = (0..<5_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let event = try EventJSON.decode(
            #"{"event":"stage.started","time":1,"stage":"s","worker":"w","pid":3,"#.utf8.map { $0 }
                + Array(fields.utf8) + Array(#","pid":-1}"#.utf8))
        #expect(event.event == .stageStarted(stage: "s", worker: "w", pid: -1))
        let refusal = #expect(throws: EventDecodingError.self) { try EventJSON.decode("[1]") }
        #expect(refusal?.message == "not a JSON object")
    }

    @Test func aRepeatedKeyInAnEventCountsOnceWithItsLastValue() throws {
        let event = try EventJSON.decode(
            #"{"event":"stage.started","time":1,"pid":1,"pid":2,"stage":"a","worker":"w","event":"stage.stopped","reason":"r"}"#
        )
        #expect(event.event == .stageStopped(stage: "a", worker: "w", reason: "r"))
        #expect(try JSONValue.parse(#"{"k":1,"k":2}"#) == .object(["k": .integer(2)]))
    }

    @Test func accessorsConvertWholeNumbers() {
        #expect(JSONValue.number(4).int == 4)
        #expect(JSONValue.number(4.5).int == nil)
        #expect(JSONValue.integer(3).double == 3)
        #expect(JSONValue.string("x").double == nil)
        #expect(JSONValue.object(["k": .integer(1)])["k"] == .integer(1))
    }

    @Test func eventsNeedATopicAndATime() throws {
        let event = try EventJSON.decode(
            #"{"event":"member.scored","time":12.5,"member":3,"version":1,"step":4,"score":0.9,"evaluator":"e"}"#)
        #expect(
            event
                == TimedEvent(
                    time: 12.5, event: .memberScored(member: 3, version: 1, step: 4, score: 0.9, evaluator: "e")))
        #expect(throws: EventDecodingError.self) { try EventJSON.decode(#"{"time":1}"#) }
        #expect(throws: EventDecodingError.self) { try EventJSON.decode(#"{"event":"x"}"#) }
        #expect(throws: EventDecodingError.self) { try EventJSON.decode(#"[1]"#) }
    }
}
