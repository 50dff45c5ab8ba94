import CProcessShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes a process die with the process that spawned it, even when that one is killed
/// with SIGKILL and has no chance to clean up.
///
/// `ChildProcess` puts the spawner's pid in `PBT_PARENT_PID`; a `pbt` process that finds
/// it asks the kernel for SIGKILL when its parent goes (prctl PR_SET_PDEATHSIG), then checks
/// that the parent did not already go before the request was in place.
public enum ParentWatch {
    public static let environmentKey = "PBT_PARENT_PID"

    /// Call first thing in `main`.
    public static func applyFromEnvironment() {
        guard let raw = getenv(environmentKey), let parent = pid_t(String(cString: raw)) else { return }
        _ = pbt_prctl(PBT_PR_SET_PDEATHSIG, UInt(SIGKILL))
        if getppid() != parent {
            // The parent died between our spawn and the prctl: follow it now.
            _exit(137)
        }
    }
}
