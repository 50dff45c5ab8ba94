import Foundation
import PBTSystem
import PBTWatch
import Testing
import ZeroMQ

/// The metrics endpoint's HTTP: request heads parsed from bytes, and a real TCP client against
/// the responder on its plain TCP listener.
@Suite("HTTP responder")
struct HTTPResponderTests {
    static let heads: [(String, HTTPMessage.Parsed)] = [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", .request(method: "GET", path: "/metrics")),
        ("GET /metrics?x=1 HTTP/1.0\r\n\r\n", .request(method: "GET", path: "/metrics")),
        ("HEAD / HTTP/1.1\r\nAccept: */*\r\n\r\n", .request(method: "HEAD", path: "/")),
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n", .incomplete),
        ("GET /met", .incomplete),
        ("hello\r\n\r\n", .bad("not an HTTP/1.x request line: hello")),
        ("GET metrics HTTP/1.1\r\n\r\n", .bad("not an HTTP/1.x request line: GET metrics HTTP/1.1")),
        ("GET / SPDY/3\r\n\r\n", .bad("not an HTTP/1.x request line: GET / SPDY/3")),
    ]

    @Test("request heads", arguments: heads)
    func parsesHeads(text: String, parsed: HTTPMessage.Parsed) {
        #expect(HTTPMessage.parse(Array(text.utf8)) == parsed)
    }

    @Test func anEndlessHeadIsRefused() {
        let bytes = Array(("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 17_000)).utf8)
        #expect(HTTPMessage.parse(bytes) == .bad("request head over 16384 bytes"))
    }

    @Test func aResponseCarriesItsLengthAndCloses() {
        let text = String(
            decoding: HTTPMessage.response(
                status: 200, reason: "OK", contentType: "text/plain", body: Array("hi".utf8)), as: UTF8.self)
        #expect(
            text
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\nCache-Control: no-store\r\n\r\nhi"
        )
    }

    /// Sends `chunks` over one TCP connection to the responder (half-closing after the last
    /// when asked) and returns what came back before the server closed the connection.
    static func exchange(_ chunks: [String], halfClose: Bool = false) throws -> String {
        let responder = try HTTPResponder(host: "127.0.0.1", port: 0)
        let client = try TCPClient(port: responder.port)
        for (index, chunk) in chunks.enumerated() {
            try client.send(chunk)
            if index < chunks.count - 1 {
                // Let the server see a partial head first.
                let deadline = Clock.monotonic + 0.2
                while Clock.monotonic < deadline { try Self.turn(responder, milliseconds: 20) }
            }
        }
        if halfClose { client.closeSending() }
        let reply = try Self.read(client, serving: responder)
        return String(decoding: reply, as: UTF8.self)
    }

    /// One poll of the responder's descriptors, then what it can do.
    static func turn(_ responder: HTTPResponder, milliseconds: Int = 10) throws {
        _ = try ZMQPoll.readable([], descriptors: responder.pollDescriptors, timeoutMilliseconds: milliseconds)
        responder.serve(Self.handler)
    }

    /// What `client` reads until the server closes the connection, serving meanwhile.
    static func read(_ client: TCPClient, serving responder: HTTPResponder, seconds: Double = 10) throws -> [UInt8] {
        var received: [UInt8] = []
        let deadline = Clock.monotonic + seconds
        while Clock.monotonic < deadline {
            try Self.turn(responder)
            switch client.receiveAvailable() {
            case .data(let bytes): received += bytes
            case .closed: return received
            case .nothing: continue
            }
        }
        Issue.record("the server did not close the connection; got: \(String(decoding: received, as: UTF8.self))")
        return received
    }

    static func handler(_ method: String, _ path: String) -> HTTPResponder.Response {
        path == "/metrics" ? .text(200, "OK", "pbt_up 1\n") : .text(404, "Not Found", "no\n")
    }

    @Test func aGetIsAnsweredAndTheConnectionClosed() throws {
        let reply = try Self.exchange(["GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"])
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.contains("Content-Length: 9\r\n"))
        #expect(reply.hasSuffix("\r\n\r\npbt_up 1\n"))
    }

    @Test func aRequestInPiecesIsAnsweredOnceComplete() throws {
        let reply = try Self.exchange(["GET /met", "rics HTTP/1.1\r\nHo", "st: x\r\n\r\n"])
        #expect(reply.hasSuffix("pbt_up 1\n"))
    }

