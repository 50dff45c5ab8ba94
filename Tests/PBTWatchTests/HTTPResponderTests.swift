import Foundation
import PBTSystem
import PBTWatch
import Testing
import ZeroMQ

/// The metrics endpoint's HTTP: request heads parsed from bytes, and a real TCP client against
/// the STREAM-socket responder.
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

    /// Sends `chunks` over one TCP connection to the responder and returns what came back
    /// before the server closed the connection.
    static func exchange(_ chunks: [String]) throws -> String {
        let context = try ZMQContext()
        let responder = try HTTPResponder(context: context, bind: "tcp://127.0.0.1:*")
        let port = try #require(responder.port)
        let client = try TCPClient(port: port)
        for (index, chunk) in chunks.enumerated() {
            try client.send(chunk)
            if index < chunks.count - 1 {
                // Let the server see a partial head first.
                let deadline = Clock.monotonic + 0.2
                while Clock.monotonic < deadline {
                    if try ZMQPoll.readable([responder.socket], timeoutMilliseconds: 20)[0] {
                        try responder.serve(Self.handler)
                    }
                }
            }
        }
        var received: [UInt8] = []
        let deadline = Clock.monotonic + 10
        while Clock.monotonic < deadline {
            if try ZMQPoll.readable([responder.socket], timeoutMilliseconds: 10)[0] {
                try responder.serve(Self.handler)
            }
            switch client.receiveAvailable() {
            case .data(let bytes): received += bytes
            case .closed: return String(decoding: received, as: UTF8.self)
            case .nothing: continue
            }
        }
        Issue.record("the server did not close the connection; got: \(String(decoding: received, as: UTF8.self))")
        return String(decoding: received, as: UTF8.self)
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
}

/// A blocking-connect, non-blocking-read TCP client on loopback.
final class TCPClient {
    enum Read { case data([UInt8]), closed, nothing }
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

    func receiveAvailable() -> Read {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { return .data(Array(buffer.prefix(count))) }
        if count == 0 { return .closed }
        return .nothing
    }

    deinit { close(fd) }
}
