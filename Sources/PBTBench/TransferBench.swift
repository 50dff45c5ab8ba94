import Crypto
import Foundation
import Logging
import PBTCore
import PBTStages
import PBTStore
import PBTSystem
import Synchronization
import ZeroMQ

/// `pbt bench transfer`: checkpoints stored at and fetched from the selector's checkpoint
/// service (a real `pbt selector` process, over TCP loopback), beside two raw limits measured
/// in the same invocation on the same bytes: a plain file copy and a raw ZeroMQ transfer (a
/// PUSH sending the file in 1 MiB frames to a PULL that keeps nothing). The selector's
/// resident memory is sampled every 5 ms while each transfer runs.
public struct TransferBench {
    let executable: String
    let output: String
    let sizes: [Int]

    public init(executable: String, output: String, sizes: [Int]) {
        self.executable = executable
        self.output = output
        self.sizes = sizes
    }

    public func run(log: (String) -> Void) throws -> String {
        try? FileManager.default.removeItem(atPath: output)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let experiment = "\(output)/idle.yml"
        // An experiment that never starts: the selector only serves its store (whose checkpoints
        // no member references, so its collector is off).
        try """
        name: transfer-bench
        workload: {kind: noop}
        population: 1
        stop: {max_steps: 1}
        checkpoints: {garbage_collection: false}
        hyperparameters:
          x: {uniform: [0, 1]}
        """.write(toFile: experiment, atomically: true, encoding: .utf8)
        let selector = try ChildProcess(
            executable: executable,
            arguments: [
                "selector", experiment, "--run-dir", "\(output)/run", "--bind", "tcp://127.0.0.1:*", "--inlet-bind",
                "tcp://127.0.0.1:*", "--store-bind", "tcp://127.0.0.1:*", "--events", "none", "--min-trainers", "1000",
                "--start-timeout", "86400", "--ready-file", "\(output)/selector.json",
            ],
            output: "\(output)/selector.log")
        defer {
            selector.send(SIGKILL)
            _ = selector.wait(seconds: 10)
        }
        let endpoints = try PipelineBench.endpoints(
            in: "\(output)/selector.json", of: selector, log: "\(output)/selector.log")
        guard let store = endpoints["store"] else { throw BenchError("the selector named no store endpoint") }
        let context = try ZMQContext()
        let client = CheckpointServiceClient(
            endpoint: store, context: context, security: nil, logger: Logger(label: "pbt.bench.transfer"))

        var table = BenchTable([
            "checkpoint", "SHA-256 MB/s", "file copy MB/s", "raw ZeroMQ MB/s", "raw ZeroMQ to a file MB/s",
            "store MB/s", "store ÷ raw",
            "new file fill MB/s (slowest before a fetch)", "fetch MB/s", "fetch ÷ raw",
            "selector RSS growth (MiB): store / fetch",
        ])
        for size in sizes {
            let source = try CheckpointStore(directory: "\(output)/source-\(size)")
            let reference = try source.write(Self.bytes(count: size))
            let path = try source.path(of: reference)
            // Each measurement is the best of `rounds` (the same for the raw limits and the
            // service), and starts with no dirty pages waiting to be written (sync), so that one
            // does not pay for the writes of the one before. A file written only to be measured
            // goes as soon as it is: its pages are free again for the next round. Before each
            // round that fills new pages, a scratch file of the same size is written and deleted
            // (`fill`): on a virtual machine whose free memory goes back to its host (this one),
            // memory not touched for a while fills at a few hundred MB/s, the host's cost of
            // backing it, whichever code fills it. The slowest fill before a fetch is shown.
            let stored = "\(output)/run/checkpoints/\(reference.prefix(2))/\(reference)"
            let cache = try CheckpointStore(directory: "\(output)/cache-\(size)")
            let cached = try cache.path(of: reference)
            var hash = Double.infinity
            var copy = Double.infinity
            var raw = Double.infinity
            var rawToFile = Double.infinity
            var store = (seconds: Double.infinity, growthMiB: 0.0)
            var fetch = (seconds: Double.infinity, growthMiB: 0.0)
            var filled = 0.0
            for _ in 0..<Self.rounds {
                sync()
                hash = min(hash, try Self.timed { try Self.hash(path) })
                _ = try fill(size)
                copy = min(copy, try Self.timed { try Self.copy(path, to: "\(output)/copy-\(size)") })
                unlink("\(output)/copy-\(size)")
                sync()
                raw = min(raw, try Self.timed { try Self.rawTransfer(path, size: size, context: context) })
                _ = try fill(size)
                rawToFile = min(
                    rawToFile,
                    try Self.timed {
                        try Self.rawTransfer(path, size: size, context: context, into: "\(output)/raw-\(size)")
                    })
                unlink("\(output)/raw-\(size)")
                // Stored again each round: the service confirms bytes it holds without moving them.
                unlink(stored)
                _ = try fill(size)
                let storing = try Self.sampled(selector.pid) { try client.store(reference, from: source) }
                store = (min(store.seconds, storing.seconds), max(store.growthMiB, storing.growthMiB))
                unlink(cached)
                filled = max(filled, try fill(size))
                let fetching = try Self.sampled(selector.pid) { try client.fetch(reference, into: cache) }
                fetch = (min(fetch.seconds, fetching.seconds), max(fetch.growthMiB, fetching.growthMiB))
            }
            guard try cache.read(reference).count == size else { throw BenchError("the fetched checkpoint differs") }
            let mb = Double(size) / 1e6
            log(
                "\(Self.shown(size)): SHA-256 \(Self.rate(mb / hash)), copy \(Self.rate(mb / copy)), raw \(Self.rate(mb / raw)), raw to a file \(Self.rate(mb / rawToFile)), store \(Self.rate(mb / store.seconds)), fill \(Self.rate(mb / filled)), fetch \(Self.rate(mb / fetch.seconds)) MB/s"
            )
            table.add([
                Self.shown(size), Self.rate(mb / hash), Self.rate(mb / copy), Self.rate(mb / raw),
                Self.rate(mb / rawToFile),
                Self.rate(mb / store.seconds),
                String(format: "%.0f %%", 100 * raw / store.seconds), Self.rate(mb / filled),
                Self.rate(mb / fetch.seconds),
                String(format: "%.0f %%", 100 * raw / fetch.seconds),
                String(format: "%.1f / %.1f", store.growthMiB, fetch.growthMiB),
            ])
            for directory in [
                "source-\(size)", "cache-\(size)", "copy-\(size)", "raw-\(size)",
                "run/checkpoints/\(reference.prefix(2))",
            ] {
                try? FileManager.default.removeItem(atPath: "\(output)/\(directory)")
            }
        }
        return
            "Checkpoint transfer through the selector's checkpoint service (tcp://127.0.0.1, 1 MiB chunks, 8 asked for at once), beside the raw limits of the same bytes; best of \(Self.rounds) rounds each\n"
            + table.description
    }

