import PBTCore

/// Why a text is not an event: not a JSON object, no topic or time, a topic nobody knows, or
/// a field missing or of the wrong type.
public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension EventJSON {
    /// Reads one line of `events.jsonl`, or the second frame of a message on the stream: the
    /// inverse of `encode`. Fields the event does not have are ignored (a newer publisher may
    /// add some); a repeated key counts once, the last time.
    ///
    /// Fields added to an event after its first release (`worker` of `member.failed`, `mutator`
    /// of `member.exploited`,
    /// `count` of `frame.dropped`, `detail`, `count` and `total` of `result.dropped`, `experiment` of
    /// `experiment.progress`) read as empty or 0 when a line from an older run lacks them.
    ///
    /// The JSON form fixes what a value is: `encode(decode(encode(e)))` is `encode(e)`, but a
    /// real hyperparameter with a whole value (`1.0`, written `1`) reads back as an integer,
    /// and explore's factors read back at the precision they were written.
    public static func decode(_ text: String) throws(EventDecodingError) -> TimedEvent {
        try decode(Array(text.utf8))
    }

    /// Reads one event from its UTF-8 bytes (text that is not UTF-8 is refused).
    public static func decode(_ bytes: [UInt8]) throws(EventDecodingError) -> TimedEvent {
        let pairs: [(String, JSONValue)]
        do {
            guard let parsed = try JSONValue.parseObjectFields(utf8: bytes) else {
                throw EventDecodingError("not a JSON object")
            }
            pairs = parsed
        } catch let error as EventDecodingError {
            throw error
        } catch {
            throw EventDecodingError("not JSON: \(error)")
        }
        let fields = EventFields(pairs)
        guard let name = fields["event"]?.string, !name.isEmpty else { throw EventDecodingError("no \"event\" field") }
        guard let time = fields["time"]?.double else { throw EventDecodingError("no \"time\" field") }
        guard let topic = PBTEvent.Topic.named[name] else {
            throw EventDecodingError("unknown topic \"\(name.prefix(64))\"")
        }
        return TimedEvent(time: time, event: try EventFields.Reader(topic: topic, fields: fields).event())
    }
}

/// An event's fields in the order written, looked up by name: an event has a dozen, and
/// looking through a dozen names is cheaper than hashing them into a dictionary.
struct EventFields {
    private let pairs: [(String, JSONValue)]

    init(_ pairs: [(String, JSONValue)]) {
        self.pairs = pairs
    }

    /// The last value written for `key`.
    subscript(key: String) -> JSONValue? {
        var index = pairs.count
        while index > 0 {
            index -= 1
            if pairs[index].0 == key { return pairs[index].1 }
        }
        return nil
    }

    /// Typed reads for one topic, with errors that name the topic and the field.
    struct Reader {
        let topic: PBTEvent.Topic
        let fields: EventFields

        func failure(_ key: String, _ problem: String) -> EventDecodingError {
            EventDecodingError("\(topic.rawValue): \"\(key)\" \(problem)")
        }

        func value(_ key: String) throws(EventDecodingError) -> JSONValue {
            guard let value = fields[key] else { throw failure(key, "is missing") }
            return value
        }

        func int(_ key: String) throws(EventDecodingError) -> Int {
            guard let number = try value(key).int else { throw failure(key, "is not an integer") }
            return try inRange(number, key)
        }

        /// An integer of any value, even under a key `inRange` checks.
        func unrangedInt(_ key: String) throws(EventDecodingError) -> Int {
            guard let number = try value(key).int else { throw failure(key, "is not an integer") }
            return number
        }

        func optionalInt(_ key: String) throws(EventDecodingError) -> Int? {
            guard let value = fields[key], value != .null else { return nil }
            guard let number = value.int else { throw failure(key, "is not an integer") }
            return try inRange(number, key)
        }

        /// Keys that name a member: an id from 0 to the largest population less one.
        static let memberKeys: Set<String> = ["member", "donor", "best_member"]

        /// A member id or a population must be one an experiment can have: readers size
        /// tables by them.
        func inRange(_ number: Int, _ key: String) throws(EventDecodingError) -> Int {
            let largest = PBTEvent.largestPopulation
            if Self.memberKeys.contains(key), !(0..<largest).contains(number) {
                throw failure(key, "is not a member id (0 to \(largest - 1)): \(number)")
            }
            if key == "population", !(1...largest).contains(number) {
                throw failure(key, "is not a population (1 to \(largest)): \(number)")
            }
            return number
        }

