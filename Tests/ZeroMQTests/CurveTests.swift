import Foundation
import PBTSecurity
import PBTTestSupport
import Testing
@testable import ZeroMQ

/// CURVE keys, key files and the ZAP handler, over real loopback TCP.
///
/// The time limits are backstops against a hang, not speed checks: a limit counts from the
/// moment the test is started, including any time it waits for one of the two cooperative
/// threads that long blocking integration tests hold (under two CPU hogs a test whose own work
/// takes about 12 s went past a limit of one minute that way).
@Suite("CURVE")
final class CurveTests {
    let context: ZMQContext
    let directory: String

    init() throws {
        context = try ZMQContext()
        directory = NSTemporaryDirectory() + "pbt-curve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func file(_ name: String) -> String { "\(directory)/\(name)" }

    @Test func z85RoundTripsAndRefusesWhatIsNotZ85() throws {
        // The test vector of RFC 32.
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(Z85.encode(bytes) == "HelloWorld")
        #expect(Z85.decode("HelloWorld") == bytes)
        #expect(Z85.encode([1, 2, 3]) == nil)
        #expect(Z85.decode("Hello") != nil)
        #expect(Z85.decode("Hell") == nil)
        #expect(Z85.decode("Hello World") == nil)
        #expect(Z85.decode("Hell\"") == nil)
    }

    @Test func aGeneratedPairDerivesItsPublicKeyAndSurvivesItsFiles() throws {
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.count == 32 && pair.secretKey.count == 32)
        #expect(CurveKeyPair(secretKey: pair.secretKey) == pair)
        #expect(try CurveKeyPair.generate() != pair)
        let paths = try CurveKeyFile.write(pair, base: file("server"))
        #expect(paths.secret == file("server.key") && paths.public == file("server.pub"))
        #expect(try CurveKeyFile.readKeyPair(paths.secret) == pair)
        #expect(try CurveKeyFile.readPublicKey(paths.public) == pair.publicKey)
        let mode = try #require(
            try FileManager.default.attributesOfItem(atPath: paths.secret)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(CurveKeyFile.exposure(of: paths.secret) == nil)
        #expect(CurveKeyFile.exposure(of: paths.public) != nil)
        // A .pub file is an authorized-keys line with its name.
        let keys = try CurveKeyFile.readPublicKeys(paths.public)
        #expect(keys.count == 1 && keys[0].key == pair.publicKey && keys[0].name == "server")
        #expect(throws: CurveKeyError.self) { try CurveKeyFile.write(pair, base: file("server")) }
    }

