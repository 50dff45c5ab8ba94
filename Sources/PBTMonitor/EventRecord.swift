/// One event as a subscriber or a reader of `events.jsonl` sees it: its topic, its time and
/// its fields, parsed from the JSON object (every object has `event` and `time`; the README's
/// "Events" section lists the rest).
public struct EventRecord: Sendable, Hashable {
    /// The topic, such as `member.scored`.
    public let topic: String
    /// Seconds since 1970 (UTC), to the millisecond.
    public let time: Double
    /// Every field of the object, `event` and `time` included.
    public let fields: [String: JSONValue]

    public init(topic: String, time: Double, fields: [String: JSONValue]) {
        self.topic = topic
        self.time = time
        self.fields = fields
    }

    /// Parses one line of `events.jsonl` (or the second frame of a message on the stream).
    public init(json text: String) throws(EventRecordError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw EventRecordError(message: "not JSON: \(error)")
        }
        guard case .object(let fields) = value else { throw EventRecordError(message: "not a JSON object") }
        guard let topic = fields["event"]?.string, !topic.isEmpty else { throw EventRecordError(message: "no \"event\" field") }
        guard let time = fields["time"]?.double else { throw EventRecordError(message: "no \"time\" field") }
        self.init(topic: topic, time: time, fields: fields)
    }

    public subscript(key: String) -> JSONValue? { fields[key] }

    public func int(_ key: String) -> Int? { fields[key]?.int }
    public func double(_ key: String) -> Double? { fields[key]?.double }
    public func string(_ key: String) -> String? { fields[key]?.string }
    public func bool(_ key: String) -> Bool? { fields[key]?.bool }
    public func object(_ key: String) -> [String: JSONValue]? { fields[key]?.object }
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
