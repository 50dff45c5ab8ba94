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
        return host
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

    private static func split(_ endpoint: String) -> (host: String, port: String)? {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let rest = endpoint.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, String(rest[rest.index(after: colon)...]))
    }
}
