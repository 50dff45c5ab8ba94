#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A process, told apart from a later one that gets the same pid by its start time.
struct ProcessIdentity: Equatable {
    let pid: pid_t
    /// Clock ticks after boot when it started (field 22 of /proc/PID/stat); 0 where there is no /proc.
    let start: UInt64

    static var current: ProcessIdentity {
        let pid = getpid()
        return ProcessIdentity(pid: pid, start: startTime(of: pid) ?? 0)
    }

    init(pid: pid_t, start: UInt64) {
        self.pid = pid
        self.start = start
    }

    /// Reads "PID START".
    init?(text: String) {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, let start = UInt64(fields[1]) else { return nil }
        self.init(pid: pid, start: start)
    }

    var text: String { "\(pid) \(start)\n" }

    /// Whether this very process still runs (a zombie does not count).
    var isRunning: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return start == 0 }
        let fields = Self.fieldsAfterCommand(stat)
        guard let state = fields.first, state != "Z", state != "X" else { return false }
        return start == 0 || Self.startTime(of: pid) == start
    }

    /// Field 22 of /proc/PID/stat (the 20th after the command, which is in parentheses and may hold spaces).
    static func startTime(of pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        let fields = fieldsAfterCommand(stat)
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    private static func fieldsAfterCommand(_ stat: String) -> [Substring] {
        guard let close = stat.lastIndex(of: ")") else { return [] }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
