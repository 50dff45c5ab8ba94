import ZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text files CURVE keys live in. Every key is Z85 (40 characters); a line that starts
/// with `#` is a comment (only a whole line: `#` is also a Z85 character).
///
///     NAME.key   (mode 0600)                       NAME.pub
///     # pbt CURVE key pair "NAME": …               # pbt CURVE public key "NAME": …
///     secret-key <Z85 secret key>                  <Z85 public key> NAME
///     public-key <Z85 public key>
///
///     authorized keys: a public key a line, optionally followed by a name (a NAME.pub
///     appended as it is is one entry); blank lines and # comments are ignored.
///
/// A `.pub` line has the shape of an authorized-keys line, so `cat trainer.pub >> authorized_keys`
/// admits a trainer. Every error names the file and, where it applies, the line.
public enum CurveKeyFile {
    /// Writes `BASE.key` (the pair, mode 0600) and `BASE.pub` (the public key, mode 0644).
    /// Refuses to overwrite an existing key unless `overwrite`. Returns the two paths.
    @discardableResult
    public static func write(
        _ pair: CurveKeyPair, base: String, overwrite: Bool = false
    ) throws(CurveKeyError) -> (secret: String, public: String) {
        let name = base.split(separator: "/").last.map(String.init) ?? base
        let secretPath = base + ".key"
        let publicPath = base + ".pub"
        if !overwrite {
            for path in [secretPath, publicPath] where access(path, F_OK) == 0 {
                throw CurveKeyError(
                    file: path,
                    "already exists; remove it first (or pass --force) so that no key is replaced by mistake")
            }
        }
        try writeFile(
            secretPath,
            "# pbt CURVE key pair \"\(name)\": the secret key. Keep it private; give \(name).pub to the other side.\n"
                + "secret-key \(pair.secretText)\npublic-key \(pair.publicText)\n",
            mode: 0o600)
        try writeFile(
            publicPath,
            "# pbt CURVE public key \"\(name)\": for --server-key, or a line of an authorized-keys file\n\(pair.publicText) \(name)\n",
            mode: 0o644)
        return (secretPath, publicPath)
    }

    /// Reads a key pair from a `.key` file (the public key is derived from the secret one,
    /// and checked against the file's `public-key` line when there is one).
    public static func readKeyPair(_ path: String) throws(CurveKeyError) -> CurveKeyPair {
        let lines = try contents(path)
        var secret: [UInt8]?
        var publicKey: [UInt8]?
        for (number, line) in lines {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch fields.first {
            case "secret-key":
                guard secret == nil else { throw CurveKeyError(file: path, line: number, "a second secret-key line") }
                secret = try key(fields.dropFirst().first, file: path, line: number)
            case "public-key":
                publicKey = try key(fields.dropFirst().first, file: path, line: number)
            default:
                throw CurveKeyError(
                    file: path, line: number,
                    "expected 'secret-key KEY' or 'public-key KEY', got '\(line.prefix(60))' (is this a .pub file? --key takes the .key file that pbt keygen wrote)"
                )
            }
        }
        guard let secret else {
            throw CurveKeyError(file: path, "holds no secret-key line; --key takes the .key file that pbt keygen wrote")
        }
        guard let pair = CurveKeyPair(secretKey: secret) else {
            throw CurveKeyError(file: path, "the secret key is not a CURVE key")
        }
        if let publicKey, publicKey != pair.publicKey {
            throw CurveKeyError(
                file: path, "its public-key line does not belong to its secret key (the file was edited or mixed up)")
        }
        return pair
    }

    /// Reads the one public key of a `.pub` file (the server's key, for --server-key).
    public static func readPublicKey(_ path: String) throws(CurveKeyError) -> [UInt8] {
        let keys = try readPublicKeys(path)
        guard keys.count == 1, let first = keys.first else {
            throw CurveKeyError(
                file: path,
                keys.isEmpty
                    ? "holds no public key"
                    : "holds \(keys.count) public keys; give the file with just the server's key")
        }
        return first.key
    }

