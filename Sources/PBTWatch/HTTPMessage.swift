/// The part of HTTP/1.1 a metrics endpoint needs: a request line and headers in, a response
/// with a body out, one request a connection (`Connection: close`). Pure, so it is tested
/// with tables of bytes.
public enum HTTPMessage {
    /// A request head as far as it arrived.
    public enum Parsed: Sendable, Hashable {
        /// The head is not complete yet: wait for more bytes.
        case incomplete
        case request(method: String, path: String)
        /// Not HTTP a server can answer: answer 400 and close.
        case bad(String)
    }

    /// The largest request head accepted (a scrape's is a few hundred bytes).
    public static let maximumHead = 16 * 1024

    /// Parses the head of the request in `bytes` (a body, which GET has none of, is ignored).
    /// Lines may end in CRLF or a bare LF (RFC 9112 §2.2 lets a server take either). A caller
    /// that parsed `bytes` before, when it was `searchFrom` bytes long, passes that length so
    /// the end of the head is looked for in the new bytes only (a head dripped a byte at a
    /// time costs linear time, not quadratic).
    public static func parse(_ bytes: [UInt8], searchFrom: Int = 0) -> Parsed {
        guard let end = headEnd(bytes, from: max(0, min(searchFrom, bytes.count) - 2)) else {
            return bytes.count > maximumHead ? .bad("request head over \(maximumHead) bytes") : .incomplete
        }
        if end > maximumHead { return .bad("request head over \(maximumHead) bytes") }
        guard String(validating: bytes[..<end], as: UTF8.self) != nil else {
            return .bad("request head is not UTF-8")
        }
        // The request line, without its LF or CRLF (bytes: to String, CRLF is one character).
        var lineEnd = bytes[..<end].firstIndex(of: 0x0A) ?? end
        if lineEnd > 0, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
        let requestLine = String(decoding: bytes[..<lineEnd], as: UTF8.self)
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") || parts[1] == "*",
            parts[2].hasPrefix("HTTP/1.")
        else {
            return .bad("not an HTTP/1.x request line: \(requestLine.prefix(80))")
        }
        var path = String(parts[1])
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        return .request(method: String(parts[0]), path: path)
    }

    /// Where the head ends (the index just past its empty line: `LF LF` or `LF CR LF`), if it has.
    static func headEnd(_ bytes: [UInt8], from start: Int = 0) -> Int? {
        var index = start
        while let newline = bytes[index...].firstIndex(of: 0x0A) {
            let next = newline + 1
            if next < bytes.count, bytes[next] == 0x0A { return next + 1 }
            if next + 1 < bytes.count, bytes[next] == 0x0D, bytes[next + 1] == 0x0A { return next + 2 }
            index = next
        }
        return nil
    }

    /// A whole response, head and body, that closes the connection.
    public static func response(
        status: Int, reason: String, contentType: String, body: [UInt8], extraHeaders: [String] = [],
        includeBody: Bool = true
    ) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\n"
        head += "Connection: close\r\n"
        head += "Cache-Control: no-store\r\n"
        for header in extraHeaders { head += header + "\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }
}
