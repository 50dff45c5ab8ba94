import PBTMonitor
import Testing

/// The JSON reader events go through: values, numbers that stay integers, escapes, and errors.
@Suite("JSON values")
struct JSONValueTests {
    static let good: [(String, JSONValue)] = [
        ("42", .integer(42)),
        ("-7", .integer(-7)),
        ("1.5", .number(1.5)),
        ("1e-4", .number(0.0001)),
        ("0.30000000000000004", .number(0.30000000000000004)),
        ("true", .bool(true)),
        ("null", .null),
        (#""a\"b\\c\n\u00e9\ud83d\ude00""#, .string("a\"b\\c\né😀")),
        (#""θ₀ ok""#, .string("θ₀ ok")),
        (" [1, 2.5, \"x\", [] , {}] ", .array([.integer(1), .number(2.5), .string("x"), .array([]), .object([:])])),
        (#"{"a": {"b": [null]}, "c": false}"#, .object(["a": .object(["b": .array([.null])]), "c": .bool(false)])),
    ]

    @Test("parses", arguments: good)
    func parses(text: String, value: JSONValue) throws {
        #expect(try JSONValue.parse(text) == value)
    }

    @Test("refuses", arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{\"a\":1}}", "\"bad \\q\"", "-", "1e999", String(repeating: "[", count: 100)])
    func refuses(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
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
