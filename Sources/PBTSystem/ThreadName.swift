import CProcessShims

/// The calling thread's name, as `top -H`, `ps -L` and `perf` show it.
public enum ThreadName {
    /// Names the calling thread (the kernel keeps the first 15 bytes).
    public static func set(_ name: String) {
        String(decoding: name.utf8.prefix(15), as: UTF8.self).withCString {
            _ = pbt_prctl(PBT_PR_SET_NAME, UInt(bitPattern: $0))
        }
    }
}