        /// A number; `null` is NaN (JSON has no NaN: the writer writes it as null).
        func double(_ key: String) throws(EventDecodingError) -> Double {
            let value = try value(key)
            if value == .null { return .nan }
            guard let number = value.double else { throw failure(key, "is not a number") }
            return number
        }

        func optionalDouble(_ key: String) throws(EventDecodingError) -> Double? {
            guard let value = fields[key], value != .null else { return nil }
            guard let number = value.double else { throw failure(key, "is not a number") }
            return number
        }

        func string(_ key: String) throws(EventDecodingError) -> String {
            guard let text = try value(key).string else { throw failure(key, "is not a string") }
            return text
        }

        /// A field added after the event's first release: `fallback` when a line lacks it.
        func string(_ key: String, or fallback: String) throws(EventDecodingError) -> String {
            fields[key] == nil ? fallback : try string(key)
        }

        func int(_ key: String, or fallback: Int) throws(EventDecodingError) -> Int {
            fields[key] == nil ? fallback : try int(key)
        }

        func bool(_ key: String) throws(EventDecodingError) -> Bool {
            guard let flag = try value(key).bool else { throw failure(key, "is not true or false") }
            return flag
        }

        func strings(_ key: String) throws(EventDecodingError) -> [String] {
            guard let array = try value(key).array else { throw failure(key, "is not an array") }
            var result: [String] = []
            for element in array {
                guard let text = element.string else { throw failure(key, "holds something other than strings") }
                result.append(text)
            }
            return result
        }

        func object(_ key: String) throws(EventDecodingError) -> [String: JSONValue] {
            guard let object = try value(key).object else { throw failure(key, "is not an object") }
            return object
        }

        func role(_ key: String) throws(EventDecodingError) -> WorkerRole {
            let name = try string(key)
            guard let role = WorkerRole.allCases.first(where: { $0.description == name }) else {
                throw failure(key, "is not a role: \"\(name.prefix(64))\"")
            }
            return role
        }

        func metrics(_ key: String) throws(EventDecodingError) -> [String: Double] {
            let object = try object(key)
            if let (name, _) = object.first(where: { $0.value != .null && $0.value.double == nil }) {
                throw failure(key, "holds \"\(name.prefix(64))\", which is not a number")
            }
            // mapValues keeps the dictionary's layout: no key is hashed again.
            return object.mapValues { $0.double ?? .nan }
        }

        /// A hyperparameter's value: an integer, a real (null is NaN) or a label; nil for
        /// anything else.
        static func hyperparameter(_ value: JSONValue) -> HyperparameterValue? {
            switch value {
            case .integer(let number): .integer(number)
            case .number(let number): .real(number)
            case .null: .real(.nan)
            case .string(let text): .text(text)
            default: nil
            }
        }

        func hyperparameter(_ value: JSONValue, _ key: String) throws(EventDecodingError) -> HyperparameterValue {
            guard let decoded = Self.hyperparameter(value) else {
                throw failure(key, "holds a value that is not a number or a label")
            }
            return decoded
        }

        func hyperparameters(_ key: String) throws(EventDecodingError) -> Hyperparameters {
            let object = try object(key)
            if let (name, _) = object.first(where: { Self.hyperparameter($0.value) == nil }) {
                throw failure(key, "holds \"\(name.prefix(64))\", which is not a number or a label")
            }
            return Hyperparameters(object.mapValues { Self.hyperparameter($0) ?? .real(.nan) })
        }

        func changes(_ key: String) throws(EventDecodingError) -> [String: ExploreChange] {
            var changes: [String: ExploreChange] = [:]
            for (name, value) in try object(key) {
                guard let change = value.object, let from = change["from"], let to = change["to"],
                    let operation = change["operation"]?.string
                else { throw failure(key, "holds \"\(name.prefix(64))\" without from, to and operation") }
                guard let how = ExploreChange.How(operation: operation) else {
                    throw failure(key, "holds an operation nobody knows: \"\(operation.prefix(64))\"")
                }
                changes[name] = ExploreChange(
                    from: try hyperparameter(from, key), to: try hyperparameter(to, key), how: how)
            }
            return changes
        }

