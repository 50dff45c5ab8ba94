import CProcessShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processor cores this process may use.
public enum Cores {
    /// The cores in this process's affinity mask (what `taskset` or `docker --cpuset-cpus`
    /// leave it), else every online core.
    public static var available: Int {
        let allowed = Int(pbt_allowed_cpus())
        if allowed > 0 { return allowed }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The cores this process can keep busy: `available`, cut to its cgroup's CPU quota
    /// (`docker run --cpus`, a Kubernetes CPU limit) when it has one.
    public static var usable: Int {
        min(available, CPUQuota.current() ?? Int.max)
    }
}

/// A cgroup's CPU limit as a number of whole CPUs.
public enum CPUQuota {
    /// cgroup v2's `cpu.max` ("200000 100000": 2 CPUs; "max 100000": no limit), rounded up.
    public static func cpus(cpuMax text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, fields[0] != "max", let quota = Double(fields[0]), let period = Double(fields[1])
        else { return nil }
        return cpus(quota: quota, period: period)
    }

    /// This process's limit, from the cgroup file system mounted at `root` (v2's `cpu.max`,
    /// else v1's `cpu/cpu.cfs_quota_us`); nil when there is none (or no cgroup file system).
    public static func current(root: String = "/sys/fs/cgroup") -> Int? {
        if let text = read(root + "/cpu.max") { return cpus(cpuMax: text) }
        if let quota = read(root + "/cpu/cpu.cfs_quota_us").flatMap({ Double($0.trimmingWhitespace) }),
            let period = read(root + "/cpu/cpu.cfs_period_us").flatMap({ Double($0.trimmingWhitespace) })
        {
            return cpus(quota: quota, period: period)
        }
        return nil
    }

    private static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = fread(&buffer, 1, buffer.count, file)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// cgroup v1's `cpu.cfs_quota_us` and `cpu.cfs_period_us` (a quota of -1: no limit).
    public static func cpus(quota: Double, period: Double) -> Int? {
        guard quota > 0, period > 0, quota.isFinite, period.isFinite else { return nil }
        return max(1, Int((quota / period).rounded(.up)))
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
