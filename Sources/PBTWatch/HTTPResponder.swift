#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PBTSystem
import ZeroMQ

/// A tiny HTTP/1.1 server on a plain, non-blocking TCP listener, polled by the thread that
/// owns it beside its ZeroMQ sockets (`pollDescriptors` go into the same `zmq_poll`): no
/// second thread, no blocking call.
///
///     accept ─▶ reading (head until complete, ≤ 16 KiB, ≤ headSeconds)
///            ─▶ writing (the response, ≤ responseSeconds) ─▶ draining (FIN sent; ≤ drainSeconds) ─▶ closed
///
/// One request a connection, answered as soon as its head is complete (a client that
/// half-closes after its request is answered all the same), then closed. At most
/// `Limits.connections` connections are open: past that the oldest is closed, so idle
/// connections cannot keep a scrape out or the process's descriptors up.
public final class HTTPResponder {
    /// What a handler answers.
    public struct Response: Sendable {
        public var status: Int
        public var reason: String
        public var contentType: String
        public var body: [UInt8]
        public var extraHeaders: [String]

        public init(
            status: Int = 200, reason: String = "OK", contentType: String, body: [UInt8], extraHeaders: [String] = []
        ) {
            self.status = status
            self.reason = reason
            self.contentType = contentType
            self.body = body
            self.extraHeaders = extraHeaders
        }

        public static func text(
            _ status: Int, _ reason: String, _ text: String, extraHeaders: [String] = []
        ) -> Response {
            Response(
                status: status, reason: reason, contentType: "text/plain; charset=utf-8", body: Array(text.utf8),
                extraHeaders: extraHeaders)
        }
    }

    /// How much a connection may hold and for how long.
    public struct Limits: Sendable {
        /// Connections open at most; a new one past that closes the oldest.
        public var connections = 64
        /// Seconds a connection has, from its accept, to send a whole request head.
        public var headSeconds = 10.0
        /// Seconds the client has to take the whole response.
        public var responseSeconds = 10.0
        /// Seconds the server waits, after its response and FIN, for the client to close
        /// (reading and discarding what it still sends) before it closes itself: closing at
        /// once with unread bytes would reset the connection and could cut the response.
        public var drainSeconds = 2.0

        public init() {}
    }

    /// Why a listener could not be opened (the reason only: the caller says where).
    public struct ListenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The bound address, e.g. `127.0.0.1:40123`.
    public let address: String
    /// The port it listens on.
    public let port: Int
    /// Requests answered so far.
    public private(set) var served = 0
    /// Connections closed before they sent a whole head: idle past `headSeconds`, closed for a
    /// newer one past `connections`, or hung up.
    public private(set) var abandoned = 0
    /// Connections open now.
    public var openConnections: Int { connections.count }
    public let limits: Limits

    private let listener: Int32
    private var connections: [Connection] = []

    private struct Connection {
        enum Phase { case reading, writing, draining }
        let fd: Int32
        var phase = Phase.reading
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        var deadline: Double
    }

    /// Listens on `host` (an address or a name; `*`, `0.0.0.0` or `::` for every interface)
    /// and `port` (0 picks a free one).
    public init(host: String, port: Int, limits: Limits = Limits()) throws {
        self.limits = limits
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        let node: String? = host == "*" ? nil : host
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(node, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw ListenError(description: "cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, 128) == 0,
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0
            {
                listener = fd
                let bound = Self.boundAddress(fd)
                self.address = bound.text
                self.port = bound.port
                return
            }
            lastError = String(cString: strerror(errno))
            close(fd)
        }
        throw ListenError(description: lastError)
    }

    deinit {
        for connection in connections { close(connection.fd) }
        close(listener)
    }

    /// What `zmq_poll` should watch: the listener, and each connection as its phase needs.
    public var pollDescriptors: [ZMQPollDescriptor] {
        [ZMQPollDescriptor(fd: listener)]
            + connections.map {
                ZMQPollDescriptor(fd: $0.fd, readable: $0.phase != .writing, writable: $0.phase == .writing)
            }
    }

    /// Does what can be done without blocking: accepts new connections, reads request heads,
    /// answers complete ones with `handler`, sends what is pending, closes what is done or
    /// past its time. Returns whether anything happened.
    @discardableResult
    public func serve(now: Double = Clock.monotonic, _ handler: (_ method: String, _ path: String) -> Response) -> Bool
    {
        var acted = acceptWaiting(now: now)
        var index = 0
        while index < connections.count {
            let (keep, didSomething) = advance(&connections[index], now: now, handler)
            acted = acted || didSomething
            if keep {
                index += 1
            } else {
                close(connections[index].fd)
                connections.remove(at: index)
                acted = true
            }
        }
        return acted
    }

    private func acceptWaiting(now: Double) -> Bool {
        var accepted = false
        for _ in 0..<limits.connections {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: make room (the waiting connection is taken next turn).
                    closeOldest()
                }
                break
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            accepted = true
            connections.append(Connection(fd: fd, deadline: now + limits.headSeconds))
            if connections.count > limits.connections { closeOldest() }
        }
        return accepted
    }