        func decision() throws(EventDecodingError) -> ExploitDecision {
            switch try string("decision") {
            case "not_enough_data": return .notEnoughData
            case "keep": return .keep
            case "exploit": return .exploit(donor: try int("donor"))
            case "capped": return .capped(donor: try int("donor"))
            case let other: throw failure("decision", "is not a decision: \"\(other.prefix(64))\"")
            }
        }

        func finishReason() throws(EventDecodingError) -> FinishReason {
            let name = try string("reason")
            guard let reason = FinishReason(rawValue: name) else {
                throw failure("reason", "is not a reason to finish: \"\(name.prefix(64))\"")
            }
            return reason
        }

        func event() throws(EventDecodingError) -> PBTEvent {
            switch topic {
            case .experimentStarted, .experimentProgress, .experimentFinished, .experimentResumed,
                .checkpointsCollected:
                return try experimentEvent()
            case .trainerJoined, .evaluatorJoined, .mutatorJoined, .trainerLeft, .evaluatorLeft, .mutatorLeft,
                .trainerBenched, .evaluatorBenched, .mutatorBenched, .stageStarted, .stageStopped, .frameDropped,
                .peerRefused:
                return try workerEvent()
            case .memberAssigned, .memberTrained, .memberScored, .memberDecided, .memberExploited, .memberFinished:
                return try memberEvent()
            case .memberFailed, .leaseExpired, .leaseReleased, .resultDropped:
                return try taskEvent()
            }
        }

        /// The experiment's own events: its start, progress, end, resumption and collections.
        func experimentEvent() throws(EventDecodingError) -> PBTEvent {
            switch topic {
            case .experimentStarted:
                return .experimentStarted(
                    name: try string("name"), population: try int("population"),
                    hyperparameters: try strings("hyperparameters"))
            case .experimentProgress:
                return .progress(
                    .init(
                        seconds: try double("seconds"), steps: try int("steps"),
                        stepsPerSecond: try double("steps_per_second"), bestMember: try optionalInt("best_member"),
                        bestScore: try optionalDouble("best_score"), trainers: try int("trainers"),
                        busyTrainers: try int("busy_trainers"), membersFinished: try int("members_finished"),
                        population: try int("population"), exploits: try int("exploits"),
                        experiment: try string("experiment", or: ""), evaluators: try optionalInt("evaluators"),
                        mutators: try optionalInt("mutators")))
            case .experimentFinished:
                return .experimentFinished(
                    reason: try finishReason(), best: try optionalInt("best_member"),
                    score: try optionalDouble("best_score"), steps: try int("steps"), seconds: try double("seconds"))
            case .experimentResumed:
                return .experimentResumed(
                    steps: try int("steps"), membersDone: try int("members_done"), leased: try int("leased"))
            case .checkpointsCollected:
                return .checkpointsCollected(
                    deleted: try int("deleted"), freedBytes: Int64(try int("freed_bytes")), kept: try int("kept"),
                    keptBytes: Int64(try int("kept_bytes")))
            default:
                throw EventDecodingError("\(topic.rawValue) is not a experiment event")
            }
        }

        /// The events about workers and stage processes.
        func workerEvent() throws(EventDecodingError) -> PBTEvent {
            switch topic {
            case .trainerJoined, .evaluatorJoined, .mutatorJoined:
                return .workerJoined(role: try role("role"), worker: try string("worker"))
            case .trainerLeft, .evaluatorLeft, .mutatorLeft:
                return .workerLeft(role: try role("role"), worker: try string("worker"), reason: try string("reason"))
            case .trainerBenched, .evaluatorBenched, .mutatorBenched:
                return .workerBenched(
                    role: try role("role"), worker: try string("worker"), failures: try int("failures"),
                    seconds: try double("seconds"))
            case .stageStarted:
                return .stageStarted(stage: try string("stage"), worker: try string("worker"), pid: try int("pid"))
            case .stageStopped:
                return .stageStopped(
                    stage: try string("stage"), worker: try string("worker"), reason: try string("reason"))
            case .frameDropped:
                return .frameDropped(
                    stage: try string("stage"), worker: try string("worker"), reason: try string("reason"),
                    total: try int("total"), count: try int("count", or: 0))
            case .peerRefused:
                return .peerRefused(
                    stage: try string("stage"), address: try string("address"), key: try string("key"),
                    reason: try string("reason"), total: try int("total"))
            default:
                throw EventDecodingError("\(topic.rawValue) is not a worker event")
            }
        }

