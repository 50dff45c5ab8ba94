import Foundation
import PBTSystem
import PBTTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Outside programs the watching tests drive (tmux, chromium, prometheus), found in PATH.
enum ExternalTool {
    static func path(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":")
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func available(_ name: String) -> Bool { path(name) != nil }

    /// Runs a program to its end (at most `seconds`) and returns its exit and its output.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], within seconds: Double = 30, environment: [String: String] = [:],
        in directory: TemporaryDirectory
    ) throws -> (ChildProcess.Termination?, String) {
        let output = directory.file("tool-\(UUID().uuidString).txt")
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment, output: output)
        let end = child.wait(seconds: seconds)
        if end == nil { _ = child.stop(grace: 1) }
        return (end, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

/// A tmux server of the test's own (its own socket), running one program in a window of a
/// fixed size; the pane stays after the program exits so that its last screen can be read.
final class TmuxSession {
    let socket = "pbt-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    let directory: TemporaryDirectory
    let tmux: String

    init(command: [String], width: Int, height: Int, directory: TemporaryDirectory) throws {
        self.directory = directory
        tmux = try #require(ExternalTool.path("tmux"))
        // The program's parent is the tmux server, not this test: it must not follow our pid
        // (ParentWatch would end it at once).
        let line = (["env", "-u", "PBT_PARENT_PID"] + command).map {
            "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
        let (end, output) = try ExternalTool.run(
            tmux,
            [
                "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "watch", "-x", String(width), "-y",
                String(height), line,
            ],
            environment: ["TERM": "xterm-256color"], in: directory)
        guard end?.succeeded == true else { throw TmuxError(message: "tmux new-session failed: \(output)") }
        try ExternalTool.run(tmux, ["-L", socket, "set-option", "-t", "watch", "remain-on-exit", "on"], in: directory)
    }

    /// What the pane shows now; with `history`, the lines scrolled off the top too (tmux's
    /// "Pane is dead" line, written once the program exits, scrolls a full pane by one).
    func capture(history: Bool = false) -> String {
        (try? ExternalTool.run(
            tmux, ["-L", socket, "capture-pane", "-p", "-t", "watch"] + (history ? ["-S", "-"] : []), in: directory
        ).1) ?? ""
    }

    func sendKeys(_ keys: String) throws {
        try ExternalTool.run(tmux, ["-L", socket, "send-keys", "-t", "watch", keys], in: directory)
    }

    /// Whether the program in the pane has exited.
    var programExited: Bool {
        ((try? ExternalTool.run(
            tmux, ["-L", socket, "display-message", "-p", "-t", "watch", "#{pane_dead}"], in: directory
        ).1) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    /// Waits until the screen satisfies `condition`; returns the last screen seen.
    func waitForScreen(within seconds: Double, _ condition: (String) -> Bool) -> (held: Bool, screen: String) {
        var screen = ""
        let held = eventually(within: seconds) {
            screen = capture()
            return condition(screen)
        }
        return (held, screen)
    }

    deinit {
        _ = try? ExternalTool.run(tmux, ["-L", socket, "kill-server"], in: directory)
    }
}

struct TmuxError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// One HTTP GET (or, with `postJSON`, a POST of that JSON) with a deadline: the status and
/// the body, or nil when nothing answered.
func httpGet(_ url: String, timeout: Double = 5, postJSON: String? = nil) -> (status: Int, body: String)? {
    guard let url = URL(string: url) else { return nil }
    final class Outcome: @unchecked Sendable {
        var value: (Int, String)?
        let done = DispatchSemaphore(value: 0)
    }
    let outcome = Outcome()
    var request = URLRequest(url: url)
    request.timeoutInterval = timeout
    if let postJSON {
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(postJSON.utf8)
    }
    let task = URLSession.shared.dataTask(with: request) { data, response, _ in
        if let response = response as? HTTPURLResponse {
            outcome.value = (response.statusCode, String(decoding: data ?? Data(), as: UTF8.self))
        }
        outcome.done.signal()
    }
    task.resume()
    guard outcome.done.wait(timeout: .now() + timeout + 1) == .success else {
        task.cancel()
        return nil
    }
    return outcome.value
}

/// A TCP port that was free a moment ago (for programs that cannot pick their own).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The first match of `pattern`'s first group in `text`.
func firstMatch(_ pattern: String, in text: String) -> String? {
    guard let regex = try? NSRegularExpression(pattern: pattern),
        let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), match.numberOfRanges > 1,
        let range = Range(match.range(at: 1), in: text)
    else { return nil }
    return String(text[range])
}

/// Prometheus text exposition parsed into (name, labels) → value.
struct ScrapedMetrics {
    var values: [String: Double] = [:]
    var names: Set<String> = []
    var help: Set<String> = []

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { help.insert(String(line.split(separator: " ")[2])) }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw ExpositionLineError(line: String(line))
            }
            let series = String(line[..<space])
            values[series] = value
            names.insert(String(series.prefix { $0 != "{" }))
        }
    }

    subscript(_ series: String) -> Double? { values[series] }
}

struct ExpositionLineError: Error {
    let line: String
}
