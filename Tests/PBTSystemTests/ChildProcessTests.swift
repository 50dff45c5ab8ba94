import Foundation
import PBTSystem
import Testing

/// A child's CPU time is known once it is reaped, and counts the descendants it waited for.
@Suite("child processes")
struct ChildProcessTests {
    /// A shell loop that burns some CPU (a few tens of milliseconds here).
    static let busyLoop = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"

    @Test func cpuTimeIsKnownOnceReaped() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", Self.busyLoop])
        let end = try #require(child.wait(seconds: 60))
        #expect(end.succeeded)
        let seconds = try #require(child.cpuSeconds)
        #expect(seconds > 0.005, "the loop used \(seconds) s of CPU")
    }

    @Test func cpuTimeCountsWaitedForDescendants() throws {
        // The outer shell only waits: the CPU is its child's.
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "/bin/sh -c '\(Self.busyLoop)'; exit 0"])
        let end = try #require(child.wait(seconds: 60))
        #expect(end.succeeded)
        let seconds = try #require(child.cpuSeconds)
        #expect(seconds > 0.005, "the shell and its child used \(seconds) s of CPU")
    }

    @Test func cpuTimeIsNilWhileRunning() throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        defer { child.stop(grace: 1) }
        #expect(child.poll() == nil)
        #expect(child.cpuSeconds == nil)
    }
}