        /// A member's way through the pipeline: assigned, trained, scored, decided, exploited, finished.
        func memberEvent() throws(EventDecodingError) -> PBTEvent {
            switch topic {
            case .memberAssigned:
                return .memberAssigned(
                    member: try int("member"), version: try int("version"), role: try role("role"),
                    worker: try string("worker"), step: try int("step"))
            case .memberTrained:
                return .memberTrained(
                    .init(
                        member: try int("member"), version: try int("version"), trainer: try string("trainer"),
                        fromStep: try int("from_step"), step: try int("step"), seconds: try double("seconds"),
                        checkpoint: try string("checkpoint"), hyperparameters: try hyperparameters("hyperparameters"),
                        metrics: try metrics("metrics"), interrupted: try bool("interrupted"),
                        previousScore: try optionalDouble("previous_score")))
            case .memberScored:
                return .memberScored(
                    member: try int("member"), version: try int("version"), step: try int("step"),
                    score: try double("score"), evaluator: try string("evaluator"))
            case .memberDecided:
                return .memberDecided(
                    member: try int("member"), step: try int("step"), comparedAt: try int("compared_at"),
                    decision: try decision(), cohort: try int("cohort"), rank: try optionalInt("rank"))
            case .memberExploited:
                return .memberExploited(
                    .init(
                        member: try int("member"), donor: try int("donor"), step: try int("step"),
                        checkpoint: try string("checkpoint"), old: try hyperparameters("old"),
                        copied: try hyperparameters("copied"), new: try hyperparameters("new"),
                        changes: try changes("explore"), mutator: try string("mutator", or: "")))
            case .memberFinished:
                return .memberFinished(
                    member: try int("member"), step: try int("step"), score: try optionalDouble("score"))
            default:
                throw EventDecodingError("\(topic.rawValue) is not a member event")
            }
        }

        /// The events about tasks that went wrong: failures, leases, dropped results.
        func taskEvent() throws(EventDecodingError) -> PBTEvent {
            switch topic {
            case .memberFailed:
                return .memberFailed(
                    member: try int("member"), version: try int("version"), worker: try string("worker", or: ""),
                    reason: try string("reason"), givenUp: try bool("given_up"))
            case .leaseExpired:
                return .leaseExpired(
                    member: try int("member"), version: try int("version"), role: try role("role"),
                    worker: try string("worker"))
            case .leaseReleased:
                return .leaseReleased(
                    member: try int("member"), version: try int("version"), role: try role("role"),
                    worker: try string("worker"), reason: try string("reason"))
            case .resultDropped:
                // A dropped result names whatever member its sender put in it, existing or not.
                return .resultDropped(
                    member: try unrangedInt("member"), version: try int("version"), worker: try string("worker"),
                    reason: try string("reason"), detail: try string("detail", or: ""), count: try int("count", or: 0),
                    total: try int("total", or: 0))
            default:
                throw EventDecodingError("\(topic.rawValue) is not a task event")
            }
        }
    }
}

/// Reads the text of an `events.jsonl`: one event a line. Lines that are not events are
/// counted, not fatal (a file cut short by a crash ends in half a line).
public struct EventLog: Sendable {
    public let events: [TimedEvent]
    /// Lines that could not be read, with their line number (from 1) and the problem.
    public let problems: [(line: Int, problem: String)]

    public init(text: String) {
        var events: [TimedEvent] = []
        var problems: [(Int, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let bytes = Array(line.utf8)
            var start = 0
            var end = bytes.count
            while start < end, [0x20, 0x09, 0x0D].contains(bytes[start]) { start += 1 }
            while end > start, [0x20, 0x09, 0x0D].contains(bytes[end - 1]) { end -= 1 }
            if start == end { continue }
            do {
                events.append(try EventJSON.decode(Array(bytes[start..<end])))
            } catch {
                problems.append((number + 1, error.description))
            }
        }
        self.events = events
        self.problems = problems
    }
}
