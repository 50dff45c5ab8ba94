import Foundation
import PBTCore
import PBTStages
import PBTSystem
import PBTTestSupport
import PBTWire
import Testing
import ZeroMQ

/// Resident memory of a process (`VmRSS` in /proc/PID/status), in bytes.
func residentBytes(of pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
}

/// Samples a process's resident memory while `body` runs; returns the largest sample.
final class MemoryWatch {
    let pid: pid_t
    private(set) var peak = 0
    private(set) var samples = 0
    private var last = 0.0

    init(_ pid: pid_t) {
        self.pid = pid
    }

    /// Takes a sample if 20 ms passed since the last.
    func sample() {
        let now = Clock.monotonic
        guard now - last >= 0.02, let bytes = residentBytes(of: pid) else { return }
        last = now
        samples += 1
        peak = max(peak, bytes)
    }
}

func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

/// A peer that floods a stage cannot grow its memory without bound: high-water marks bound
/// every queue, oversized messages are refused before they are read, and the experiment goes on.
@Suite("flood", .serialized)
struct FloodTests {
    @Test(
        "a rogue peer flooding the selector's work endpoint leaves its memory bounded and the experiment finishes",
        .timeLimit(.minutes(5)))
    func floodTheSelector() throws {
        let pipeline = try SecurePipeline(
            experiment: SecurityTests.experiment(
                name: "flood-selector", population: 4, maxSteps: 60, stepSeconds: 0.05), secure: false)
        try pipeline.startServers()
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        #expect(pipeline.waitForEvents(within: 30) { $0.contains { $0.topic == .memberTrained } })
        let selector = try #require(pipeline.selector)
        let baseline = try #require(residentBytes(of: selector.child.pid))
        let watch = MemoryWatch(selector.child.pid)

        let context = try ZMQContext()
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.setSendHighWaterMark(8)  // the test's own memory
        try rogue.setRoutingID(Array("rogue".utf8))
        try rogue.connect(pipeline.work)
        var sent: [String: Int] = [:]
        func flood(_ label: String, seconds: Double, frame: () -> [UInt8]) throws {
            let end = Clock.monotonic + seconds
            while Clock.monotonic < end {
                if try rogue.send([frame()], dontWait: true) { sent[label, default: 0] += 1 } else { usleep(200) }
                watch.sample()
            }
        }
        var random = SplitMix64(seed: 11)
        // Small garbage as fast as it goes, then frames just under the 16 MiB limit, just over it,
        // and over libzmq's own limit (32 MiB: the connection is dropped before the frame is read).
        try flood("small", seconds: 4) { (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) } }
        let large = [UInt8](repeating: 0xAB, count: 15 << 20)
        try flood("15 MiB", seconds: 4) { large }
        let oversized = [UInt8](repeating: 0xCD, count: 17 << 20)
        try flood("17 MiB", seconds: 4) { oversized }
        let huge = [UInt8](repeating: 0xEF, count: 40 << 20)
        try flood("40 MiB", seconds: 2) { huge }
        rogue.close()
        let flooded = watch.peak

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        try checkMemberHistories(pipeline.events(), population: 4, maxSteps: 60)
        let dropped = summary["frames_dropped"] as? Int ?? 0
        print(
            "selector flood: sent \(sent.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")); resident \(mebibytes(baseline)) before, peak \(mebibytes(flooded)) (\(watch.samples) samples); \(dropped) frames dropped and counted"
        )
        #expect(dropped >= (sent["small"] ?? 0) / 2, "the selector counted \(dropped) of the frames it could not use")
        #expect(
            flooded - baseline < 512 << 20,
            "the selector grew from \(mebibytes(baseline)) to \(mebibytes(flooded)) under the flood")
    }

    @Test(
        "a rogue publisher flooding the event proxy, with a subscriber that never reads, leaves its memory bounded",
        .timeLimit(.minutes(5)))
    func floodTheProxy() throws {
        let pipeline = try SecurePipeline(
            experiment: SecurityTests.experiment(name: "flood-proxy", population: 4, maxSteps: 40, stepSeconds: 0.05),
            secure: false)
        try pipeline.startServers()
        let proxy = try #require(pipeline.proxy)
        let context = try ZMQContext()
        // A subscriber that never reads: the proxy queues for it up to its high-water mark.
        let stuck = try ZMQSocket(context, .sub)
        try stuck.setReceiveHighWaterMark(1)
        try stuck.subscribe()
        try stuck.connect(pipeline.subscribers)
        let watcher = try ZMQSocket(context, .sub)
        try watcher.subscribe(Array("experiment.finished".utf8))
        try watcher.connect(pipeline.subscribers)
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        #expect(pipeline.waitForEvents(within: 30) { $0.contains { $0.topic == .memberTrained } })
        let baseline = try #require(residentBytes(of: proxy.child.pid))
        let watch = MemoryWatch(proxy.child.pid)

        let rogue = try ZMQSocket(context, .pub)
        try rogue.setSendHighWaterMark(8)
        try rogue.connect(pipeline.publishers)
        #expect(
            eventually(within: 10) { (try? rogue.send([Array("x".utf8), Array("{}".utf8)], dontWait: true)) == true })
        usleep(200_000)  // the proxy's subscriptions reach the new publisher
        var sent: [String: Int] = [:]
        func flood(_ label: String, seconds: Double, message: [[UInt8]]) throws {
            let end = Clock.monotonic + seconds
            while Clock.monotonic < end {
                if try rogue.send(message, dontWait: true) { sent[label, default: 0] += 1 } else { usleep(200) }
                watch.sample()
            }
        }
        // The largest event the proxy forwards, then too large to forward, then over libzmq's limit.
        let topic = Array("member.trained".utf8)
        func event(_ bytes: Int) -> [[UInt8]] {
            [topic, Array("{\"pad\":\"".utf8) + [UInt8](repeating: 0x61, count: bytes - 10) + Array("\"}".utf8)]
        }
        try flood("small", seconds: 3, message: event(200))
        try flood("largest", seconds: 4, message: event(EventProxyStage.maximumEventBytes))
        try flood("oversized", seconds: 3, message: event(EventProxyStage.maximumEventBytes + 1))
        try flood("huge", seconds: 2, message: event(Int(EventProxyStage.maximumMessageBytes) * 2))
        rogue.close()
        let flooded = watch.peak

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        // The proxy still forwards: the watcher hears the end of the experiment.
        var finished = false
        for _ in 0..<50 where !finished { finished = try watcher.receive(timeoutMilliseconds: 100) != nil }
        #expect(finished)
        #expect(proxy.child.poll() == nil, "the proxy stopped")
        print(
            "proxy flood: offered (PUB drops past its high-water mark) \(sent.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")); resident \(mebibytes(baseline)) before, peak \(mebibytes(flooded)) (\(watch.samples) samples)"
        )
        #expect(
            flooded - baseline < 384 << 20,
            "the proxy grew from \(mebibytes(baseline)) to \(mebibytes(flooded)) under the flood")
    }
}
