import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket types the pipeline uses.
public enum ZMQSocketType: Sendable, CustomStringConvertible {
    case pair, pub, sub, req, rep, dealer, router, pull, push, xpub, xsub
    /// Raw TCP: each message is [peer id, bytes]; sending [peer id, empty] closes the
    /// connection (the metrics exporter serves HTTP on one).
    case stream

    var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        case .stream: ZMQ_STREAM
        }
    }

    public var description: String {
        switch self {
        case .pair: "PAIR"
        case .pub: "PUB"
        case .sub: "SUB"
        case .req: "REQ"
        case .rep: "REP"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pull: "PULL"
        case .push: "PUSH"
        case .xpub: "XPUB"
        case .xsub: "XSUB"
        case .stream: "STREAM"
        }
    }
}

/// One libzmq socket, owned by one thread at a time.
///
/// Messages are whole multipart messages (`[[UInt8]]`, one array a frame): libzmq delivers
/// all frames of a message or none. The socket closes in `deinit` (or `close()`), after
/// which its context may terminate. Sockets are not thread-safe: make them on the thread
/// that uses them.
public final class ZMQSocket {
    /// What kind of socket this is.
    public let type: ZMQSocketType
    private var handle: UnsafeMutableRawPointer?
    private let context: ZMQContext
    /// Keep the address of the peer each received message came from (`lastPeerAddress`).
    public var recordsPeerAddress = false
    /// The IP address of the TCP peer the last received message came from, when
    /// `recordsPeerAddress` is set (nil for other transports).
    public private(set) var lastPeerAddress: String?

