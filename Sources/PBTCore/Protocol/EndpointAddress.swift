/// Reading and rewriting the host of a ZeroMQ endpoint (`tcp://HOST:PORT`).
///
/// A stage that binds a wildcard (`tcp://*:5558`, which ZeroMQ reports as `tcp://0.0.0.0:5558`)
/// cannot say where it is reached from elsewhere; whoever passes its endpoint on fills in the
/// host it knows instead: a worker the host it reached the selector at, the selector the
/// address a worker's connection came from.
public enum EndpointAddress {
    /// The host of a `tcp://` endpoint (without brackets for IPv6), or nil for other transports.
    public static func host(of endpoint: String) -> String? {
        guard let (host, _) = split(endpoint) else { return nil }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// Whether the endpoint's host means "every interface" (`*`, `0.0.0.0`, `::`).
    public static func hasWildcardHost(_ endpoint: String) -> Bool {
        guard let host = host(of: endpoint) else { return false }
        return host == "*" || host == "0.0.0.0" || host == "::" || host.isEmpty
    }

    /// `endpoint` with a wildcard host replaced by `host`; any other endpoint as it is.
    public static func replacingWildcardHost(in endpoint: String, with host: String) -> String {
        guard hasWildcardHost(endpoint), let (_, port) = split(endpoint), !host.isEmpty else { return endpoint }
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "tcp://\(shown):\(port)"
    }

    /// What is wrong with `endpoint` as a ZeroMQ endpoint pbt can use, or nil: the transport
    /// is `tcp://HOST:PORT` (the port a number up to 65,535, or `*` for any free one when
    /// binding), `ipc://PATH` or `inproc://NAME`. libzmq reads a port over 65,535 modulo
    /// 65,536, so `tcp://*:99999` would otherwise bind port 34,463 without a word.
    public static func problem(with endpoint: String, binding: Bool) -> String? {
        for transport in ["ipc://", "inproc://"] where endpoint.hasPrefix(transport) {
            return endpoint.count > transport.count ? nil : "\(transport) needs a path or a name after it"
        }
        guard endpoint.hasPrefix("tcp://") else {
            return "expected tcp://HOST:PORT, ipc://PATH or inproc://NAME"
        }
        guard let (host, port) = split(endpoint), !host.isEmpty else { return "expected tcp://HOST:PORT" }
        if host.hasPrefix("[") != host.hasSuffix("]") || (host.contains(":") && !host.hasPrefix("[")) {
            return "an IPv6 address goes in brackets: tcp://[::1]:5555"
        }
        let bare = self.host(of: endpoint) ?? host
        if port == "*" { return binding ? nil : "a port of * binds any free port; connecting needs a port number" }
        guard let number = Int(port), (0...65_535).contains(number) else {
            return "the port must be a number from 0 to 65535\(binding ? " or *" : ""), got '\(port.prefix(20))'"
        }
        if !binding, bare == "*" { return "a host of * binds every interface; connecting needs the host's address" }
        if !binding, number == 0 { return "port 0 binds any free port; connecting needs the port number" }
        return nil
    }

    private static func split(_ endpoint: String) -> (host: String, port: String)? {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let rest = endpoint.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        // (Brackets stay on: `problem` checks them; `host(of:)` takes them off.)
        return (String(rest[..<colon]), String(rest[rest.index(after: colon)...]))
    }
}
