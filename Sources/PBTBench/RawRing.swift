import Foundation
import PBTSystem
import ZeroMQ

/// The baseline the pipeline is measured against: raw ZeroMQ with the pipeline's shape and
/// none of its work. A hub (in the selector's place) binds a ROUTER; trainers and evaluators
/// connect DEALERs and send every message straight back. A message goes hub → trainer → hub
/// → evaluator → hub, as a member goes trainer → selector → evaluator → selector: one lap is
/// one member-step's worth of hops. No decoding, no state, no store, no events.
public enum RawRing {
    /// The hub: injects `inFlight` messages of `size` bytes and forwards them round the ring
    /// for `seconds`, then prints `{"laps": …, "seconds": …}`.
    public static func hub(bind: String, trainers: Int, evaluators: Int, inFlight: Int, size: Int, seconds: Double, readyFile: String?) throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router)
        try router.setSendHighWaterMark(1_000_000)
        try router.setReceiveHighWaterMark(1_000_000)
        try router.bind(bind)
        if let readyFile { try #"{"endpoints": {"hub": "\#(try router.lastEndpoint)"}}"#.write(toFile: readyFile, atomically: true, encoding: .utf8) }
        var trainerIDs: [[UInt8]] = []
        var evaluatorIDs: [[UInt8]] = []
        while trainerIDs.count < trainers || evaluatorIDs.count < evaluators {
            guard let frames = try router.receive(timeoutMilliseconds: 30_000) else { throw BenchError("raw ring: workers did not join") }
            if frames.count == 2, frames[1] == [UInt8(ascii: "T")] { trainerIDs.append(frames[0]) }
            if frames.count == 2, frames[1] == [UInt8(ascii: "E")] { evaluatorIDs.append(frames[0]) }
        }
        var nextTrainer = 0
        var nextEvaluator = 0
        let payload = [UInt8](repeating: 0x2a, count: max(size - 1, 0))
        for _ in 0..<inFlight {
            try router.send([trainerIDs[nextTrainer % trainers], [UInt8(ascii: "t")] + payload])
            nextTrainer += 1
        }
        var laps = 0
        var started = Clock.monotonic
        var warm = false
        while true {
            guard let frames = try router.receive(timeoutMilliseconds: 5_000) else { throw BenchError("raw ring: messages stopped") }
            guard frames.count == 2, let kind = frames[1].first else { continue }
            if kind == UInt8(ascii: "t") {
                var message = frames[1]
                message[0] = UInt8(ascii: "e")
                try router.send([evaluatorIDs[nextEvaluator % evaluators], message])
                nextEvaluator += 1
            } else {
                var message = frames[1]
                message[0] = UInt8(ascii: "t")
                try router.send([trainerIDs[nextTrainer % trainers], message])
                nextTrainer += 1
                laps += 1
                let now = Clock.monotonic
                if !warm && now - started > 0.5 {
                    // Measure after a warm-up.
                    warm = true
                    laps = 0
                    started = now
                } else if warm && now - started >= seconds {
                    print(#"{"laps": \#(laps), "seconds": \#(now - started)}"#)
                    for id in trainerIDs + evaluatorIDs { try router.send([id, [UInt8(ascii: "q")]]) }
                    return
                }
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
