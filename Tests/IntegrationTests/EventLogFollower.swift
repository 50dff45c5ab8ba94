import Foundation
import PBTCore
import PBTWire

#if canImport(Glibc)
import Glibc
#endif

/// A run's `events.jsonl` read as it grows, through the event contract: typed events, and a
/// wait for a condition on them that wakes when the log changes (inotify) instead of on a
/// timer, up to a deadline.
///
/// The log is the record (the stream may drop); a selector that restarts and cuts it back to
/// its last commit is followed too: the events are read again from the start.
final class EventLogFollower {
    let path: String
    private(set) var events: [TimedEvent] = []
    /// Lines that were not events, with their problem (a test can check there are none).
    private(set) var problems: [String] = []
    private var offset: UInt64 = 0
    private var partial: [UInt8] = []
    /// The last bytes read (up to 256), to notice the log was rewritten under the follower.
    private var tail: [UInt8] = []
    private let notifications: Int32
    private var watching: Set<String> = []

    init(path: String) {
        self.path = path
        notifications = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        watchDirectories()
    }

    deinit {
        if notifications >= 0 { close(notifications) }
    }

    /// Reads what the log gained since the last look; returns every event so far.
    @discardableResult
    func refresh() -> [TimedEvent] {
        watchDirectories()
        guard let handle = FileHandle(forReadingAtPath: path) else { return events }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        // A restarted selector cuts the log back to its last commit, then appends: when the
        // bytes before `offset` are no longer those read, read it all again.
        var rewritten = size < offset
        if !rewritten, !tail.isEmpty {
            let tailStart = offset - UInt64(tail.count)
            rewritten =
                (try? handle.seek(toOffset: tailStart)) == nil
                || (try? handle.read(upToCount: tail.count)).map { [UInt8]($0) } != tail
        }
        if rewritten {
            events = []
            problems = []
            offset = 0
            partial = []
            tail = []
        }
        guard size > offset, (try? handle.seek(toOffset: offset)) != nil,
            let data = try? handle.read(upToCount: Int(size - offset))
        else { return events }
        offset += UInt64(data.count)
        tail = Array((tail + data).suffix(256))
        partial += data
        // The complete lines go through EventLog; a line still being written waits for the rest.
        guard let lastNewline = partial.lastIndex(of: 10) else { return events }
        let log = EventLog(text: String(decoding: partial[...lastNewline], as: UTF8.self))
        events += log.events
        problems += log.problems.map(\.problem)
        partial.removeFirst(lastNewline + 1)
        return events
    }

    /// Waits until `condition` holds for the events so far, or `seconds` pass; returns
    /// whether it held.
    func wait(within seconds: Double, until condition: ([TimedEvent]) -> Bool) -> Bool {
        let deadline = ProcessInfo.processInfo.systemUptime + seconds
        while true {
            if condition(refresh()) { return true }
            let left = deadline - ProcessInfo.processInfo.systemUptime
            if left <= 0 { return false }
            // Wake on a change under the run directory; at most every 250 ms whatever happens
            // (a directory created after the last look is watched from the next one).
            var descriptor = pollfd(fd: notifications, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(min(left, 0.25) * 1000))
            drainNotifications()
        }
    }

    /// Watches the log's directory and its parent (which sees the run directory appear).
    private func watchDirectories() {
        guard notifications >= 0 else { return }
        let directory = (path as NSString).deletingLastPathComponent
        for watched in [(directory as NSString).deletingLastPathComponent, directory]
        where !watching.contains(watched) && FileManager.default.fileExists(atPath: watched) {
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
            if inotify_add_watch(notifications, watched, mask) >= 0 { watching.insert(watched) }
        }
    }

    private func drainNotifications() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(notifications, &buffer, buffer.count) > 0 {}
    }
}

/// What a test asks of most events, whatever their case.
extension TimedEvent {
    /// The member the event is about, if it is about one.
    var member: Int? { event.member }

