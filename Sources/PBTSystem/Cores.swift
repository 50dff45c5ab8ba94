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
}
