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
    public static func parse(_ bytes: [UInt8]) -> Parsed {
        guard let end = headEnd(bytes) else {
            return bytes.count > maximumHead ? .bad("request head over \(maximumHead) bytes") : .incomplete
        }
        guard let head = String(validating: bytes[..<end], as: UTF8.self) else {
            return .bad("request head is not UTF-8")
        }
        let requestLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
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

    /// Where the head ends (the index just past the blank line), if it has.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count
        where bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
            return index + 1
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
