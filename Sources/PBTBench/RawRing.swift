import Foundation
import PBTSystem
import ZeroMQ

/// The baseline the pipeline is measured against: raw ZeroMQ on the pipeline's path with none
/// of its work — no decoding, no state, no store, no events, just the hops. A hub stands in
/// the selector's place, and a message goes round as a member does in one step:
///
///     with flow control (the pipeline's)        without flow control
///
///     hub ROUTER ───message──▶ trainer DEALER    hub PUSH ───────▶ trainer PULL
///     hub ROUTER ◀───credit─── trainer DEALER      (round robin; messages queue at the trainers)
///     trainer PUSH ──────────▶ evaluator PULL    trainer PUSH ───▶ evaluator PULL
///     evaluator PUSH ────────▶ hub PULL          evaluator PUSH ─▶ hub PULL
///
/// A trainer's PUSH connects to every evaluator and deals round robin over them.
///
/// One lap, hub → trainer → evaluator → hub, is one member-step's hops: the selector's task,
/// the trainer's result, the evaluator's score (and, with flow control, the trainer's credit).
///
/// Who binds: the hub binds its work socket (ROUTER or PUSH) and its PULL inlet; each
/// evaluator binds its PULL and connects a PUSH to the hub's inlet; trainers connect, to the
/// hub's work socket and to every evaluator. So evaluators start before trainers, which are
/// told their endpoints (`--evaluators`).
///
/// Before counting, the hub sends probes round the ring one at a time until every trainer and
/// every evaluator has stamped one, so that no lap goes round before every worker is there
/// (a PUSH deals only to the peers it already has).
public enum RawRing {
    /// How the hub hands messages to trainers.
    public enum FlowControl: Sendable, Equatable {
        /// The pipeline's: a message waits at the hub until a trainer has asked for it. A
        /// trainer asks for `window` messages when it joins and for one more each time it has
        /// passed one on, so it never holds more than `window` (the pipeline's trainers hold 1).
        case credits(window: Int)
        /// Plain PUSH/PULL on every leg: the hub deals messages round robin to the trainers,
        /// where they queue.
        case unbounded

        /// The name `pbt bench raw-hub --flow-control` takes.
        public var name: String {
            switch self {
            case .credits: "on"
            case .unbounded: "off"
            }
        }
    }

    /// The first byte of every message: what it is.
    enum Kind {
        /// A message going round; the hub counts a lap when it comes back.
        static let lap = UInt8(ascii: "m")
        /// A join probe; each worker it passes appends a frame with its name.
        static let probe = UInt8(ascii: "j")
        /// A trainer joining (flow control): it may be sent `window` messages.
        static let hello = UInt8(ascii: "h")
        /// A trainer asking for one more message (flow control).
        static let credit = UInt8(ascii: "c")
        /// The end: trainers pass it on to every evaluator, then both leave.
        static let quit = UInt8(ascii: "q")
    }

    /// Every socket queues up to this many messages: the unbounded ring holds all its
    /// messages at the workers, and nothing is ever dropped for a full queue.
    static let highWaterMark: Int32 = 1_000_000
    /// How long the hub waits for every worker to stamp a probe.
    static let joinTimeoutSeconds = 30.0
    /// How long the hub waits for any message once laps go round before it gives up.
    static let stalledMilliseconds = 5_000
    /// How long a worker waits for a message before it leaves without being told.
    static let workerIdleMilliseconds = 30_000
    /// Laps in the first half second are not counted (processes and caches warming up).
    static let warmUpSeconds = 0.5
    /// How long a closing socket may take to deliver the quit messages.
    static let quitLingerMilliseconds: Int32 = 200

    // MARK: The hub