    /// Makes a socket. `linger` (milliseconds, default 0) is how long `close` may wait to
    /// deliver queued messages: 0 never blocks a stage's exit on an absent peer.
    public init(_ context: ZMQContext, _ type: ZMQSocketType, linger: Int32 = 0) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket \(type)")
        }
        self.type = type
        self.handle = handle
        self.context = context
        try set(ZMQ_LINGER, linger, "linger")
    }

    deinit { close() }

    /// Closes the socket now; later calls fail with `ENOTSOCK`.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    var raw: UnsafeMutableRawPointer {
        get throws {
            guard let handle else { throw ZMQError(code: ENOTSOCK, operation: "use of a closed \(type) socket") }
            return handle
        }
    }

    // MARK: Endpoints

    /// Binds to `endpoint` (`tcp://127.0.0.1:*` picks a free port; read it from `lastEndpoint`).
    public func bind(_ endpoint: String) throws {
        guard zmq_bind(try raw, endpoint) == 0 else { throw ZMQError.last("bind \(type) \(endpoint)") }
    }

    /// Connects to `endpoint`; libzmq reconnects by itself whenever the peer goes away.
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(try raw, endpoint) == 0 else { throw ZMQError.last("connect \(type) \(endpoint)") }
    }

    /// Undoes a `connect`.
    public func disconnect(_ endpoint: String) throws {
        guard zmq_disconnect(try raw, endpoint) == 0 else { throw ZMQError.last("disconnect \(type) \(endpoint)") }
    }

    /// The endpoint of the last bind or connect, with the port a wildcard bind chose.
    public var lastEndpoint: String {
        get throws {
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            guard zmq_getsockopt(try raw, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
                throw ZMQError.last("getsockopt ZMQ_LAST_ENDPOINT")
            }
            return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    // MARK: Sending and receiving

    /// Sends one multipart message. Returns false when `dontWait` is set and the message
    /// could not be queued (high-water mark reached, or no peer for ROUTER_MANDATORY's sake).
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        let socket = try raw
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            while true {
                let result = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
                if result >= 0 { break }
                let error = ZMQError.last("send \(type)")
                if error.isInterrupted { continue }
                // libzmq queues a multipart message atomically: a refusal can only come on the first frame.
                if error.wouldBlock && index == 0 { return false }
                throw error
            }
        }
        return true
    }

    /// Receives one whole multipart message. Returns nil when `dontWait` is set and none is
    /// waiting. A signal that interrupts the wait for the first frame throws an error whose
    /// `isInterrupted` is true, so that loops can check their stop flag.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        let socket = try raw
        var frames: [[UInt8]] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while true {
            let flags: Int32 = (dontWait || !frames.isEmpty) ? ZMQ_DONTWAIT : 0
            let size = zmq_msg_recv(&message, socket, flags)
            if size < 0 {
                let error = ZMQError.last("receive \(type)")
                if frames.isEmpty {
                    if error.wouldBlock && dontWait { return nil }
                    throw error
                }
                // The rest of a multipart message is already here: only a signal can interrupt it.
                if error.isInterrupted || error.wouldBlock { continue }
                throw error
            }
            if recordsPeerAddress {
                // A ROUTER's routing-id frame is its own and carries no metadata: ask every frame.
                if frames.isEmpty { lastPeerAddress = nil }
                if let address = zmq_msg_gets(&message, "Peer-Address") { lastPeerAddress = String(cString: address) }
            }
            let data = zmq_msg_data(&message)
            let count = Int(size)
            if count == 0 || data == nil {
                frames.append([])
            } else {
                frames.append([UInt8](UnsafeRawBufferPointer(start: data, count: count)))
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }

    /// Waits up to `timeoutMilliseconds` for a message (negative waits for ever).
    /// Returns nil on timeout or when a signal interrupts the wait.
    public func receive(timeoutMilliseconds: Int) throws -> [[UInt8]]? {
        // A message already queued needs no poll (a worker that holds several tasks).
        if let frames = try receive(dontWait: true) { return frames }
        guard try ZMQPoll.readable([self], timeoutMilliseconds: timeoutMilliseconds).first == true else { return nil }
        return try receive(dontWait: true)
    }

    // MARK: Options

    func set(_ option: Int32, _ value: Int32, _ name: String) throws {
        var value = value
        guard zmq_setsockopt(try raw, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("setsockopt \(name)=\(value)")
        }
    }

    func set(_ option: Int32, _ value: Int64, _ name: String) throws {
        var value = value
        guard zmq_setsockopt(try raw, option, &value, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("setsockopt \(name)=\(value)")
        }
    }

    func set(_ option: Int32, bytes: [UInt8], _ name: String) throws {
        let socket = try raw
        let result = bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("setsockopt \(name)") }
    }

    func getInt32(_ option: Int32, _ name: String) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(try raw, option, &value, &size) == 0 else {
            throw ZMQError.last("getsockopt \(name)")
        }
        return value
    }

    /// How long `close` waits to deliver queued messages, in milliseconds (-1: for ever).
    public func setLinger(_ milliseconds: Int32) throws { try set(ZMQ_LINGER, milliseconds, "ZMQ_LINGER") }

    /// The most messages queued for sending to one peer; past it PUB drops and others block.
    public func setSendHighWaterMark(_ messages: Int32) throws { try set(ZMQ_SNDHWM, messages, "ZMQ_SNDHWM") }

    /// The most messages queued from one peer before libzmq stops reading from it.
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try set(ZMQ_RCVHWM, messages, "ZMQ_RCVHWM") }

    /// The largest inbound message libzmq accepts; a larger one drops the connection silently,
    /// so callers that care also check sizes themselves.
    public func setMaximumMessageSize(_ bytes: Int64) throws { try set(ZMQ_MAXMSGSIZE, bytes, "ZMQ_MAXMSGSIZE") }

    /// ZMTP heartbeats: a ping every `interval` ms; the connection is dropped when no traffic
    /// arrives within `timeout` ms; the peer is told to drop after `ttl` ms of silence.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32, ttlMilliseconds: Int32) throws {
        try set(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, "ZMQ_HEARTBEAT_IVL")
        try set(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        try set(ZMQ_HEARTBEAT_TTL, ttlMilliseconds, "ZMQ_HEARTBEAT_TTL")
    }

    /// How soon, and at most how long apart, libzmq retries a lost connection (milliseconds).
    public func setReconnect(intervalMilliseconds: Int32, maximumMilliseconds: Int32) throws {
        try set(ZMQ_RECONNECT_IVL, intervalMilliseconds, "ZMQ_RECONNECT_IVL")
        try set(ZMQ_RECONNECT_IVL_MAX, maximumMilliseconds, "ZMQ_RECONNECT_IVL_MAX")
    }

    /// ROUTER: fail a send to an unknown peer with `EHOSTUNREACH` instead of dropping it.
    public func setRouterMandatory(_ on: Bool) throws {
        try set(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "ZMQ_ROUTER_MANDATORY")
    }

    /// ROUTER: a new connection with a routing id already in use takes it over.
    public func setRouterHandover(_ on: Bool) throws {
        try set(ZMQ_ROUTER_HANDOVER, Int32(on ? 1 : 0), "ZMQ_ROUTER_HANDOVER")
    }

    /// Queue messages only to completed connections.
    public func setImmediate(_ on: Bool) throws { try set(ZMQ_IMMEDIATE, Int32(on ? 1 : 0), "ZMQ_IMMEDIATE") }

    /// The routing id this socket announces to a ROUTER peer (set before connecting).
    public func setRoutingID(_ id: [UInt8]) throws { try set(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID") }

    /// SUB: receive messages whose first frame starts with `prefix` (empty: everything).
    public func subscribe(_ prefix: [UInt8] = []) throws { try set(ZMQ_SUBSCRIBE, bytes: prefix, "ZMQ_SUBSCRIBE") }

    /// SUB: undo a `subscribe`.
    public func unsubscribe(_ prefix: [UInt8]) throws { try set(ZMQ_UNSUBSCRIBE, bytes: prefix, "ZMQ_UNSUBSCRIBE") }

    /// XPUB: pass every subscription upstream, duplicates included.
    public func setXPubVerbose(_ on: Bool) throws { try set(ZMQ_XPUB_VERBOSE, Int32(on ? 1 : 0), "ZMQ_XPUB_VERBOSE") }

    /// Make this socket a CURVE server with its secret key (32 bytes).
    public func setCurveServer(secretKey: [UInt8]) throws {
        try set(ZMQ_CURVE_SERVER, Int32(1), "ZMQ_CURVE_SERVER")
        try set(ZMQ_CURVE_SECRETKEY, bytes: secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    /// Make this socket a CURVE client: its own key pair and the server's public key (32 bytes each).
    public func setCurveClient(publicKey: [UInt8], secretKey: [UInt8], serverKey: [UInt8]) throws {
        try set(ZMQ_CURVE_PUBLICKEY, bytes: publicKey, "ZMQ_CURVE_PUBLICKEY")
        try set(ZMQ_CURVE_SECRETKEY, bytes: secretKey, "ZMQ_CURVE_SECRETKEY")
        try set(ZMQ_CURVE_SERVERKEY, bytes: serverKey, "ZMQ_CURVE_SERVERKEY")
    }

    /// The ZAP domain this socket authenticates in.
    public func setZAPDomain(_ domain: String) throws {
        try set(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), "ZMQ_ZAP_DOMAIN")
    }

    /// Publishes this socket's connection events (`ZMQ_EVENT_…`, or-ed) on a PAIR socket
    /// bound at `endpoint` (inproc), read with `ZMQMonitorEvent`.
    public func monitor(_ endpoint: String, events: Int32) throws {
        guard zmq_socket_monitor(try raw, endpoint, events) == 0 else {
            throw ZMQError.last("zmq_socket_monitor \(endpoint)")
        }
    }
}

/// One event of a socket monitor: what happened, its value, and the endpoint.
public struct ZMQMonitorEvent: Sendable, Equatable {
    public let event: Int32
    public let value: UInt32
    public let endpoint: String

    /// Reads the two frames libzmq sends (a 16-bit event and a 32-bit value, then the endpoint).
    public init?(_ frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        let bytes = frames[0]
        event = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        value = UInt32(bytes[2]) | UInt32(bytes[3]) << 8 | UInt32(bytes[4]) << 16 | UInt32(bytes[5]) << 24
        endpoint = String(decoding: frames[1], as: UTF8.self)
    }

    /// A connection was accepted; `value` is its file descriptor.
    public static let accepted = ZMQ_EVENT_ACCEPTED
    /// A connection ended; `value` is its file descriptor.
    public static let disconnected = ZMQ_EVENT_DISCONNECTED
    /// A descriptor was closed.
    public static let closed = ZMQ_EVENT_CLOSED
    /// A handshake failed for a protocol reason (mechanism mismatch, bad cryptography).
    public static let handshakeFailedProtocol = ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL

    public var isHandshakeSucceeded: Bool { event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED }
    public var isHandshakeFailed: Bool {
        event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
    }

    /// The value in words: a ZAP status code, or a protocol error.
    public var describedValue: String {
        switch Int32(bitPattern: value) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: "cryptographic error"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: "security mechanism mismatch"
        case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE: "key exchange failed"
        default: event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "ZAP status \(value)" : "code 0x\(String(value, radix: 16))"
        }
    }
}

/// A file descriptor (a plain TCP socket, a pipe) that `zmq_poll` watches beside ZeroMQ sockets.
public struct ZMQPollDescriptor: Sendable, Hashable {
    /// The descriptor.
    public var fd: Int32
    /// Wake when it can be read (or has hung up).
    public var readable: Bool
    /// Wake when it can be written.
    public var writable: Bool

    public init(fd: Int32, readable: Bool = true, writable: Bool = false) {
        self.fd = fd
        self.readable = readable
        self.writable = writable
    }
}

/// `zmq_poll` over sockets: which of them have a message waiting.
public enum ZMQPoll {
    /// Waits until one of `sockets` is readable or `timeoutMilliseconds` pass (negative: for ever).
    /// Returns one flag a socket. A signal ends the wait early with every flag false.
    public static func readable(_ sockets: [ZMQSocket], timeoutMilliseconds: Int) throws -> [Bool] {
        var items = try sockets.map { socket in
            zmq_pollitem_t(socket: try socket.raw, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        let count = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if count < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.isInterrupted { return Array(repeating: false, count: sockets.count) }
            throw error
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }

    /// Waits until one of `sockets` is readable, one of `descriptors` is ready as it asks, or
    /// `timeoutMilliseconds` pass (negative: for ever). Returns one flag a socket (the
    /// descriptors are for waking only: their owner tries them without blocking). A signal
    /// ends the wait early with every flag false.
    public static func readable(
        _ sockets: [ZMQSocket], descriptors: [ZMQPollDescriptor], timeoutMilliseconds: Int
    ) throws -> [Bool] {
        if descriptors.isEmpty { return try readable(sockets, timeoutMilliseconds: timeoutMilliseconds) }
        var items = try sockets.map { socket in
            zmq_pollitem_t(socket: try socket.raw, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        for descriptor in descriptors {
            let events = (descriptor.readable ? ZMQ_POLLIN : 0) | (descriptor.writable ? ZMQ_POLLOUT : 0)
            items.append(zmq_pollitem_t(socket: nil, fd: descriptor.fd, events: Int16(events), revents: 0))
        }
        let count = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if count < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.isInterrupted { return Array(repeating: false, count: sockets.count) }
            throw error
        }
        return items.prefix(sockets.count).map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}