    /// Rounds of each measurement; the best is shown.
    static let rounds = 3

    /// `count` bytes that do not compress or repeat (SplitMix64).
    static func bytes(count: Int) -> [UInt8] {
        var random = SplitMix64(seed: UInt64(count))
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            let words = count / 8
            let base = buffer.baseAddress!
            for index in 0..<words { (base + 8 * index).storeBytes(of: random.next(), as: UInt64.self) }
            for index in (8 * words)..<count { buffer[index] = UInt8(truncatingIfNeeded: random.next()) }
        }
        return bytes
    }

    static func timed(_ body: () throws -> Void) throws -> Double {
        let started = Clock.monotonic
        try body()
        return Clock.monotonic - started
    }

    /// Runs `body` while `pid`'s resident memory is sampled every 5 ms; the seconds it took and
    /// the most the memory grew above where it stood before.
    static func sampled(_ pid: pid_t, _ body: () throws -> Void) throws -> (seconds: Double, growthMiB: Double) {
        let before = Double(ProcessSampler.residentKiB(pid)) / 1024
        let sampler = ProcessSampler(pid: pid, interval: 0.005)
        let seconds = try timed(body)
        return (seconds, sampler.stop(from: 0, to: .infinity).residentMiB - before)
    }

    /// Writes `size` bytes to a new scratch file beside the measurements, deletes it and syncs;
    /// the seconds the writing took (what filling that much new memory costs right now).
    func fill(_ size: Int) throws -> Double {
        let scratch = "\(output)/warm"
        let descriptor = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw BenchError("cannot create \(scratch)") }
        defer {
            close(descriptor)
            unlink(scratch)
            sync()
        }
        let buffer = [UInt8](repeating: 0x5a, count: 1 << 20)
        return try Self.timed {
            var written = 0
            while written < size {
                let count = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress!, min($0.count, size - written)) }
                guard count > 0 else { throw BenchError("cannot write \(scratch)") }
                written += count
            }
        }
    }

    /// SHA-256 of the file in 1 MiB reads, the way a transfer checks the bytes it moves: what
    /// verifying them costs on its own.
    static func hash(_ path: String) throws {
        var hasher = SHA256()
        try readChunks(of: path) { hasher.update(bufferPointer: $0) }
        _ = hasher.finalize()
    }

    /// A plain copy in 1 MiB reads and writes.
    static func copy(_ path: String, to target: String) throws {
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard output >= 0 else { throw BenchError("cannot create \(target)") }
        defer { close(output) }
        try readChunks(of: path) { chunk in
            guard write(output, chunk.baseAddress!, chunk.count) == chunk.count else {
                throw BenchError("short write copying \(path)")
            }
        }
    }

    /// Reads the file at `path` in 1 MiB reads into one buffer, handing `body` each chunk read.
    static func readChunks(of path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let input = open(path, O_RDONLY)
        guard input >= 0 else { throw BenchError("cannot read \(path)") }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            guard count > 0 else { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
    }

    /// The file in 1 MiB frames from a PUSH on its own thread to a PULL here, over TCP loopback;
    /// the receiver keeps nothing, or writes the frames to `target`.
    static func rawTransfer(_ path: String, size: Int, context: ZMQContext, into target: String? = nil) throws {
        let output = target.map { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) } ?? -1
        defer { if output >= 0 { close(output) } }
        let pull = try ZMQSocket(context, .pull)
        defer { pull.close() }
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint
        let failed = Atomic<Bool>(false)
        let sender = Thread {
            do {
                let push = try ZMQSocket(context, .push, linger: 1000)
                defer { push.close() }
                try push.connect(endpoint)
                let descriptor = open(path, O_RDONLY)
                defer { close(descriptor) }
                var offset = 0
                while offset < size {
                    let length = min(1 << 20, size - offset)
                    var chunk = [UInt8](repeating: 0, count: length)
                    let count = chunk.withUnsafeMutableBytes {
                        pread(descriptor, $0.baseAddress!, length, off_t(offset))
                    }
                    guard count == length else { throw BenchError("short read") }
                    _ = try push.send([chunk])
                    offset += length
                }
            } catch {
                failed.store(true, ordering: .relaxed)
            }
        }
        sender.start()
        var received = 0
        while received < size {
            guard let frames = try pull.receive(timeoutMilliseconds: 120_000) else {
                throw BenchError("the raw transfer stalled at \(received) of \(size) bytes")
            }
            received += frames.reduce(0) { $0 + $1.count }
            if output >= 0 {
                for frame in frames {
                    guard frame.withUnsafeBytes({ write(output, $0.baseAddress!, $0.count) }) == frame.count else {
                        throw BenchError("short write in the raw transfer")
                    }
                }
            }
        }
        if failed.load(ordering: .relaxed) { throw BenchError("the raw sender failed") }
    }

    static func shown(_ size: Int) -> String {
        size >= 1 << 30 ? "\(size >> 30) GiB" : size >= 1 << 20 ? "\(size >> 20) MiB" : "\(size >> 10) KiB"
    }

    static func rate(_ value: Double) -> String {
        String(format: "%.0f", value)
    }
}