    /// The worker the event names: the one handed a task, that reported, joined or left.
    var worker: String? {
        switch event {
        case .workerJoined(_, let worker), .workerLeft(_, let worker, _), .workerBenched(_, let worker, _, _),
            .memberAssigned(_, _, _, let worker, _), .memberFailed(_, _, let worker, _, _),
            .leaseExpired(_, _, _, let worker), .leaseReleased(_, _, _, let worker, _),
            .resultDropped(_, _, let worker, _, _, _, _), .stageStarted(_, let worker, _),
            .stageStopped(_, let worker, _), .frameDropped(_, let worker, _, _, _):
            worker
        case .memberTrained(let trained): trained.trainer
        case .memberScored(_, _, _, _, let evaluator): evaluator
        case .memberExploited(let exploited): exploited.mutator
        default: nil
        }
    }

    /// The step the event is at.
    var step: Int? {
        switch event {
        case .memberAssigned(_, _, _, _, let step), .memberScored(_, _, let step, _, _),
            .memberDecided(_, let step, _, _, _, _), .memberFinished(_, let step, _):
            step
        case .memberTrained(let trained): trained.step
        case .memberExploited(let exploited): exploited.step
        default: nil
        }
    }

    /// The task's version, for the events of a task.
    var version: Int? {
        switch event {
        case .memberAssigned(_, let version, _, _, _), .memberScored(_, let version, _, _, _),
            .memberFailed(_, let version, _, _, _), .leaseExpired(_, let version, _, _),
            .leaseReleased(_, let version, _, _, _), .resultDropped(_, let version, _, _, _, _, _):
            version
        case .memberTrained(let trained): trained.version
        default: nil
        }
    }

    /// Why: a failure's, a drop's, a lease's release, a worker's leaving, a stage's stop.
    var reason: String? {
        switch event {
        case .memberFailed(_, _, _, let reason, _), .leaseReleased(_, _, _, _, let reason),
            .resultDropped(_, _, _, let reason, _, _, _), .workerLeft(_, _, let reason),
            .stageStopped(_, _, let reason), .frameDropped(_, _, let reason, _, _),
            .peerRefused(_, _, _, let reason, _):
            reason
        case .experimentFinished(let reason, _, _, _, _): reason.rawValue
        default: nil
        }
    }

    /// A `member.trained`'s particulars.
    var trained: PBTEvent.MemberTrained? {
        if case .memberTrained(let trained) = event { return trained }
        return nil
    }

    /// A `member.exploited`'s particulars.
    var exploited: PBTEvent.MemberExploited? {
        if case .memberExploited(let exploited) = event { return exploited }
        return nil
    }

    /// The score a `member.scored` or `member.finished` gives.
    var score: Double? {
        switch event {
        case .memberScored(_, _, _, let score, _): score
        case .memberFinished(_, _, let score): score
        default: nil
        }
    }

    /// A dropped result's particulars.
    var detail: String? {
        if case .resultDropped(_, _, _, _, let detail, _, _) = event { return detail }
        return nil
    }

    /// Whether a `member.failed` gave the member up.
    var givenUp: Bool {
        if case .memberFailed(_, _, _, _, let givenUp) = event { return givenUp }
        return false
    }

    /// The role of the worker the event names.
    var role: WorkerRole? {
        switch event {
        case .workerJoined(let role, _), .workerLeft(let role, _, _), .workerBenched(let role, _, _, _),
            .memberAssigned(_, _, let role, _, _), .leaseExpired(_, _, let role, _),
            .leaseReleased(_, _, let role, _, _):
            role
        default: nil
        }
    }
}

/// The events of the run directory `run`, read through the event contract (lines that are
/// not events are left out; `EventLog(text:).problems` has them).
func runEvents(_ run: String) throws -> [TimedEvent] {
    EventLog(text: try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8)).events
}
