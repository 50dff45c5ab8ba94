import Foundation
import PBTSystem
import Testing

/// A cgroup's CPU limit, read as whole CPUs: the parsing, and the files of both cgroup versions.
@Suite("CPU quota")
struct CPUQuotaTests {
    @Test func aCgroupQuotaIsWholeCPUsRoundedUp() {
        #expect(CPUQuota.cpus(cpuMax: "200000 100000\n") == 2)
        #expect(CPUQuota.cpus(cpuMax: "150000 100000") == 2)
        #expect(CPUQuota.cpus(cpuMax: "50000 100000") == 1)
        #expect(CPUQuota.cpus(cpuMax: "max 100000") == nil)
        #expect(CPUQuota.cpus(cpuMax: "garbage") == nil)
        #expect(CPUQuota.cpus(quota: -1, period: 100_000) == nil)
        #expect(CPUQuota.cpus(quota: 300_000, period: 100_000) == 3)
    }

    @Test func aCgroupFileSystemIsRead() throws {
        let root = NSTemporaryDirectory() + "pbt-cgroup-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/cpu", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(CPUQuota.current(root: root) == nil)
        try "400000\n".write(toFile: root + "/cpu/cpu.cfs_quota_us", atomically: true, encoding: .utf8)
        try "100000\n".write(toFile: root + "/cpu/cpu.cfs_period_us", atomically: true, encoding: .utf8)
        #expect(CPUQuota.current(root: root) == 4)
        try "300000 100000\n".write(toFile: root + "/cpu.max", atomically: true, encoding: .utf8)
        #expect(CPUQuota.current(root: root) == 3)
    }
}