    /// Reads an authorized-keys file: every public key with its name (may be empty).
    public static func readPublicKeys(_ path: String) throws(CurveKeyError) -> [(key: [UInt8], name: String)] {
        var keys: [(key: [UInt8], name: String)] = []
        for (number, line) in try contents(path) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.first == "secret-key" || fields.first == "public-key" {
                throw CurveKeyError(
                    file: path, line: number, "this is a .key file, which holds a secret key; give the .pub file")
            }
            let key = try key(fields.first, file: path, line: number)
            keys.append((key, fields.dropFirst().joined(separator: " ")))
        }
        return keys
    }

    /// `text` (an authorized-keys file's contents) without the lines that admit `key`, and how
    /// many lines that was. Comments, blank lines and every other line stay as they were.
    public static func authorizedKeysText(_ text: String, removing key: [UInt8]) -> (text: String, removed: Int) {
        var kept: [String] = []
        var removed = 0
        // Split at each LF scalar: to a String, CRLF is one character, and its CR stays on its line.
        for scalars in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(String.UnicodeScalarView(scalars))
            let first = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first
            if let first, !first.hasPrefix("#"), first.utf8.count == 40, Z85.decode(String(first)) == key {
                removed += 1
            } else {
                kept.append(line)
            }
        }
        return (kept.joined(separator: "\n"), removed)
    }

    /// Takes the lines that admit `key` out of the authorized-keys file at `path`, replacing the
    /// file (through a symbolic link, the file it names) with its mode kept. Returns how many
    /// lines were taken out; a file with none is left untouched.
    @discardableResult
    public static func removeAuthorizedKey(_ key: [UInt8], from path: String) throws(CurveKeyError) -> Int {
        _ = try readPublicKeys(path)  // an authorized-keys file, whole
        guard let resolved = realpath(path, nil) else {
            throw CurveKeyError(file: path, "cannot read it: \(String(cString: strerror(errno)))")
        }
        let target = String(cString: resolved)
        free(resolved)
        let (kept, removed) = authorizedKeysText(try text(target), removing: key)
        guard removed > 0 else { return 0 }
        try writeFile(target, kept, mode: permissions(target) ?? 0o644)
        return removed
    }

    /// A warning when a secret key file can be read by others than its owner (nil if not).
    /// Not an error: a Docker secret or a mounted file may have to be readable by the stage's user.
    public static func exposure(of path: String) -> String? {
        guard let mode = permissions(path), mode & 0o077 != 0 else { return nil }
        return
            "\(path): a secret key readable by others than its owner (mode \(String(mode, radix: 8))); chmod 600 it if it is a plain file"
    }

    // MARK: Helpers

    static func key(_ text: String?, file: String, line: Int) throws(CurveKeyError) -> [UInt8] {
        guard let text else { throw CurveKeyError(file: file, line: line, "the key is missing") }
        guard text.utf8.count == 40 else {
            throw CurveKeyError(
                file: file, line: line,
                "'\(text.prefix(60))' is not a CURVE key: expected 40 characters of Z85, got \(text.utf8.count)")
        }
        guard let bytes = Z85.decode(text) else {
            throw CurveKeyError(file: file, line: line, "'\(text)' is not a CURVE key: not Z85 text (ZeroMQ's base-85)")
        }
        return bytes
    }

    /// The meaningful lines of a file (no blanks, no comments), with their numbers.
    static func contents(_ path: String) throws(CurveKeyError) -> [(Int, String)] {
        var lines: [(Int, String)] = []
        // Lines end in LF or CRLF (a file saved on Windows); to a String, CRLF is one character.
        for (index, raw) in try text(path).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .enumerated()
        {
            // Only a whole line is a comment: `#` is one of Z85's characters.
            let trimmed = Substring(raw).trimmingWhitespace()
            if !trimmed.isEmpty && !trimmed.hasPrefix("#") { lines.append((index + 1, trimmed)) }
        }
        return lines
    }

    /// A regular file's text, refused when it is not one, not UTF-8 or over 1 MiB.
    static func text(_ path: String) throws(CurveKeyError) -> String {
        var status = stat()
        if stat(path, &status) == 0 {
            // A directory reads as nothing, and a FIFO would block until someone writes to it.
            if status.st_mode & S_IFMT == S_IFDIR { throw CurveKeyError(file: path, "is a directory, not a key file") }
            if status.st_mode & S_IFMT != S_IFREG { throw CurveKeyError(file: path, "is not a regular file") }
        }
        guard let file = fopen(path, "r") else {
            throw CurveKeyError(file: path, "cannot read it: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > 1 << 20 { throw CurveKeyError(file: path, "is larger than 1 MiB; is it a key file?") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CurveKeyError(file: path, "is not text")
        }
        return text
    }

    static func permissions(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }

    static func writeFile(_ path: String, _ text: String, mode: mode_t) throws(CurveKeyError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw CurveKeyError(file: path, "cannot write it: \(String(cString: strerror(errno)))")
        }
        fchmod(descriptor, mode)  // whatever the umask
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CurveKeyError(file: path, "cannot write it: \(reason)")
        }
    }
}

/// A key file that cannot be used: which file, which line, and what is wrong.
public struct CurveKeyError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let problem: String

    public init(file: String, line: Int? = nil, _ problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(file)\(line.map { " line \($0)" } ?? ""): \(problem)" }
}

extension Substring {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}
