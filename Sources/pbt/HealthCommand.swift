import ArgumentParser
import Foundation
import PBTSystem

/// `pbt health`: exit 0 when every endpoint answers in its own protocol, 1 when one does not.
/// Meant for a container's HEALTHCHECK (the image runs it), where "the process exists" says
/// nothing: it checks what the stage is for.
///
///     selector      PBT_HEALTH=tcp://127.0.0.1:5555                          its work socket is bound and answers ZMTP
///     events proxy  PBT_HEALTH="tcp://127.0.0.1:5556 tcp://127.0.0.1:5557"   both sides of the proxy
///     trainer, …    PBT_HEALTH unset: PBT_WORK                               the selector it works for is reachable
///     pbt run       PBT_HEALTH=file:runs/*/.ready/selector.json              the endpoints its stages reported
///     exporter      PBT_HEALTH=http://127.0.0.1:9464/metrics                 answers 2xx
struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check that stages answer at their endpoints (for container health checks).",
        discussion: """
            An endpoint is tcp://HOST:PORT (a ZeroMQ socket must answer with its greeting; the stage sees no \
            message), http://HOST:PORT/PATH (a 2xx answer), or file:PATTERN (a ready file written by a stage \
            with --ready-file, the newest that matches: every endpoint in it). * and 0.0.0.0 mean this machine. \
            Without arguments: the endpoints in PBT_HEALTH (separated by spaces or commas), else PBT_WORK, \
            else tcp://127.0.0.1:5555. Exit 0 when all answer, 1 when any does not.
            """)

    @Argument(help: "Endpoints to check (default: env PBT_HEALTH, else PBT_WORK).")
    var endpoints: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Seconds to wait for each endpoint.")
    var timeout: Double = 2

    @Flag(name: .long, help: "Print nothing; only the exit code tells.")
    var quiet = false

    func validate() throws {
        guard timeout > 0 && timeout <= 60 else {
            throw ValidationError("--timeout must be between 0 and 60 seconds, got \(timeout)")
        }
    }

    func run() throws {
        let given = endpoints.isEmpty ? Self.defaultEndpoints() : endpoints
        var healthy = true
        for endpoint in given {
            for outcome in check(endpoint) {
                healthy = healthy && outcome.healthy
                if !quiet {
                    print(
                        "\(outcome.healthy ? "ok" : "unhealthy") \(outcome.endpoint): \(outcome.detail) (\(Int(outcome.milliseconds.rounded())) ms)"
                    )
                }
            }
        }
        if !healthy { throw ExitCode(1) }
    }

    static func defaultEndpoints() -> [String] {
        if let list = environment("PBT_HEALTH") {
            let items = list.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }).map(
                String.init)
            if !items.isEmpty { return items }
        }
        return [environment("PBT_WORK") ?? "tcp://127.0.0.1:5555"]
    }

    private func check(_ endpoint: String) -> [EndpointProbe.Outcome] {
        guard endpoint.hasPrefix("file:") else { return [EndpointProbe.check(endpoint, timeout: timeout)] }
        let pattern = String(endpoint.dropFirst(5))
        func failed(_ detail: String) -> [EndpointProbe.Outcome] {
            [EndpointProbe.Outcome(endpoint: endpoint, healthy: false, detail: detail, milliseconds: 0)]
        }
        guard let file = Self.newestMatch(pattern) else { return failed("no file matches \(pattern) (yet)") }
        guard let data = FileManager.default.contents(atPath: file),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let found = object["endpoints"] as? [String: String], !found.isEmpty
        else { return failed("\(file) is not a ready file (no endpoints in it)") }
        return found.keys.sorted().map { EndpointProbe.check(found[$0]!, timeout: timeout) }
    }

    /// The most recently modified file matching a glob pattern.
    static func newestMatch(_ pattern: String) -> String? {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0 else { return nil }
        var newest: (path: String, time: Date)?
        for index in 0..<Int(matches.gl_pathc) {
            guard let raw = matches.gl_pathv[index] else { continue }
            let path = String(cString: raw)
            let time =
                (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            if newest == nil || time > newest!.time { newest = (path, time) }
        }
        return newest?.path
    }
}
