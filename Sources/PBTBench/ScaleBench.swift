import Foundation
import PBTSystem
import Synchronization

/// `pbt bench scale`: one real selector (with a real evaluator and mutator) and 10, 100 and
/// 1,000 simulated trainers (`SimulatedTrainers`: DEALERs driven from a few processes, steps of
/// 10–100 ms), a member a trainer. Per trainer count: decisions/s, the trainers' turnaround
/// (from handing a member on to the next task) and how busy they were, and the selector's CPU
/// and resident memory.
public struct ScaleBench {
    let executable: String
    let output: String
    let counts: [Int]
    let seconds: Double

    public init(executable: String, output: String, counts: [Int], seconds: Double) {
        self.executable = executable
        self.output = output
        self.counts = counts
        self.seconds = seconds
    }

    public func run(log: (String) -> Void) throws -> String {
        try? FileManager.default.removeItem(atPath: output)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var table = BenchTable([
            "trainers", "decisions/s", "turnaround p50 (ms)", "p99 (ms)", "p99 ÷ 10 trainers'", "trainers busy",
            "selector CPU", "selector RSS (MiB)",
        ])
        var baseP99: Double?
        for count in counts {
            let result = try measure(trainers: count, log: log)
            baseP99 = baseP99 ?? result.p99
            log(
                "\(count) trainers: \(Int(result.decisionsPerSecond)) decisions/s, turnaround p50 \(result.p50 * 1000) ms p99 \(result.p99 * 1000) ms, busy \(result.busy), selector CPU \(result.cpu), RSS \(result.residentMiB) MiB"
            )
            table.add([
                "\(count)", String(format: "%.0f", result.decisionsPerSecond),
                String(format: "%.2f", result.p50 * 1000), String(format: "%.2f", result.p99 * 1000),
                String(format: "%.1f×", result.p99 / (baseP99 ?? result.p99)),
                String(format: "%.1f %%", result.busy * 100),
                String(format: "%.0f %% of a core", result.cpu * 100), String(format: "%.1f", result.residentMiB),
            ])
        }
        return
            "One selector, a member a trainer, simulated trainers with steps of 10–100 ms (\(Int(seconds)) s a row; tcp://127.0.0.1; one evaluator, one mutator)\n"
            + table.description
    }

    struct Result {
        var decisionsPerSecond: Double
        var p50: Double
        var p99: Double
        var busy: Double
        var cpu: Double
        var residentMiB: Double
    }

