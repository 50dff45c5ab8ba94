import Foundation
import PBTSecurity
import PBTSystem
import ZeroMQ

/// `pbt bench curve`: what CURVE costs. The same runs with and without it, back to back in
/// alternating order, several rounds, medians: the whole pipeline (`pbt run` against `pbt run
/// --secure`, over ipc and over loopback TCP) and one socket pair (round trips of small
/// messages, throughput of large ones), where only the encryption differs.
public struct CurveBench {
    public struct Options: Sendable {
        public var executable: String
        public var output: String
        public var rounds: Int
        /// Small sizes: checks that every part runs and prints its table (for CI).
        public var smoke: Bool

        public init(executable: String, output: String, rounds: Int, smoke: Bool) {
            self.executable = executable
            self.output = output
            self.rounds = rounds
            self.smoke = smoke
        }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    public func run(log: (String) -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        let pipelines = PipelineBench(
            options: .init(executable: options.executable, output: options.output, smoke: options.smoke))
        let steps = options.smoke ? 20 : 200
        var throughput: [String: [Double]] = [:]
        var turnaround: [String: [Double]] = [:]
        for round in 1...options.rounds {
            // Alternate which goes first, so that a drift in the machine's load favours neither.
            for secure in round % 2 == 1 ? [false, true] : [true, false] {
                for transport in ["ipc", "tcp"] {
                    let key = "\(transport) \(secure)"
                    log("round \(round): \(transport), \(secure ? "CURVE" : "plain")")
                    let loaded = try pipelines.pipeline(
                        name: "curve-\(transport)-\(secure ? "secure" : "plain")", population: 64, trainers: 4,
                        maxSteps: steps, exploit: "truncation",
                        turnaround: true,
                        runArguments: ["--transport", transport, "--metrics", "none"] + (secure ? ["--secure"] : []))
                    throughput[key, default: []].append(loaded.rate)
                    if transport == "ipc" {
                        let single = try pipelines.pipeline(
                            name: "curve-latency-\(secure ? "secure" : "plain")", population: 1, trainers: 1,
                            maxSteps: options.smoke ? 50 : 1000,
                            exploit: "none", turnaround: true,
                            runArguments: ["--metrics", "none"] + (secure ? ["--secure"] : []))
                        if let median = Statistics.median(single.turnarounds) {
                            turnaround[key, default: []].append(median)
                        }
                    }
                }
            }
        }
        var socketRates: [String: [Double]] = [:]
        for round in 1...options.rounds {
            for secure in round % 2 == 1 ? [false, true] : [true, false] {
                log("round \(round): socket pair, \(secure ? "CURVE" : "plain")")
                let pair = try SocketPair(secure: secure)
                socketRates["trips \(secure)", default: []].append(
                    try pair.roundTrips(size: 200, seconds: options.smoke ? 0.3 : 2))
                socketRates["bytes \(secure)", default: []].append(
                    try pair.throughput(size: 1 << 20, seconds: options.smoke ? 0.3 : 2))
            }
        }

        var table = BenchTable(["", "plain", "CURVE", "CURVE / plain"])
        func row(_ label: String, _ plain: [Double]?, _ secure: [Double]?, format: (Double) -> String) {
            guard let plain = plain.flatMap(Statistics.median), let secure = secure.flatMap(Statistics.median) else {
                return
            }
            table.add([label, format(plain), format(secure), String(format: "%.1f %%", secure / plain * 100)])
        }
        row(
            "pipeline member-steps/s, ipc (population 64, 4 trainers)", throughput["ipc false"], throughput["ipc true"],
            format: PipelineBench.rate)
        row(
            "pipeline member-steps/s, loopback TCP", throughput["tcp false"], throughput["tcp true"],
            format: PipelineBench.rate)
        row(
            "turnaround median, ms (one member in flight, ipc)", turnaround["ipc false"], turnaround["ipc true"],
            format: PipelineBench.ms)
        row(
            "socket pair: round trips/s, 200 B (TCP)", socketRates["trips false"], socketRates["trips true"],
            format: PipelineBench.rate)
        row(
            "socket pair: MB/s, 1 MiB messages (TCP)", socketRates["bytes false"], socketRates["bytes true"],
            format: { String(format: "%.0f", $0 / 1e6) })
        let spread = throughput.keys.sorted().map { key in
            "\(key.replacingOccurrences(of: " true", with: " CURVE").replacingOccurrences(of: " false", with: " plain")): "
                + (throughput[key] ?? []).map(PipelineBench.rate).joined(separator: ", ")
        }.joined(separator: "; ")
        return
            "CURVE's cost (median of \(options.rounds) rounds, each with and without CURVE back to back; no-op workload, ready every step)\n"
            + table.description + "\nevery pipeline run (member-steps/s): " + spread
    }
}

/// A DEALER and a ROUTER over loopback TCP in one thread, with or without CURVE.
struct SocketPair {
    let context: ZMQContext
    let router: ZMQSocket
    let dealer: ZMQSocket
    let zap: ZAPHandler?

    init(secure: Bool) throws {
        context = try ZMQContext()
        router = try ZMQSocket(context, .router)
        dealer = try ZMQSocket(context, .dealer)
        let directory = NSTemporaryDirectory() + "pbt-curve-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }  // after the handshake below
        if secure {
            let server = try CurveKeyPair.generate()
            let client = try CurveKeyPair.generate()
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let keys = directory + "/authorized_keys"
            try "\(client.publicText) bench\n".write(toFile: keys, atomically: true, encoding: .utf8)
            let zap = try ZAPHandler(context: context, authorizedKeys: keys)
            try zap.secure(router, keyPair: server)
            try dealer.secureClient(CurveSecurity(keyPair: client, serverKey: server.publicKey))
            self.zap = zap
        } else {
            zap = nil
        }
        try router.bind("tcp://127.0.0.1:*")
        try dealer.connect(try router.lastEndpoint)
        // The first message waits for the handshake.
        try dealer.send([[0]])
        guard let first = try router.receive(timeoutMilliseconds: 10_000) else {
            throw BenchError("the socket pair did not connect")
        }
        try router.send([first[0], [0]])
        _ = try dealer.receive(timeoutMilliseconds: 10_000)
    }

    /// Request and reply of `size` bytes, one at a time, for `seconds`: round trips a second.
    func roundTrips(size: Int, seconds: Double) throws -> Double {
        let payload = [UInt8](repeating: 7, count: size)
        let start = Clock.monotonic
        var trips = 0
        while Clock.monotonic - start < seconds {
            try dealer.send([payload])
            guard let request = try router.receive(timeoutMilliseconds: 5_000) else { throw BenchError("no request") }
            try router.send([request[0], payload])
            guard try dealer.receive(timeoutMilliseconds: 5_000) != nil else { throw BenchError("no reply") }
            trips += 1
        }
        return Double(trips) / (Clock.monotonic - start)
    }

    /// Messages of `size` bytes one way, 16 in flight: bytes a second.
    func throughput(size: Int, seconds: Double) throws -> Double {
        let payload = [UInt8](repeating: 9, count: size)
        let start = Clock.monotonic
        var received = 0
        for _ in 0..<16 { try dealer.send([payload]) }
        while Clock.monotonic - start < seconds {
            guard try router.receive(timeoutMilliseconds: 5_000) != nil else { throw BenchError("no message") }
            received += 1
            try dealer.send([payload])
        }
        let elapsed = Clock.monotonic - start
        for _ in 0..<16 { _ = try router.receive(timeoutMilliseconds: 5_000) }
        return Double(received * size) / elapsed
    }
}