    private func closeOldest() {
        guard !connections.isEmpty else { return }
        if connections[0].phase == .reading { abandoned += 1 }
        close(connections[0].fd)
        connections.removeFirst()
    }

    /// One connection's step; returns whether to keep it, and whether anything happened.
    private func advance(
        _ connection: inout Connection, now: Double, _ handler: (String, String) -> Response
    ) -> (keep: Bool, acted: Bool) {
        switch connection.phase {
        case .reading:
            let before = connection.input.count
            let (bytes, ended) = readAvailable(connection.fd, limit: HTTPMessage.maximumHead + 1 - before)
            connection.input += bytes
            if connection.input.count > before || ended {
                switch HTTPMessage.parse(connection.input, searchFrom: before) {
                case .incomplete:
                    if ended {
                        abandoned += 1
                        return (false, true)
                    }
                case .bad(let problem):
                    respond(&connection, .text(400, "Bad Request", problem + "\n"), includeBody: true, now: now)
                case .request(let method, let path):
                    served += 1
                    if method == "GET" || method == "HEAD" {
                        respond(&connection, handler(method, path), includeBody: method == "GET", now: now)
                    } else {
                        respond(
                            &connection,
                            .text(405, "Method Not Allowed", "only GET and HEAD\n", extraHeaders: ["Allow: GET, HEAD"]),
                            includeBody: true, now: now)
                    }
                }
            }
            if connection.phase == .reading {
                if now >= connection.deadline {
                    abandoned += 1
                    return (false, true)
                }
                return (true, connection.input.count > before)
            }
            return (sendPending(&connection, now: now), true)
        case .writing:
            return (sendPending(&connection, now: now), true)
        case .draining:
            let (bytes, ended) = readAvailable(connection.fd, limit: 65_536)
            if ended || now >= connection.deadline { return (false, true) }
            return (true, !bytes.isEmpty)
        }
    }

    private func respond(_ connection: inout Connection, _ response: Response, includeBody: Bool, now: Double) {
        connection.output = HTTPMessage.response(
            status: response.status, reason: response.reason, contentType: response.contentType, body: response.body,
            extraHeaders: response.extraHeaders, includeBody: includeBody)
        connection.input = []
        connection.phase = .writing
        connection.deadline = now + limits.responseSeconds
    }

    /// Sends what it can; once all is sent, half-closes and drains. Returns whether to keep it.
    private func sendPending(_ connection: inout Connection, now: Double) -> Bool {
        while connection.sent < connection.output.count {
            let count = connection.output.withUnsafeBytes { buffer in
                send(
                    connection.fd, buffer.baseAddress! + connection.sent, buffer.count - connection.sent,
                    Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if count > 0 {
                connection.sent += count
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return now < connection.deadline
            } else {
                return false  // the client went away
            }
        }
        connection.output = []
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .draining
        connection.deadline = now + limits.drainSeconds
        return true
    }

    /// Reads what is waiting, up to `limit` bytes (at least one); `ended` when the client
    /// closed its side or the connection failed.
    private func readAvailable(_ fd: Int32, limit: Int) -> (bytes: [UInt8], ended: Bool) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while bytes.count < max(limit, 1) {
            let count = recv(fd, &buffer, min(buffer.count, max(limit, 1) - bytes.count), Int32(MSG_DONTWAIT))
            if count > 0 {
                bytes += buffer.prefix(count)
            } else if count == 0 {
                return (bytes, true)
            } else if errno == EINTR {
                continue
            } else {
                return (bytes, !(errno == EAGAIN || errno == EWOULDBLOCK))
            }
        }
        return (bytes, false)
    }

    private static func boundAddress(_ fd: Int32) -> (text: String, port: Int) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard got == 0 else { return ("?", 0) }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let named = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                    NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard named == 0 else { return ("?", 0) }
        let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = Int(String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) ?? 0
        return (hostText.contains(":") ? "[\(hostText)]:\(port)" : "\(hostText):\(port)", port)
    }
}
