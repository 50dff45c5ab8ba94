import Foundation
import PBTSystem
import ZeroMQ

/// The baseline the pipeline is measured against: raw ZeroMQ with the pipeline's shape and
/// none of its work. A hub (in the selector's place) binds a ROUTER; trainers and evaluators
/// connect DEALERs and send every message straight back. A message goes hub → trainer → hub
/// → evaluator → hub, as a member goes trainer → selector → evaluator → selector: one lap is
/// one member-step's worth of hops. No decoding, no state, no store, no events.
public enum RawRing {
    /// How many messages each worker may hold at once; `nil` leaves it unbounded, so messages
    /// queue at the workers (round robin) as plain PUSH/PULL would queue them.
    public struct Windows: Sendable {
        public var trainer: Int?
        public var evaluator: Int?

        public init(trainer: Int?, evaluator: Int?) {
            self.trainer = trainer
            self.evaluator = evaluator
        }

        /// No flow control: every message goes straight on to the next worker in turn.
        public static let unbounded = Windows(trainer: nil, evaluator: nil)
    }

    /// The hub: injects `inFlight` messages of `size` bytes and forwards them round the ring
    /// for `seconds`, then prints `{"laps": …, "seconds": …}`. With windows, a message waits
    /// at the hub until a worker of the right kind has room for it (the selector's flow
    /// control: a trainer holds one task, an evaluator a few).
    public static func hub(
        bind: String, trainers: Int, evaluators: Int, inFlight: Int, size: Int, seconds: Double, windows: Windows = .unbounded, readyFile: String?
    ) throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router)
        try router.setSendHighWaterMark(1_000_000)
        try router.setReceiveHighWaterMark(1_000_000)
        try router.bind(bind)
        if let readyFile { try #"{"endpoints": {"hub": "\#(try router.lastEndpoint)"}}"#.write(toFile: readyFile, atomically: true, encoding: .utf8) }
        var trainerPool = Pool(window: windows.trainer)
        var evaluatorPool = Pool(window: windows.evaluator)
        while trainerPool.ids.count < trainers || evaluatorPool.ids.count < evaluators {
            guard let frames = try router.receive(timeoutMilliseconds: 30_000) else { throw BenchError("raw ring: workers did not join") }
            if frames.count == 2, frames[1] == [UInt8(ascii: "T")] { trainerPool.join(frames[0]) }
            if frames.count == 2, frames[1] == [UInt8(ascii: "E")] { evaluatorPool.join(frames[0]) }
        }
        let payload = [UInt8](repeating: 0x2a, count: max(size - 1, 0))
        for _ in 0..<inFlight { trainerPool.waiting.append([UInt8(ascii: "t")] + payload) }
        try trainerPool.dispatch(router)
        var laps = 0
        var started = Clock.monotonic
        var warm = false
        while true {
            guard let frames = try router.receive(timeoutMilliseconds: 5_000) else { throw BenchError("raw ring: messages stopped") }
            guard frames.count == 2, let kind = frames[1].first else { continue }
            var message = frames[1]
            if kind == UInt8(ascii: "t"), trainerPool.contains(frames[0]) {
                trainerPool.returned(frames[0])
                message[0] = UInt8(ascii: "e")
                evaluatorPool.waiting.append(message)
                try evaluatorPool.dispatch(router)
                try trainerPool.dispatch(router)
            } else if kind == UInt8(ascii: "e"), evaluatorPool.contains(frames[0]) {
                evaluatorPool.returned(frames[0])
                message[0] = UInt8(ascii: "t")
                trainerPool.waiting.append(message)
                try trainerPool.dispatch(router)
                try evaluatorPool.dispatch(router)
                laps += 1
                let now = Clock.monotonic
                if !warm && now - started > 0.5 {
                    // Measure after a warm-up.
                    warm = true
                    laps = 0
                    started = now
                } else if warm && now - started >= seconds {
                    print(#"{"laps": \#(laps), "seconds": \#(now - started)}"#)
                    for id in trainerPool.ids + evaluatorPool.ids { try router.send([id, [UInt8(ascii: "q")]]) }
                    return
                }
            }
        }
    }

    /// The workers of one kind, the messages waiting for one of them, and how many each holds.
    struct Pool {
        let window: Int?
        var ids: [[UInt8]] = []
        var held: [[UInt8]: Int] = [:]
        /// A queue: `waiting[head...]` are the messages still to send.
        var waiting: [[UInt8]] = []
        var head = 0
        var next = 0

        init(window: Int?) {
            self.window = window
        }

        mutating func join(_ id: [UInt8]) {
            ids.append(id)
            held[id] = 0
        }

        /// Whether `id` is one of these workers.
        func contains(_ id: [UInt8]) -> Bool { held[id] != nil }

        mutating func returned(_ id: [UInt8]) {
            held[id, default: 1] -= 1
        }

        /// Sends waiting messages round robin to workers with room.
        mutating func dispatch(_ router: ZMQSocket) throws {
            while head < waiting.count {
                let message = waiting[head]
                var chosen: [UInt8]?
                for offset in 0..<ids.count {
                    let id = ids[(next + offset) % ids.count]
                    if window.map({ held[id, default: 0] < $0 }) ?? true {
                        chosen = id
                        next = (next + offset + 1) % ids.count
                        break
                    }
                }
                guard let chosen else { break }
                head += 1
                held[chosen, default: 0] += 1
                try router.send([chosen, message])
            }
            if head > 1024 {
                waiting.removeFirst(head)
                head = 0
            }
        }
    }

    /// A worker: sends every message straight back; as a trainer it records the time from
    /// each send to the next message (the turnaround) when `turnaroundLog` is set.
    public static func worker(connect: String, trainer: Bool, turnaroundLog: String?) throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setSendHighWaterMark(1_000_000)
        try dealer.setReceiveHighWaterMark(1_000_000)
        try dealer.connect(connect)
        try dealer.send([[trainer ? UInt8(ascii: "T") : UInt8(ascii: "E")]])
        var samples: [Double] = []
        var sentAt: Double?
        while let frames = try dealer.receive(timeoutMilliseconds: 30_000) {
            if frames.first == [UInt8(ascii: "q")] { break }
            if let sentAt { samples.append(Clock.monotonic - sentAt) }
            try dealer.send(frames)
            sentAt = Clock.monotonic
        }
        if let turnaroundLog {
            try samples.map { String($0) }.joined(separator: "\n").write(toFile: turnaroundLog, atomically: true, encoding: .utf8)
        }
    }
}
