/// One event as a subscriber or a reader of `events.jsonl` sees it: its topic, its time and
/// its fields, parsed from the JSON object (every object has `event` and `time`; the README's
/// "Events" section lists the rest).
public struct EventRecord: Sendable, Hashable {
    /// The topic, such as `member.scored`.
    public let topic: String
    /// Seconds since 1970 (UTC), to the millisecond.
    public let time: Double
    /// The object's keys in the order written (`event` and `time` included), and their values:
    /// an event has a dozen fields, and looking through a dozen names is cheaper than hashing
    /// them into a dictionary for every event of a busy stream.
    private let keys: [String]
    private let values: [JSONValue]
    /// Where each key is, for objects too large to search one by one.
    private let positions: [String: Int]?

    public init(topic: String, time: Double, fields: [String: JSONValue]) {
        self.topic = topic
        self.time = time
        keys = Array(fields.keys)
        values = Array(fields.values)
        positions = fields.count > 32 ? Dictionary(uniqueKeysWithValues: zip(keys, keys.indices)) : nil
    }

    /// Parses one line of `events.jsonl` (or the second frame of a message on the stream).
    public init(json text: String) throws(EventRecordError) {
        try self.init(json: Array(text.utf8))
    }

    /// Parses one event from its UTF-8 bytes, as the stream delivers them (text that is not
    /// UTF-8 is refused).
    public init(json bytes: [UInt8]) throws(EventRecordError) {
        let parsed: [(String, JSONValue)]?
        do {
            parsed = try JSONValue.parseObjectFields(utf8: bytes)
        } catch {
            throw EventRecordError(message: "not JSON: \(error)")
        }
        guard let pairs = parsed else { throw EventRecordError(message: "not a JSON object") }
        // A repeated key: the last one counts, as in a dictionary. Events have a dozen fields;
        // anything much larger is found through a dictionary, so that no line costs n².
        var keys: [String] = []
        var values: [JSONValue] = []
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        var positions: [String: Int]? = pairs.count > 32 ? [:] : nil
        for (key, value) in pairs {
            if let existing = Self.index(of: key, in: keys, positions) {
                values[existing] = value
            } else {
                positions?[key] = keys.count
                keys.append(key)
                values.append(value)
            }
        }
        self.positions = positions
        self.keys = keys
        self.values = values
        guard let topic = Self.index(of: "event", in: keys, positions).flatMap({ values[$0].string }), !topic.isEmpty
        else { throw EventRecordError(message: "no \"event\" field") }
        guard let time = Self.index(of: "time", in: keys, positions).flatMap({ values[$0].double }) else {
            throw EventRecordError(message: "no \"time\" field")
        }
        self.topic = topic
        self.time = time
    }

    /// Every field of the object, `event` and `time` included.
    public var fields: [String: JSONValue] { Dictionary(uniqueKeysWithValues: zip(keys, values)) }

    public subscript(key: String) -> JSONValue? {
        Self.index(of: key, in: keys, positions).map { values[$0] }
    }

    /// Where `key` is: by looking through the keys, or in `positions` when there is one.
    private static func index(of key: String, in keys: [String], _ positions: [String: Int]?) -> Int? {
        if let positions { return positions[key] }
        return keys.firstIndex(of: key)
    }

    public func int(_ key: String) -> Int? { self[key]?.int }
    public func double(_ key: String) -> Double? { self[key]?.double }
    public func string(_ key: String) -> String? { self[key]?.string }
    public func bool(_ key: String) -> Bool? { self[key]?.bool }
    public func object(_ key: String) -> [String: JSONValue]? { self[key]?.object }

    public static func == (lhs: EventRecord, rhs: EventRecord) -> Bool {
        lhs.topic == rhs.topic && lhs.time == rhs.time && lhs.fields == rhs.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(topic)
        hasher.combine(time)
        hasher.combine(fields)
    }
}

/// Why a line is not an event.
public struct EventRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Reads the text of an `events.jsonl`: one event a line. Lines that are not events are
/// counted, not fatal (a file cut short by a crash ends in half a line).
public struct EventLog: Sendable {
    public let events: [EventRecord]
    /// Lines that could not be read, with their line number (from 1) and the problem.
    public let problems: [(line: Int, problem: String)]

    public init(text: String) {
        var events: [EventRecord] = []
        var problems: [(Int, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty { continue }
            do {
                events.append(try EventRecord(json: String(trimmed)))
            } catch {
                problems.append((number + 1, error.description))
            }
        }
        self.events = events
        self.problems = problems
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var slice = self
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return slice
    }
}
