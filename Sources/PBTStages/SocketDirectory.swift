import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The private directory where `pbt run`'s stages put their Unix domain sockets.
///
///     /tmp/pbt-Ab12Cd/
///       owner                        "PID START" — the pbt run that made it
///       events-in, events-out, work  the sockets
///
/// It lives in /tmp, not in the run directory, because a socket's path must fit in about 100
/// bytes (`sun_path`) and a run directory's path can be any length; the endpoints `pbt run`
/// prints then work from any directory. `pbt run` removes it when it ends; when it cannot
/// (SIGKILL), the next `pbt run` does: it removes every such directory whose owner no longer
/// runs. The owner is its pid and its start time (from /proc), so that a pid used again by
/// another process does not keep a dead run's directory alive.
public struct SocketDirectory: Sendable {
    public let path: String

    static let prefix = "pbt-"
    static let ownerFile = "owner"

    /// Makes a fresh directory in `parent` and records this process as its owner.
    public static func make(in parent: String = "/tmp") throws -> SocketDirectory {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw RunError(
                "cannot make a directory for the stages' sockets in \(parent): \(String(cString: strerror(errno)))")
        }
        let directory = SocketDirectory(path: String(cString: made))
        do {
            try ProcessIdentity.current.text.write(
                toFile: directory.path + "/" + ownerFile, atomically: true, encoding: .utf8)
        } catch {
            directory.remove()
            throw RunError("cannot write \(directory.path)/\(ownerFile): \(error.localizedDescription)")
        }
        return directory
    }

    /// Removes the directory and the sockets in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Removes the socket directories in `parent` that this user's `pbt run`s left behind:
    /// those whose owner file names a process that is gone. Returns the ones removed.
    @discardableResult
    public static func removeAbandoned(in parent: String = "/tmp") -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        var removed: [String] = []
        for entry in entries where entry.hasPrefix(prefix) && entry.utf8.count == prefix.utf8.count + 6 {
            let directory = "\(parent)/\(entry)"
            var status = stat()
            // A real directory of ours (not a link someone else put there).
            guard lstat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == getuid() else {
                continue
            }
            // No owner file: not ours, or being made this instant. Leave it.
            guard let text = try? String(contentsOfFile: "\(directory)/\(ownerFile)", encoding: .utf8),
                let owner = ProcessIdentity(text: text), !owner.isRunning
            else { continue }
            if (try? FileManager.default.removeItem(atPath: directory)) != nil { removed.append(directory) }
        }
        return removed
    }
}
