#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Asks an endpoint whether something that speaks its protocol answers there, for health
/// checks (`pbt health`, a container's HEALTHCHECK).
///
///     tcp://HOST:PORT           a ZeroMQ socket is bound there: it sends its ZMTP greeting
///                               (0xFF, 8 bytes, 0x7F) as soon as a connection is accepted
///     http://HOST:PORT/PATH     an HTTP server answers GET PATH with a 2xx status
///
/// The probe connects, reads the answer and hangs up before the ZMTP handshake goes any
/// further, so the stage behind the endpoint sees no message at all: a probe never counts as
/// a worker, a subscriber or a dropped frame. `*` and `0.0.0.0` (bind addresses) mean this
/// machine. Plain sockets, no libzmq: the check is what any peer would see on the wire.
public enum EndpointProbe {
    /// What a probe found: `healthy` with what answered, or why not.
    public struct Outcome: Sendable, Equatable {
        public let endpoint: String
        public let healthy: Bool
        public let detail: String
        public let milliseconds: Double

        public init(endpoint: String, healthy: Bool, detail: String, milliseconds: Double) {
            self.endpoint = endpoint
            self.healthy = healthy
            self.detail = detail
            self.milliseconds = milliseconds
        }
    }

    /// Probes `endpoint`, giving up after `timeout` seconds.
    public static func check(_ endpoint: String, timeout: Double) -> Outcome {
        let start = Clock.monotonic
        let deadline = start + timeout
        func outcome(_ healthy: Bool, _ detail: String) -> Outcome {
            Outcome(
                endpoint: endpoint, healthy: healthy, detail: detail, milliseconds: (Clock.monotonic - start) * 1000)
        }
        guard let target = Target(endpoint) else {
            return outcome(false, "not an endpoint: expected tcp://HOST:PORT or http://HOST:PORT/PATH")
        }
        let connection: Connection
        switch Connection.open(host: target.host, port: target.port, deadline: deadline) {
        case .success(let opened): connection = opened
        case .failure(let failure): return outcome(false, failure.message)
        }
        defer { connection.hangUp() }
        switch target.scheme {
        case .zmtp:
            switch connection.read(atLeast: 10, deadline: deadline) {
            case .failure(let failure): return outcome(false, "no ZeroMQ greeting: \(failure.message)")
            case .success(let bytes):
                guard bytes[0] == 0xFF, bytes[9] == 0x7F else {
                    return outcome(false, "something answered, but not a ZeroMQ peer (no ZMTP signature)")
                }
                return outcome(true, "a ZeroMQ peer answered")
            }
        case .http:
            let request =
                "GET \(target.path) HTTP/1.0\r\nHost: \(target.host)\r\nUser-Agent: pbt-health\r\nConnection: close\r\n\r\n"
            if case .failure(let failure) = connection.write(Array(request.utf8), deadline: deadline) {
                return outcome(false, failure.message)
            }
            switch connection.readLine(deadline: deadline) {
            case .failure(let failure): return outcome(false, "no HTTP answer: \(failure.message)")
            case .success(let line):
                let parts = line.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
                    return outcome(false, "not an HTTP answer: \(line.prefix(60))")
                }
                return outcome((200..<300).contains(status), "HTTP \(status)")
            }
        }
    }

    struct Failure: Error {
        let message: String
    }

    /// An endpoint taken apart.
    struct Target {
        enum Scheme { case zmtp, http }
        let scheme: Scheme
        let host: String
        let port: String
        let path: String

        init?(_ endpoint: String) {
            let rest: Substring
            if endpoint.hasPrefix("tcp://") {
                scheme = .zmtp
                rest = endpoint.dropFirst(6)
            } else if endpoint.hasPrefix("http://") {
                scheme = .http
                rest = endpoint.dropFirst(7)
            } else {
                return nil
            }
            let authority = rest.prefix { $0 != "/" }
            path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
            var host: Substring
            let portText: Substring
            if authority.hasPrefix("[") {  // [::1]:5555
                guard let close = authority.firstIndex(of: "]") else { return nil }
                host = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            } else {
                guard let colon = authority.lastIndex(of: ":") else {
                    if scheme == .zmtp { return nil }
                    host = authority
                    self.host = String(host)
                    port = "80"
                    return
                }
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            }
            // tcp://eth0;host:port names a source interface: only the part after ';' is the peer.
            if let semicolon = host.lastIndex(of: ";") { host = host[host.index(after: semicolon)...] }
            guard let number = Int(portText), (1...65535).contains(number), !host.isEmpty else { return nil }
            self.host = (host == "*" || host == "0.0.0.0") ? "127.0.0.1" : (host == "::" ? "::1" : String(host))
            port = String(number)
        }
    }

    /// A TCP connection with deadlines on every operation.
    struct Connection {
        let fd: Int32

        static func open(host: String, port: String, deadline: Double) -> Result<Connection, Failure> {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, port, &hints, &list)
            guard status == 0, let first = list else {
                return .failure(Failure(message: "cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
            }
            defer { freeaddrinfo(list) }
            var lastError = "no address for \(host)"
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let address = entry {
                entry = address.pointee.ai_next
                let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
                guard fd >= 0 else {
                    lastError = "socket: \(String(cString: strerror(errno)))"
                    continue
                }
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                if connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                    return .success(Connection(fd: fd))
                }
                guard errno == EINPROGRESS else {
                    lastError = "connect to \(host):\(port): \(String(cString: strerror(errno)))"
                    _ = close(fd)
                    continue
                }
                switch wait(fd, for: Int16(POLLOUT), deadline: deadline) {
                case .failure(let failure):
                    lastError = "connect to \(host):\(port): \(failure.message)"
                    _ = close(fd)
                case .success:
                    var error: Int32 = 0
                    var size = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
                    if error == 0 { return .success(Connection(fd: fd)) }
                    lastError = "connect to \(host):\(port): \(String(cString: strerror(error)))"
                    _ = close(fd)
                }
            }
            return .failure(Failure(message: lastError))
        }

        func hangUp() { _ = close(fd) }

        /// Reads until `count` bytes arrived (or more, if they came together).
        func read(atLeast count: Int, deadline: Double) -> Result<[UInt8], Failure> {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 512)
            while received.count < count {
                if case .failure(let failure) = Self.wait(fd, for: Int16(POLLIN), deadline: deadline) {
                    return .failure(failure)
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return .failure(Failure(message: "the peer closed the connection")) }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    return .failure(Failure(message: String(cString: strerror(errno))))
                }
                received += buffer[0..<n]
            }
            return .success(received)
        }

        /// Reads the first line (up to CRLF or LF), at most 4 KiB.
        func readLine(deadline: Double) -> Result<String, Failure> {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 512)
            while !received.contains(0x0A) && received.count < 4096 {
                if case .failure(let failure) = Self.wait(fd, for: Int16(POLLIN), deadline: deadline) {
                    return .failure(failure)
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { break }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    return .failure(Failure(message: String(cString: strerror(errno))))
                }
                received += buffer[0..<n]
            }
            guard !received.isEmpty else { return .failure(Failure(message: "the peer closed the connection")) }
            let line = received.prefix { $0 != 0x0A && $0 != 0x0D }
            return .success(String(decoding: line, as: UTF8.self))
        }

        func write(_ bytes: [UInt8], deadline: Double) -> Result<Void, Failure> {
            var offset = 0
            while offset < bytes.count {
                if case .failure(let failure) = Self.wait(fd, for: Int16(POLLOUT), deadline: deadline) {
                    return .failure(failure)
                }
                let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    return .failure(Failure(message: String(cString: strerror(errno))))
                }
                offset += n
            }
            return .success(())
        }

        static func wait(_ fd: Int32, for events: Int16, deadline: Double) -> Result<Void, Failure> {
            while true {
                let left = deadline - Clock.monotonic
                guard left > 0 else { return .failure(Failure(message: "timed out")) }
                var descriptor = pollfd(fd: fd, events: events, revents: 0)
                let ready = poll(&descriptor, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
                if ready > 0 { return .success(()) }
                if ready < 0 && errno != EINTR { return .failure(Failure(message: String(cString: strerror(errno)))) }
            }
        }
    }
}
