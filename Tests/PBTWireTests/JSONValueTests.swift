import PBTMonitor
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
        #expect(throws: EventRecordError.self) {
            try EventRecord(json: Array(#"{"event":"x","time":1,"s":"#.utf8) + bytes + [0x7D])
        }
    }

    @Test func eventRecordsFromBytesAndFromTextAreTheSame() throws {
        let text =
            #"{"event":"member.trained","time":3.25,"member":1,"hyperparameters":{"lr":0.1},"worker":"trainer-é"}"#
        let fromText = try EventRecord(json: text)
        let fromBytes = try EventRecord(json: Array(text.utf8))
        #expect(fromText == fromBytes)
        #expect(fromBytes.string("worker") == "trainer-é")
        #expect(fromBytes.object("hyperparameters") == ["lr": .number(0.1)])
        #expect(fromBytes.fields.count == 5)
        #expect(fromBytes["absent"] == nil)
    }

    @Test func anEventWithManyFieldsIsReadInLinearTime() throws {
        // Past 32 fields an event finds its keys through a dictionary (a line from the stream
        // may hold thousands); repeated keys still count once, with their last value.
        let fields = (0..<5_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let event = try EventRecord(
            json: #"{"event":"big","time":1,"#.utf8.map { $0 } + Array(fields.utf8) + Array(#","k7":-1}"#.utf8))
        #expect(event.topic == "big")
        #expect(event.int("k4999") == 4999)
        #expect(event.int("k7") == -1)
        #expect(event.fields.count == 5_002)
        let refusal = #expect(throws: EventRecordError.self) { try EventRecord(json: "[1]") }
        #expect(refusal?.message == "not a JSON object")
    }

    @Test func aRepeatedKeyInAnEventCountsOnceWithItsLastValue() throws {
        let event = try EventRecord(json: #"{"event":"a","time":1,"member":1,"member":2,"event":"b"}"#)
        #expect(event.topic == "b")
        #expect(event.int("member") == 2)
        #expect(event.fields == ["event": .string("b"), "time": .integer(1), "member": .integer(2)])
        #expect(try JSONValue.parse(#"{"k":1,"k":2}"#) == .object(["k": .integer(2)]))
    }

    @Test func accessorsConvertWholeNumbers() {
        #expect(JSONValue.number(4).int == 4)
        #expect(JSONValue.number(4.5).int == nil)
        #expect(JSONValue.integer(3).double == 3)
        #expect(JSONValue.string("x").double == nil)
        #expect(JSONValue.object(["k": .integer(1)])["k"] == .integer(1))
    }

    @Test func eventRecordsNeedATopicAndATime() throws {
        let event = try EventRecord(json: #"{"event":"member.scored","time":12.5,"member":3,"score":0.9}"#)
        #expect(event.topic == "member.scored")
        #expect(event.time == 12.5)
        #expect(event.int("member") == 3)
        #expect(event.double("score") == 0.9)
        #expect(throws: EventRecordError.self) { try EventRecord(json: #"{"time":1}"#) }
        #expect(throws: EventRecordError.self) { try EventRecord(json: #"{"event":"x"}"#) }
        #expect(throws: EventRecordError.self) { try EventRecord(json: #"[1]"#) }
    }

    @Test func anEventLogCountsLinesThatAreNotEvents() {
        let log = EventLog(text: E.started(1) + "\n\n" + E.scored(2, 0, step: 4, score: 1) + "\n{\"event\":\"member.tr")
        #expect(log.events.map(\.topic) == ["experiment.started", "member.scored"])
        #expect(log.problems.map(\.line) == [4])
    }
}
