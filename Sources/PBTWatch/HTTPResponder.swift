import ZeroMQ

/// A tiny HTTP/1.1 server on a ZeroMQ STREAM socket (raw TCP), polled by the thread that
/// owns it beside its other sockets: no second thread, no blocking call.
///
///     client ──TCP──▶ STREAM ──[peer, bytes]──▶ buffer until the head is complete
///                            ◀──[peer, response], [peer, ""] (close)── handler(method, path)
///
/// One request a connection, answered as soon as its head is complete, then closed. At most
/// `maximumPeers` partial requests are kept; the oldest is dropped past that.
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

    public let socket: ZMQSocket
    /// The bound endpoint, e.g. `tcp://127.0.0.1:40123`.
    public let endpoint: String
    /// Requests answered so far.
    public private(set) var served = 0
    /// Partial requests kept at most; the oldest is dropped past that.
    public static let maximumPeers = 64
    /// Milliseconds a closing listener may go on sending the responses it queued.
    public static let lingerMilliseconds: Int32 = 100
    private var buffers: [[UInt8]: [UInt8]] = [:]
    private var order: [[UInt8]] = []

    /// Binds `endpoint` (`tcp://HOST:PORT`; port 0 or `*` picks a free one).
    public init(context: ZMQContext, bind endpoint: String) throws {
        socket = try ZMQSocket(context, .stream, linger: Self.lingerMilliseconds)
        try socket.bind(endpoint)
        self.endpoint = try socket.lastEndpoint
    }

    /// The port it listens on.
    public var port: Int? {
        endpoint.split(separator: ":").last.flatMap { Int($0) }
    }

    /// Handles every message waiting on the socket; `handler` answers complete requests.
    public func serve(_ handler: (_ method: String, _ path: String) -> Response) throws {
        while let message = try socket.receive(dontWait: true) {
            handle(message, handler)
        }
    }

    /// Handles one message read from `socket` (by a loop that polls it beside other sockets):
    /// a connection opened or closed, or bytes of a request; `handler` answers a complete one.
    public func handle(_ message: [[UInt8]], _ handler: (_ method: String, _ path: String) -> Response) {
        guard message.count == 2 else { return }
        let peer = message[0]
        let data = message[1]
        if data.isEmpty {
            // A connection opened or closed.
            forget(peer)
            return
        }
        var buffer =
            buffers[peer]
            ?? {
                order.append(peer)
                return []
            }()
        buffer += data
        switch HTTPMessage.parse(buffer) {
        case .incomplete:
            buffers[peer] = buffer
            if buffers.count > Self.maximumPeers, let oldest = order.first {
                close(oldest)
            }
        case .bad(let problem):
            reply(peer, .text(400, "Bad Request", problem + "\n"), includeBody: true)
        case .request(let method, let path):
            served += 1
            if method == "GET" || method == "HEAD" {
                reply(peer, handler(method, path), includeBody: method == "GET")
            } else {
                reply(
                    peer, .text(405, "Method Not Allowed", "only GET and HEAD\n", extraHeaders: ["Allow: GET, HEAD"]),
                    includeBody: true)
            }
        }
    }

    private func reply(_ peer: [UInt8], _ response: Response, includeBody: Bool) {
        let bytes = HTTPMessage.response(
            status: response.status, reason: response.reason, contentType: response.contentType, body: response.body,
            extraHeaders: response.extraHeaders, includeBody: includeBody)
        _ = try? socket.send([peer, bytes], dontWait: true)
        close(peer)
    }

    private func close(_ peer: [UInt8]) {
        _ = try? socket.send([peer, []], dontWait: true)
        forget(peer)
    }

    private func forget(_ peer: [UInt8]) {
        buffers[peer] = nil
        order.removeAll { $0 == peer }
    }
}