    func measure(trainers count: Int, log: (String) -> Void) throws -> Result {
        let directory = "\(output)/\(count)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let experiment = "\(directory)/scale.yml"
        try """
        name: scale-\(count)
        seed: 1
        workload: {kind: noop}
        population: \(count)
        interval: 1
        stop: {max_steps: 1000000000, time_budget: \(Int(seconds))}
        exploit: {strategy: truncation, fraction: 0.25}
        explore: {strategy: perturb}
        hyperparameters:
          x: {uniform: [0, 1]}
        """.write(toFile: experiment, atomically: true, encoding: .utf8)
        let selector = try ChildProcess(
            executable: executable,
            arguments: [
                "selector", experiment, "--run-dir", "\(directory)/run", "--bind", "tcp://127.0.0.1:*", "--inlet-bind",
                "tcp://127.0.0.1:*", "--store-bind", "tcp://127.0.0.1:*", "--events", "none", "--min-trainers",
                "\(count)", "--start-timeout", "120", "--ready-file", "\(directory)/selector.json",
            ],
            output: "\(directory)/selector.log")
        var children: [ChildProcess] = [selector]
        defer {
            for child in children where child.poll() == nil { child.send(SIGKILL) }
            for child in children { _ = child.wait(seconds: 10) }
        }
        let endpoints = try PipelineBench.endpoints(
            in: "\(directory)/selector.json", of: selector, log: "\(directory)/selector.log")
        guard let work = endpoints["work"] else { throw BenchError("the selector named no work endpoint") }
        for role in ["evaluator", "mutator"] {
            children.append(
                try ChildProcess(
                    executable: executable,
                    arguments: [
                        role, "--connect", work, "--events", "none", "--name", role, "--inlet-bind",
                        "tcp://127.0.0.1:*",
                    ],
                    output: "\(directory)/\(role).log"))
        }
        let processes = max(1, min(4, count / 10))
        var files: [String] = []
        for index in 0..<processes {
            let share = count / processes + (index < count % processes ? 1 : 0)
            let file = "\(directory)/sim-\(index).txt"
            files.append(file)
            children.append(
                try ChildProcess(
                    executable: executable,
                    arguments: [
                        "bench", "sim-trainers", "--connect", work, "--count", "\(share)", "--checkpoints",
                        "\(directory)/run/checkpoints", "--seconds", "\(Int(seconds) + 150)", "--output", file,
                        "--prefix", "sim\(index)",
                    ],
                    output: "\(directory)/sim-\(index).log"))
        }
        // The selector's CPU and memory, sampled while it runs.
        let sampler = ProcessSampler(pid: selector.pid)
        guard let end = selector.wait(seconds: seconds + 150), end.succeeded else {
            throw BenchError("the selector of \(count) trainers did not finish; see \(directory)/selector.log")
        }
        let events = try BenchEvents.read("\(directory)/run/events.jsonl")
        let decided = events.filter { $0.topic == .memberDecided }
        let span = (decided.last?.time ?? 0) - (decided.first?.time ?? 0)
        // CPU over the decisions only: not the wait while a thousand trainers connect.
        let usage = sampler.stop(from: decided.first?.time ?? 0, to: decided.last?.time ?? .infinity)
        for child in children.dropFirst(3) { _ = child.wait(seconds: 30) }
        var turnarounds: [Double] = []
        var busy = 0.0
        var capacity = 0.0
        for file in files {
            let lines = (try String(contentsOfFile: file, encoding: .utf8)).split(separator: "\n")
            let head = lines.first?.split(separator: " ") ?? []
            if head.count == 4, let seconds = Double(head[1]), let elapsed = Double(head[2]), let n = Double(head[3]) {
                busy += seconds
                capacity += elapsed * n
            }
            turnarounds += lines.dropFirst().compactMap { Double($0) }
        }
        turnarounds.sort()
        func percentile(_ p: Double) -> Double {
            turnarounds.isEmpty ? .nan : turnarounds[min(turnarounds.count - 1, Int(p * Double(turnarounds.count)))]
        }
        return Result(
            decisionsPerSecond: span > 0 ? Double(decided.count) / span : 0, p50: percentile(0.5),
            p99: percentile(0.99),
            busy: capacity > 0 ? busy / capacity : 0, cpu: usage.cpu, residentMiB: usage.residentMiB)
    }
}

/// Samples a process's CPU time (by the wall clock, which events use too) and resident memory
/// every `interval` seconds until stopped, and once more when stopped.
final class ProcessSampler: @unchecked Sendable {
    private let pid: pid_t
    private let running = Atomic<Bool>(true)
    private let lock = NSLock()
    private var samples: [(time: Double, ticks: Int)] = []
    private var peakKiB = 0
    private let finished = DispatchSemaphore(value: 0)

    init(pid: pid_t, interval: Double = 0.1) {
        self.pid = pid
        Thread { [self] in
            while running.load(ordering: .relaxed) {
                sample()
                usleep(useconds_t(interval * 1_000_000))
            }
            sample()
            finished.signal()
        }.start()
    }

    private func sample() {
        guard let ticks = Self.ticks(pid) else { return }
        let now = Clock.wall
        let resident = Self.residentKiB(pid)
        lock.lock()
        samples.append((now, ticks))
        peakKiB = max(peakKiB, resident)
        lock.unlock()
    }

    /// CPU as a fraction of one core over the samples from `start` to `end` (wall-clock
    /// seconds), and the most resident memory seen.
    func stop(from start: Double, to end: Double) -> (cpu: Double, residentMiB: Double) {
        running.store(false, ordering: .relaxed)
        finished.wait()
        lock.lock()
        defer { lock.unlock() }
        let within = samples.filter { $0.time >= start && $0.time <= end }
        guard let first = within.first ?? samples.first, let last = within.last ?? samples.last, last.time > first.time
        else { return (0, Double(peakKiB) / 1024) }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (Double(last.ticks - first.ticks) / hertz / (last.time - first.time), Double(peakKiB) / 1024)
    }

    /// VmRSS of a process, in KiB.
    static func residentKiB(_ pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    /// utime + stime of a process, in clock ticks.
    static func ticks(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}
