/// Where a stage binds its inlet when nobody says: beside what it already knows.
///
///     selector, work on tcp://HOST:5555   → inlet tcp://HOST:5558 (a wildcard port stays one)
///     selector, work on ipc://DIR/work    → inlet ipc://DIR/work.inlet
///     worker connecting to ipc://DIR/…    → ipc://DIR/NAME.inlet
///     worker connecting to 127.0.0.1      → tcp://127.0.0.1:* (a free port, told to the selector)
///     worker connecting to another host   → tcp://*:* (every interface; the selector fills in
///                                            the address it sees the worker at)
public enum InletAddress {
    /// The selector's inlet, beside its work endpoint (the work port + 3).
    public static func selector(work: String) -> String {
        beside(work: work, suffix: ".inlet", portOffset: 3)
    }

    /// The selector's checkpoint service, beside its work endpoint (the work port + 4).
    public static func store(work: String) -> String {
        beside(work: work, suffix: ".store", portOffset: 4)
    }

    /// An endpoint of the selector's beside its work endpoint: the same ipc path with `suffix`,
    /// or the same host at the work port + `portOffset` (a wildcard port stays one).
    static func beside(work: String, suffix: String, portOffset: Int) -> String {
        if work.hasPrefix("ipc://") || work.hasPrefix("inproc://") { return work + suffix }
        guard work.hasPrefix("tcp://"), let colon = work.lastIndex(of: ":") else {
            return "tcp://*:\(5555 + portOffset)"
        }
        let host = work[..<colon]
        guard let number = Int(work[work.index(after: colon)...]) else { return host + ":*" }
        return host + ":\(number + portOffset)"
    }

    /// A worker's name as a file or socket name: letters, digits, `.`, `_` and `-` kept,
    /// anything else `_`, at most `limit` characters.
    public static func fileSafe(_ name: String, limit: Int) -> String {
        String(
            name.unicodeScalars.map { scalar -> Character in
                scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar)
                    ? Character(scalar) : "_"
            }.prefix(limit))
    }

    /// An evaluator's or a mutator's inlet, given where it reaches the selector.
    public static func worker(connect: String, name: String) -> String {
        let safe = fileSafe(name, limit: 64)
        if connect.hasPrefix("ipc://"), let slash = connect.lastIndex(of: "/") {
            return connect[...slash] + safe + ".inlet"
        }
        if let host = EndpointAddress.host(of: connect), host == "127.0.0.1" || host == "localhost" || host == "::1" {
            return "tcp://127.0.0.1:*"
        }
        return "tcp://*:*"
    }
}