    @Test(
        arguments: [
            ("missing.key", nil, "cannot read it: No such file or directory"),
            ("short.key", "secret-key abc\n", "line 1: 'abc' is not a CURVE key: expected 40 characters of Z85, got 3"),
            (
                "notz85.key", "# a comment\n\nsecret-key \(String(repeating: "\"", count: 40))\n",
                "line 3: '\(String(repeating: "\"", count: 40))' is not a CURVE key: not Z85"
            ),
            (
                "pub-as-key.key", "\(String(repeating: "a", count: 40)) trainer\n",
                "line 1: expected 'secret-key KEY' or 'public-key KEY'"
            ),
            ("empty.key", "# nothing\n", "holds no secret-key line"),
        ] as [(String, String?, String)])
    func badKeyFilesNameTheFileAndTheProblem(name: String, text: String?, expected: String) throws {
        let path = file(name)
        if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        do {
            _ = try CurveKeyFile.readKeyPair(path)
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.description.hasPrefix(path), "\(error)")
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test func aPublicKeyFileRefusesASecretKeyAndSeveralKeys() throws {
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, base: file("client"))
        #expect(
            throws: CurveKeyError(
                file: paths.secret, line: 2, "this is a .key file, which holds a secret key; give the .pub file")
        ) {
            try CurveKeyFile.readPublicKey(paths.secret)
        }
        let two = file("two.pub")
        try "\(pair.publicText) a\n\(try CurveKeyPair.generate().publicText) b\n".write(
            toFile: two, atomically: true, encoding: .utf8)
        #expect(throws: CurveKeyError(file: two, "holds 2 public keys; give the file with just the server's key")) {
            try CurveKeyFile.readPublicKey(two)
        }
        // The public-key line of a .key must belong to its secret key.
        let mixed = file("mixed.key")
        try "secret-key \(pair.secretText)\npublic-key \(try CurveKeyPair.generate().publicText)\n".write(
            toFile: mixed, atomically: true, encoding: .utf8)
        #expect(throws: CurveKeyError.self) { try CurveKeyFile.readKeyPair(mixed) }
    }

    /// Files saved on Windows end their lines in CRLF: each line still reads as one line.
    @Test func removingAKeyKeepsEveryOtherLine() throws {
        let gone = try CurveKeyPair.generate()
        let kept = try CurveKeyPair.generate()
        let text = "# admitted\n\(gone.publicText) old\n\n\(kept.publicText) laptop\r\n  \(gone.publicText)\n# end\n"
        let result = CurveKeyFile.authorizedKeysText(text, removing: gone.publicKey)
        #expect(result.removed == 2)
        #expect(result.text == "# admitted\n\n\(kept.publicText) laptop\r\n# end\n")
        #expect(CurveKeyFile.authorizedKeysText(result.text, removing: gone.publicKey).removed == 0)

        // The file: replaced in place of the file a link names, its mode kept; nothing to remove leaves it be.
        let path = file("authorized_keys")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o640)
        let link = file("linked_keys")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(try CurveKeyFile.removeAuthorizedKey(gone.publicKey, from: link) == 2)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == result.text)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == path)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o640)
        #expect(try CurveKeyFile.removeAuthorizedKey(gone.publicKey, from: path) == 0)
        #expect(throws: CurveKeyError.self) { try CurveKeyFile.removeAuthorizedKey(gone.publicKey, from: file("none")) }
    }

    @Test func keyFilesWithCRLFLinesRead() throws {
        let pair = try CurveKeyPair.generate()
        let other = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, base: file("windows"))
        for path in [paths.secret, paths.public] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try text.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        #expect(try CurveKeyFile.readKeyPair(paths.secret) == pair)
        #expect(try CurveKeyFile.readPublicKey(paths.public) == pair.publicKey)
        let authorized = file("authorized_keys")
        try "# admitted\r\n\(pair.publicText) a\r\n\(other.publicText) b\r\n".write(
            toFile: authorized, atomically: true, encoding: .utf8)
        #expect(try CurveKeyFile.readPublicKeys(authorized).map(\.name) == ["a", "b"])
    }

    @Test func aDirectoryOrAFIFOIsNotAKeyFile() throws {
        #expect(throws: CurveKeyError(file: directory, "is a directory, not a key file")) {
            try CurveKeyFile.readKeyPair(directory)
        }
        let fifo = file("fifo.key")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: CurveKeyError(file: fifo, "is not a regular file")) { try CurveKeyFile.readKeyPair(fifo) }
    }

    // MARK: ZAP

    struct Server {
        let pair: CurveKeyPair
        let router: ZMQSocket
        let zap: ZAPHandler
        let endpoint: String
        let authorized: String
    }

    func server(authorizing keys: [CurveKeyPair]) throws -> Server {
        let pair = try CurveKeyPair.generate()
        let authorized = file("authorized_keys")
        try (["# test"] + keys.map { "\($0.publicText) client" }).joined(separator: "\n").write(
            toFile: authorized, atomically: true, encoding: .utf8)
        let zap = try ZAPHandler(context: context, authorizedKeys: authorized, admitting: [pair.publicKey])
        let router = try ZMQSocket(context, .router)
        try zap.secure(router, keyPair: pair)
        try router.bind("tcp://127.0.0.1:*")
        return Server(pair: pair, router: router, zap: zap, endpoint: try router.lastEndpoint, authorized: authorized)
    }

    /// A DEALER that says hello until the server hears it or `seconds` pass; returns what the server heard.
    func hello(from client: ZMQSocket, to server: Server, within seconds: Double) throws -> [[UInt8]]? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            _ = try client.send([Array("hello".utf8)], dontWait: true)
            if let frames = try server.router.receive(timeoutMilliseconds: 100) { return frames }
        }
        return nil
    }

    func client(_ pair: CurveKeyPair, serverKey: [UInt8]?, to endpoint: String) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, .dealer)
        try socket.setImmediate(true)
        try socket.setReconnect(intervalMilliseconds: 50, maximumMilliseconds: 200)
        if let serverKey { try socket.secureClient(CurveSecurity(keyPair: pair, serverKey: serverKey)) }
        try socket.connect(endpoint)
        return socket
    }

    @Test(.timeLimit(.minutes(3))) func zapAdmitsListedKeysOnlyAndSaysWhy() throws {
        let friend = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let server = try server(authorizing: [friend])
        defer { server.zap.stop() }
        #expect(server.zap.authorizedCount == 2)

        let good = try client(friend, serverKey: server.pair.publicKey, to: server.endpoint)
        #expect(try hello(from: good, to: server, within: 10)?.last == Array("hello".utf8))

        let unknown = try client(stranger, serverKey: server.pair.publicKey, to: server.endpoint)
        #expect(try hello(from: unknown, to: server, within: 1) == nil)
        let wrongServer = try client(friend, serverKey: try CurveKeyPair.generate().publicKey, to: server.endpoint)
        #expect(try hello(from: wrongServer, to: server, within: 1) == nil)
        let plain = try client(friend, serverKey: nil, to: server.endpoint)
        #expect(try hello(from: plain, to: server, within: 1) == nil)

        var reasons: [String: ZAPHandler.Refusal] = [:]
        let seen = eventually(within: 10) {
            for refusal in server.zap.takeRefusals() { reasons[refusal.reason] = refusal }
            return reasons.count >= 3
        }
        #expect(seen, "\(reasons)")
        #expect(reasons["unknown_key"]?.publicKey == stranger.publicText)
        #expect(reasons["unknown_key"]?.address == "127.0.0.1")
        #expect(reasons["wrong_server_key"] != nil)
        #expect(reasons["not_curve"] != nil)
        #expect(server.zap.counts.admitted >= 1)
    }

    @Test(.timeLimit(.minutes(3))) func theKeysFileIsReReadWhenItChanges() throws {
        let friend = try CurveKeyPair.generate()
        let late = try CurveKeyPair.generate()
        let server = try server(authorizing: [friend])
        defer { server.zap.stop() }
        let waiting = try client(late, serverKey: server.pair.publicKey, to: server.endpoint)
        #expect(try hello(from: waiting, to: server, within: 1) == nil)
        // Appending the key admits the waiting client: it retries by itself, and nothing restarts.
        let handle = try #require(FileHandle(forWritingAtPath: server.authorized))
        handle.seekToEndOfFile()
        handle.write(Data("\n\(late.publicText) late\n".utf8))
        try handle.close()
        // libzmq gives a refused connection up for good; a new one is admitted (stages connect
        // again by themselves after a refusal: HandshakeWatch).
        let fresh = try client(late, serverKey: server.pair.publicKey, to: server.endpoint)
        #expect(try hello(from: fresh, to: server, within: 10)?.last == Array("hello".utf8))

        // A file made unusable admits nobody new (it fails closed), and says why.
        try "garbage\n".write(toFile: server.authorized, atomically: true, encoding: .utf8)
        _ = server.zap.takeRefusals()
        let next = try client(friend, serverKey: server.pair.publicKey, to: server.endpoint)
        #expect(try hello(from: next, to: server, within: 1) == nil)
        let refusal = server.zap.takeRefusals().first { $0.reason == "authorized_keys_unusable" }
        #expect(refusal?.detail.contains("\(server.authorized) line 1") == true, "\(String(describing: refusal))")
    }

    @Test(.timeLimit(.minutes(3))) func aClientSeesWhyItsHandshakeFails() throws {
        let friend = try CurveKeyPair.generate()
        let server = try server(authorizing: [friend])
        defer { server.zap.stop() }
        func events(_ pair: CurveKeyPair, serverKey: [UInt8]) throws -> [ZMQMonitorEvent] {
            let socket = try ZMQSocket(context, .dealer)
            try socket.setReconnect(intervalMilliseconds: 50, maximumMilliseconds: 200)
            try socket.secureClient(CurveSecurity(keyPair: pair, serverKey: serverKey))
            let watch = try HandshakeWatch(context, watching: socket)
            try socket.connect(server.endpoint)
            var seen: [ZMQMonitorEvent] = []
            _ = eventually(within: 5) {
                seen += watch.drain()
                return seen.contains { $0.isHandshakeSucceeded || $0.isHandshakeFailed }
            }
            return seen
        }
        let admitted = try events(friend, serverKey: server.pair.publicKey)
        #expect(admitted.contains { $0.isHandshakeSucceeded }, "\(admitted)")
        let refused = try events(try CurveKeyPair.generate(), serverKey: server.pair.publicKey)
        #expect(refused.contains { $0.isHandshakeFailed && $0.describedValue == "ZAP status 400" }, "\(refused)")
        let wrong = try events(friend, serverKey: try CurveKeyPair.generate().publicKey)
        // The server cannot decrypt our hello and hangs up: a failure without detail.
        #expect(wrong.contains { $0.isHandshakeFailed } && !wrong.contains { $0.isHandshakeSucceeded }, "\(wrong)")
        // An authorized-keys file that cannot be used refuses with 500: the client can tell its key is not at fault.
        try "garbage\n".write(toFile: server.authorized, atomically: true, encoding: .utf8)
        let unusable = try events(friend, serverKey: server.pair.publicKey)
        #expect(unusable.contains { $0.isHandshakeFailed && $0.describedValue == "ZAP status 500" }, "\(unusable)")
    }

    @Test func aBadAuthorizedKeysFileStopsTheHandlerFromStarting() throws {
        let path = file("bad_keys")
        try "# ok\nnot-a-key trainer\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(
            throws: CurveKeyError(
                file: path, line: 2, "'not-a-key' is not a CURVE key: expected 40 characters of Z85, got 9")
        ) {
            _ = try ZAPHandler(context: context, authorizedKeys: path)
        }
    }
}
