import Foundation

/// Checks `condition` until it holds or `seconds` pass; returns whether it held.
///
/// For what no event announces: a process gone, a file another program writes, a socket
/// that answers. A run's events are awaited on its event log instead (`EventLogFollower`
/// in the integration tests), which wakes when the log grows rather than on a timer.
public func eventually(
    within seconds: Double, every interval: Double = 0.02, _ condition: () throws -> Bool
) rethrows -> Bool {
    // The system's uptime: a monotonic clock, which a change of the wall clock cannot move.
    let deadline = ProcessInfo.processInfo.systemUptime + seconds
    while ProcessInfo.processInfo.systemUptime < deadline {
        if try condition() { return true }
        usleep(useconds_t(max(interval, 0.001) * 1_000_000))
    }
    return try condition()
}