    @Test(arguments: [
        ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
        ("GET /nowhere HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
        ("hello there\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    ])
    func otherRequestsGetAnError(request: String, status: String) throws {
        #expect(try Self.exchange([request]).hasPrefix(status + "\r\n"))
    }

    @Test func headHasNoBody() throws {
        let reply = try Self.exchange(["HEAD /metrics HTTP/1.1\r\n\r\n"])
        #expect(reply.contains("Content-Length: 9\r\n"))
        #expect(reply.hasSuffix("\r\n\r\n"))
    }

    @Test func aClientThatHalfClosesAfterItsRequestIsAnswered() throws {
        // `nc -N`, and HTTP/1.0 clients of old, shut their sending side once the request is out.
        let reply = try Self.exchange(["GET /metrics HTTP/1.0\r\n\r\n"], halfClose: true)
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.hasSuffix("pbt_up 1\n"))
    }

    @Test func aHeadWithBareLineFeedsIsAnswered() throws {
        let reply = try Self.exchange(["GET /metrics HTTP/1.1\nHost: x\n\n"])
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func aWholeHeadOverTheLimitIsRefusedEvenInOneWrite() throws {
        let head = "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        #expect(HTTPMessage.parse(Array(head.utf8)) == .bad("request head over 16384 bytes"))
        #expect(try Self.exchange([head]).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func aHeadDrippedInPiecesIsFoundWhereverItEnds() {
        let text = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        for split in 1..<text.count {
            // The caller parsed the first `split` bytes before; the end is looked for after them.
            #expect(HTTPMessage.parse(text, searchFrom: split) == .request(method: "GET", path: "/"), "split \(split)")
        }
    }

    @Test func idleConnectionsAreCappedAndAScrapeStillGetsThrough() throws {
        var limits = HTTPResponder.Limits()
        limits.connections = 8
        let responder = try HTTPResponder(host: "127.0.0.1", port: 0, limits: limits)
        // Twenty connections that never send a byte.
        var idle: [TCPClient] = []
        for _ in 0..<20 {
            idle.append(try TCPClient(port: responder.port))
            try Self.turn(responder, milliseconds: 0)
        }
        let deadline = Clock.monotonic + 5
        while responder.openConnections < 8 && Clock.monotonic < deadline { try Self.turn(responder) }
        #expect(responder.openConnections == 8)
        #expect(responder.abandoned == 12)
        // The oldest were closed: their clients see the end of the connection.
        var closed = Set<Int>()
        while closed.count < 12 && Clock.monotonic < deadline {
            for index in 0..<12 where idle[index].receiveAvailable() == .closed { closed.insert(index) }
        }
        #expect(closed.count == 12)
        // A scrape is answered (its connection closes the oldest idle one in turn).
        let scraper = try TCPClient(port: responder.port)
        try scraper.send("GET /metrics HTTP/1.1\r\n\r\n")
        let reply = String(decoding: try Self.read(scraper, serving: responder), as: UTF8.self)
        #expect(reply.hasSuffix("pbt_up 1\n"))
        #expect(responder.openConnections <= 8)
        #expect(responder.abandoned == 13)
    }

    @Test func aConnectionSilentPastTheHeadTimeIsClosed() throws {
        var limits = HTTPResponder.Limits()
        limits.headSeconds = 0.3
        let responder = try HTTPResponder(host: "127.0.0.1", port: 0, limits: limits)
        let client = try TCPClient(port: responder.port)
        try client.send("GET /metr")
        let start = Clock.monotonic
        let received = try Self.read(client, serving: responder, seconds: 5)
        #expect(received.isEmpty)
        #expect(Clock.monotonic - start >= 0.25)
        #expect(responder.openConnections == 0)
        #expect(responder.abandoned == 1)
    }

    @Test func aLargeResponseReachesAClientThatReadsSlowly() throws {
        // Far more than a socket buffer holds: the server sends it as the client reads.
        let body = String(repeating: "pbt_metric 1\n", count: 400_000)
        let responder = try HTTPResponder(host: "127.0.0.1", port: 0)
        let client = try TCPClient(port: responder.port)
        try client.send("GET /big HTTP/1.1\r\n\r\n")
        var received: [UInt8] = []
        let deadline = Clock.monotonic + 20
        var finished = false
        while !finished && Clock.monotonic < deadline {
            _ = try ZMQPoll.readable([], descriptors: responder.pollDescriptors, timeoutMilliseconds: 5)
            responder.serve { _, _ in .text(200, "OK", body) }
            switch client.receiveAvailable() {
            case .data(let bytes): received += bytes
            case .closed: finished = true
            case .nothing: continue
            }
        }
        #expect(finished)
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.hasSuffix("\r\n\r\n" + body))
    }

    @Test func aPortInUseIsAClearError() throws {
        let first = try HTTPResponder(host: "127.0.0.1", port: 0)
        #expect(throws: HTTPResponder.ListenError.self) { try HTTPResponder(host: "127.0.0.1", port: first.port) }
        #expect(throws: HTTPResponder.ListenError.self) { try HTTPResponder(host: "no-such-host.invalid", port: 0) }
    }
}

/// A blocking-connect, non-blocking-read TCP client on loopback.
final class TCPClient {
    enum Read: Equatable { case data([UInt8]), closed, nothing }
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw POSIXError(.EIO) }
    }

    /// Shuts this side's sending half (the server reads the end of the request).
    func closeSending() { shutdown(fd, Int32(SHUT_WR)) }

    func receiveAvailable() -> Read {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { return .data(Array(buffer.prefix(count))) }
        if count == 0 { return .closed }
        return .nothing
    }

    deinit { close(fd) }
}
