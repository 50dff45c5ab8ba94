import Foundation
import PBTSystem
import Testing

/// `pbt health`, the container health check: healthy when a stage answers at its endpoints,
/// unhealthy (exit 1) when nothing or something else answers, and invisible to the stage.
@Suite("pbt health")
struct HealthCommandTests {
    /// Runs `pbt health` with `arguments` (and `environment`), returning its exit status and output.
    func health(
        _ arguments: [String], environment: [String: String] = [:], in directory: TemporaryDirectory
    ) throws -> (Int32, String) {
        let output = directory.file("health-\(UUID().uuidString).log")
        let child = try ChildProcess(
            executable: PBTBinary.path, arguments: ["health"] + arguments, environment: environment, stdin: .null,
            stdout: .file(output),
            stderr: .file(output))
        let end = try #require(child.wait(seconds: 30), "pbt health did not finish")
        return (end.exitCode ?? -1, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("a running pipeline is healthy, and the probes leave no trace in it")
    func healthyPipeline() throws {
        let pipeline = try PipelineHarness(experiment: noopExperiment(population: 2, maxSteps: 4))
        // The selector on TCP with a ready file, as in a container.
        let ready = pipeline.directory.file("selector-tcp.json")
        let selector = try PBTProcess(
            [
                "selector", pipeline.experiment, "--run-dir", pipeline.run, "--bind", "tcp://127.0.0.1:*", "--events",
                pipeline.publishers,
                "--ready-file", ready,
            ],
            output: pipeline.directory.file("selector.log"))
        let work = try #require(try readyEndpoints(ready)["work"])

        let (code, output) = try health([work, pipeline.publishers, pipeline.subscribers], in: pipeline.directory)
        #expect(code == 0, "\(output)")
        #expect(output.components(separatedBy: "a ZeroMQ peer answered").count == 4, "\(output)")

        // A ready file stands for the endpoints in it; a glob picks the newest.
        let (fromFile, fileOutput) = try health(
            ["file:\(pipeline.directory.path)/selector-*.json"], in: pipeline.directory)
        #expect(fromFile == 0, "\(fileOutput)")
        #expect(fileOutput.contains(work), "\(fileOutput)")

        // Without arguments: PBT_HEALTH, separated by spaces or commas.
        let (fromEnvironment, environmentOutput) = try health(
            [], environment: ["PBT_HEALTH": "\(work), \(pipeline.subscribers)"], in: pipeline.directory)
        #expect(fromEnvironment == 0, "\(environmentOutput)")

        // Probing many times is not a worker joining, nor a bad frame.
        for _ in 0..<5 { _ = try health([work], in: pipeline.directory) }
        let workers = try ["trainer", "evaluator", "mutator"].map { role in
            try PBTProcess(
                [role, "--connect", work, "--events", pipeline.publishers, "--name", role],
                output: pipeline.directory.file("\(role).log"))
        }
        let end = try #require(selector.finish(within: 60))
        #expect(end.succeeded, "\(selector.log)")
        for worker in workers { _ = worker.finish(within: 30) }
        let topics = pipeline.events().map(\.topic.rawValue)
        #expect(!topics.contains("frame.dropped"), "\(topics)")
        // Only the three real workers joined; the mutator has no work here and may join after the end.
        let joined = topics.filter { $0.hasSuffix(".joined") }
        #expect(
            Set(joined).isSubset(of: ["evaluator.joined", "mutator.joined", "trainer.joined"]) && joined.count <= 3,
            "\(topics)")
        #expect(joined.contains("trainer.joined") && joined.contains("evaluator.joined"), "\(topics)")
    }

    @Test("nothing listening, not a ZeroMQ peer, no ready file, not an endpoint: unhealthy, exit 1")
    func unhealthy() throws {
        let directory = try TemporaryDirectory()
        // A port that was just free: bind, learn it, close.
        let port = try freePort()
        let cases: [([String], String)] = [
            (["tcp://127.0.0.1:\(port)", "--timeout", "1"], "unhealthy tcp://127.0.0.1:\(port)"),
            (["file:\(directory.path)/nothing-*.json"], "no file matches"),
            (["udp://127.0.0.1:5555"], "not an endpoint"),
            (["tcp://127.0.0.1"], "not an endpoint"),
        ]
        for (arguments, mention) in cases {
            let (code, output) = try health(arguments, in: directory)
            #expect(code == 1, "\(arguments): \(output)")
            #expect(output.contains(mention), "\(arguments): \(output)")
        }
        // A TCP server that says nothing is not a ZeroMQ peer.
        let silent = try TCPListener()
        let (code, output) = try health(["tcp://127.0.0.1:\(silent.port)", "--timeout", "0.5"], in: directory)
        #expect(code == 1, "\(output)")
        #expect(output.contains("no ZeroMQ greeting"), "\(output)")
    }

    func freePort() throws -> Int {
        let listener = try TCPListener()
        return listener.port
    }
}

/// A listening TCP socket on a free loopback port that never accepts; closed on deinit.
final class TCPListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
        }
        try #require(bound == 0 && listen(fd, 4) == 0, "cannot listen: \(String(cString: strerror(errno)))")
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
