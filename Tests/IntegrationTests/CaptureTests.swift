import Foundation
import PBTSystem
import PBTTestSupport
import Testing

/// tshark (Debian's package `tshark`), when it is installed and may capture on the loopback.
enum Tshark {
    static let path: String? = {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/sbin").split(separator: ":") {
            let candidate = "\(directory)/tshark"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Whether tshark is here and lists the loopback interface (capturing needs root or
    /// dumpcap's capabilities).
    static let usable: Bool = {
        guard let path, let directory = try? TemporaryDirectory() else { return false }
        let listing = directory.file("interfaces.txt")
        guard let process = try? ChildProcess(executable: path, arguments: ["-D"], output: listing),
            process.wait(seconds: 30)?.succeeded == true,
            let text = try? String(contentsOfFile: listing, encoding: .utf8)
        else { return false }
        return text.split(separator: "\n").contains { $0.hasSuffix(". lo") || $0.contains(". lo ") }
    }()

    static let skipReason: Comment =
        "tshark is not installed or cannot capture on lo: apt-get install tshark (as root; .ci/run installs it)"
}

/// What a network observer sees: a capture of the test's own loopback traffic.
@Suite("capture", .serialized)
struct CaptureTests {
    @Test(
        "a capture of the stages' loopback traffic shows hyperparameter names in the clear without CURVE, and none with it",
        .enabled(if: Tshark.usable, Tshark.skipReason), .timeLimit(.minutes(3)), arguments: [false, true])
    func captureShowsNamesOnlyWithoutCurve(secure: Bool) throws {
        let name = "learning_rate_for_capture"
        let pipeline = try SecurePipeline(
            experiment: SecurityTests.experiment(
                name: "capture", population: 4, maxSteps: 20, stepSeconds: 0.01,
                extra: secure ? "security: {curve: true}" : ""),
            secure: secure)
        try pipeline.startServers()
        // The evaluator's and the mutator's inlets: ports picked now, so the capture covers them.
        let inletPorts = try (0..<2).map { _ in try #require(freeLoopbackPort()) }
        let ports = pipeline.ports + inletPorts
        #expect(
            ports.count == 6,
            "\(pipeline.work) \(pipeline.inlet) \(pipeline.publishers) \(pipeline.subscribers) \(inletPorts)")

        // Capture only the test's own ports, from before any worker connects.
        let capture = pipeline.directory.file("capture.pcapng")
        let tsharkLog = pipeline.directory.file("tshark.log")
        let tshark = try ChildProcess(
            executable: try #require(Tshark.path),
            arguments: ["-i", "lo", "-f", ports.map { "tcp port \($0)" }.joined(separator: " or "), "-w", capture],
            output: tsharkLog)
        defer { tshark.stop(grace: 2) }
        let capturing = eventually(within: 30) {
            ((try? String(contentsOfFile: tsharkLog, encoding: .utf8)) ?? "").contains("Capturing on")
        }
        try #require(
            capturing, "tshark did not start: \((try? String(contentsOfFile: tsharkLog, encoding: .utf8)) ?? "")")

        // A subscriber too, so the subscriber side carries events.
        let tap = try PBTProcess(
            ["events", "--endpoint", pipeline.subscribers, "--until", "experiment.finished"]
                + pipeline.clientArguments(), output: pipeline.directory.file("tap.log"))
        #expect(eventually(within: 20) { tap.log.contains("connected to the event proxy") || !secure }, "\(tap.log)")
        try pipeline.start("evaluator", "evaluator-1", inletPort: inletPorts[0])
        try pipeline.start("mutator", "mutator-1", inletPort: inletPorts[1])
        try pipeline.start("trainer", "trainer-1")
        let summary = try pipeline.finish(within: 60)
        #expect(summary["reason"] as? String == "max_steps")
        #expect(tap.finish(within: 30)?.succeeded == true, "\(tap.log)")
        tshark.send(SIGINT)
        #expect(tshark.wait(seconds: 30) != nil)

        // Every TCP payload byte of the capture.
        let payloads = pipeline.directory.file("payloads.txt")
        let reader = try ChildProcess(
            executable: try #require(Tshark.path), arguments: ["-r", capture, "-T", "fields", "-e", "tcp.payload"],
            output: payloads)
        #expect(reader.wait(seconds: 60)?.succeeded == true)
        var bytes: [UInt8] = []
        var streams = 0
        for line in try String(contentsOfFile: payloads, encoding: .utf8).split(separator: "\n") {
            let hex = line.filter(\.isHexDigit)
            guard !hex.isEmpty else { continue }
            streams += 1
            var index = hex.startIndex
            while let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), next > index {
                if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
                index = next
            }
        }
        // The capture holds the run: the experiment, its tasks and its events went over these ports.
        #expect(bytes.count > 20_000, "captured \(bytes.count) payload bytes in \(streams) packets")
        let found = bytes.firstRange(of: Array(name.utf8)) != nil
        if secure {
            #expect(!found, "'\(name)' is readable in the CURVE capture")
            #expect(
                bytes.firstRange(of: Array("member.trained".utf8)) == nil,
                "an event topic is readable in the CURVE capture")
        } else {
            #expect(found, "'\(name)' is not in the plaintext capture of \(bytes.count) bytes")
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
func freeLoopbackPort() -> Int? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else { return nil }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { return nil }
    return Int(UInt16(bigEndian: address.sin_port))
}