    /// The hub: binds `work` (ROUTER with flow control, PUSH without) and `inlet` (PULL), waits
    /// until `trainers` trainers and `evaluators` evaluators have stamped a probe, injects
    /// `inFlight` messages of `size` bytes and passes each back to a trainer whenever it comes
    /// back, for `seconds` after a warm-up; then prints `{"laps": …, "seconds": …, "dropped": …}`
    /// (dropped: messages that were not the ring's) and tells the trainers to quit.
    /// `readyFile` receives `{"endpoints": {"work": …, "inlet": …}}`.
    public static func hub(
        work: String, inlet: String, trainers: Int, evaluators: Int, inFlight: Int, size: Int, seconds: Double,
        flowControl: FlowControl,
        readyFile: String?
    ) throws {
        let context = try ZMQContext()
        var hub = try Hub(context: context, work: work, inlet: inlet, flowControl: flowControl)
        if let readyFile {
            try writeReadyFile(
                readyFile, endpoints: ["work": try hub.out.lastEndpoint, "inlet": try hub.inlet.lastEndpoint])
        }
        try hub.join(trainers: trainers, evaluators: evaluators)
        let message = [[Kind.lap] + [UInt8](repeating: 0x2a, count: max(size - 1, 0))]
        for _ in 0..<inFlight { try hub.pass(message) }
        var laps = 0
        var started = Clock.monotonic
        var warm = false
        while true {
            var moved = try hub.takeCredits()
            while let frames = try hub.inlet.receive(dontWait: true) {
                moved = true
                guard frames.count == 1, frames[0].first == Kind.lap else {
                    hub.dropped += 1
                    continue
                }
                try hub.pass(frames)
                laps += 1
                let now = Clock.monotonic
                if !warm && now - started > warmUpSeconds {
                    warm = true
                    laps = 0
                    started = now
                } else if warm && now - started >= seconds {
                    print(#"{"laps": \#(laps), "seconds": \#(now - started), "dropped": \#(hub.dropped)}"#)
                    try hub.quit(trainers: trainers)
                    return
                }
            }
            if !moved {
                guard try hub.wait(milliseconds: stalledMilliseconds) else {
                    throw BenchError("raw ring: messages stopped (\(laps) laps counted)")
                }
            }
        }
    }

    /// The hub's sockets and, with flow control, the trainers that asked for a message and the
    /// messages waiting for a trainer to ask.
    struct Hub {
        let flowControl: FlowControl
        /// ROUTER (credits in, messages out) with flow control; PUSH without.
        let out: ZMQSocket
        /// PULL: messages back from the evaluators.
        let inlet: ZMQSocket
        /// One entry a message a trainer may be sent now (a trainer with room for two is here twice).
        var credits = FIFO<[UInt8]>()
        var waiting = FIFO<[[UInt8]]>()
        /// Trainers by routing id, in the order they joined (flow control).
        var trainerIDs: [[UInt8]] = []
        /// Messages that were not what the ring sends (counted, never trusted).
        var dropped = 0

        init(context: ZMQContext, work: String, inlet: String, flowControl: FlowControl) throws {
            self.flowControl = flowControl
            out = try ZMQSocket(context, flowControl == .unbounded ? .push : .router, linger: quitLingerMilliseconds)
            self.inlet = try ZMQSocket(context, .pull)
            for socket in [out, self.inlet] {
                try socket.setSendHighWaterMark(highWaterMark)
                try socket.setReceiveHighWaterMark(highWaterMark)
            }
            try out.bind(work)
            try self.inlet.bind(inlet)
        }

        /// Sends probes one at a time until `trainers` trainers and `evaluators` evaluators
        /// have each stamped one.
        mutating func join(trainers: Int, evaluators: Int) throws {
            let deadline = Clock.monotonic + joinTimeoutSeconds
            var trainerNames: Set<[UInt8]> = []
            var evaluatorNames: Set<[UInt8]> = []
            try sendProbe(before: deadline)
            while trainerNames.count < trainers || evaluatorNames.count < evaluators {
                let left = deadline - Clock.monotonic
                guard left > 0, try wait(milliseconds: Int(left * 1000)) else {
                    throw BenchError(
                        "raw ring: workers did not join: \(trainerNames.count) of \(trainers) trainers and "
                            + "\(evaluatorNames.count) of \(evaluators) evaluators stamped a probe")
                }
                _ = try takeCredits()
                while let frames = try inlet.receive(dontWait: true) {
                    guard frames.count == 3, frames[0] == [Kind.probe] else {
                        dropped += 1
                        continue
                    }
                    let newTrainer = trainerNames.insert(frames[1]).inserted
                    let newEvaluator = evaluatorNames.insert(frames[2]).inserted
                    guard trainerNames.count < trainers || evaluatorNames.count < evaluators else { break }
                    // A probe that found no one new: let the rest of the workers start.
                    if !newTrainer && !newEvaluator { usleep(1_000) }
                    try sendProbe(before: deadline)
                }
            }
        }

        /// Sends one probe: with flow control to the next trainer that asks; without, to the
        /// next trainer connected to the PUSH (waiting for the first one).
        mutating func sendProbe(before deadline: Double) throws {
            guard flowControl == .unbounded else { return try pass([[Kind.probe]]) }
            while !(try out.send([[Kind.probe]], dontWait: true)) {
                guard Clock.monotonic < deadline else { throw BenchError("raw ring: no trainer connected") }
                usleep(1_000)
            }
        }

        /// Hands a message to a trainer: without flow control straight to the PUSH; with it
        /// to a trainer that asked, or to the queue until one does.
        mutating func pass(_ message: [[UInt8]]) throws {
            guard flowControl != .unbounded else {
                try out.send(message)
                return
            }
            if let id = credits.popFirst() {
                try out.send([id] + message)
            } else {
                waiting.append(message)
            }
        }

        /// Takes every credit and hello waiting on the ROUTER, sending waiting messages on.
        /// Returns whether there was any.
        mutating func takeCredits() throws -> Bool {
            guard case .credits(let window) = flowControl else { return false }
            var any = false
            while let frames = try out.receive(dontWait: true) {
                any = true
                guard frames.count == 2, frames[1].count == 1 else {
                    dropped += 1
                    continue
                }
                let id = frames[0]
                switch frames[1][0] {
                case Kind.hello:
                    trainerIDs.append(id)
                    for _ in 0..<window { try grant(id) }
                case Kind.credit:
                    try grant(id)
                default:
                    dropped += 1
                }
            }
            return any
        }

        private mutating func grant(_ id: [UInt8]) throws {
            if let message = waiting.popFirst() {
                try out.send([id] + message)
            } else {
                credits.append(id)
            }
        }

        /// Waits up to `milliseconds` for a message on either socket; false if none came.
        func wait(milliseconds: Int) throws -> Bool {
            let sockets = flowControl == .unbounded ? [inlet] : [out, inlet]
            return try ZMQPoll.readable(sockets, timeoutMilliseconds: milliseconds).contains(true)
        }

        /// Tells every trainer to quit: by routing id with flow control; without, one quit
        /// for each trainer through the PUSH, which deals them round robin, one to each.
        func quit(trainers: Int) throws {
            if flowControl == .unbounded {
                for _ in 0..<trainers { try out.send([[Kind.quit]]) }
            } else {
                for id in trainerIDs { try out.send([id, [Kind.quit]]) }
            }
        }
    }

    // MARK: The workers

    /// A trainer: takes messages from the hub (`connect`: a DEALER when it `asksForMessages`,
    /// the hub's flow control; a PULL without) and pushes each on to the evaluators (a PUSH
    /// connected to every one of `evaluators`, dealing round robin); when it asks, it then
    /// asks the hub for the next (how many it may hold is the hub's business).
    ///
    /// Records its turnaround — seconds from passing a message on (and asking for the next)
    /// to receiving the next, probes aside — in `turnaroundLog`, one a line, when set. Leaves
    /// on a quit from the hub, passing one on to each evaluator.
    public static func trainer(
        connect: String, evaluators: [String], asksForMessages: Bool, name: String, turnaroundLog: String?
    ) throws {
        let context = try ZMQContext()
        let input = try ZMQSocket(context, asksForMessages ? .dealer : .pull)
        let output = try ZMQSocket(context, .push, linger: quitLingerMilliseconds)
        for socket in [input, output] {
            try socket.setSendHighWaterMark(highWaterMark)
            try socket.setReceiveHighWaterMark(highWaterMark)
        }
        for endpoint in evaluators { try output.connect(endpoint) }
        try input.connect(connect)
        if asksForMessages { try input.send([[Kind.hello]]) }
        let stamp = Array(name.utf8)
        var samples: [Double] = []
        var passedAt: Double?
        while !StopSignal.isRequested, var frames = try input.receive(timeoutMilliseconds: workerIdleMilliseconds) {
            guard let kind = frames.first?.first else { continue }
            if kind == Kind.quit {
                for _ in evaluators { try output.send([[Kind.quit]]) }
                break
            }
            if kind == Kind.probe {
                frames.append(stamp)
                passedAt = nil
            } else if let passedAt {
                samples.append(Clock.monotonic - passedAt)
            }
            try output.send(frames)
            if asksForMessages { try input.send([[Kind.credit]]) }
            if kind != Kind.probe { passedAt = Clock.monotonic }
        }
        if let turnaroundLog {
            try samples.map { String($0) }.joined(separator: "\n").write(
                toFile: turnaroundLog, atomically: true, encoding: .utf8)
        }
    }

    /// An evaluator: binds a PULL at `bind`, writes `{"endpoints": {"inlet": …}}` to
    /// `readyFile`, and pushes every message on to the hub's inlet (`connect`). Leaves on
    /// the first quit.
    public static func evaluator(bind: String, connect: String, name: String, readyFile: String?) throws {
        let context = try ZMQContext()
        let input = try ZMQSocket(context, .pull)
        let output = try ZMQSocket(context, .push)
        for socket in [input, output] {
            try socket.setSendHighWaterMark(highWaterMark)
            try socket.setReceiveHighWaterMark(highWaterMark)
        }
        try input.bind(bind)
        try output.connect(connect)
        if let readyFile { try writeReadyFile(readyFile, endpoints: ["inlet": try input.lastEndpoint]) }
        let stamp = Array(name.utf8)
        while !StopSignal.isRequested, var frames = try input.receive(timeoutMilliseconds: workerIdleMilliseconds) {
            guard let kind = frames.first?.first else { continue }
            if kind == Kind.quit { break }
            if kind == Kind.probe { frames.append(stamp) }
            try output.send(frames)
        }
    }

    static func writeReadyFile(_ path: String, endpoints: [String: String]) throws {
        let data = try JSONSerialization.data(withJSONObject: ["endpoints": endpoints], options: [.sortedKeys])
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A first-in first-out queue that does not copy its elements on every removal.
struct FIFO<Element> {
    private var items: [Element] = []
    /// `items[head...]` are the elements still queued.
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ element: Element) {
        items.append(element)
    }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 {
            items.removeFirst(head)
            head = 0
        }
        return element
    }
}
