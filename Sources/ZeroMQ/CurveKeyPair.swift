import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CurveZMQ key pair (Curve25519): 32 bytes of public key, 32 of secret key.
///
/// A CURVE server socket needs its secret key; a client needs its own pair and the server's
/// public key. Keys travel as Z85 text (40 characters for 32 bytes).
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: [UInt8]
    public let secretKey: [UInt8]

    /// A fresh key pair from libzmq's random source (`zmq_curve_keypair`).
    public static func generate() throws -> CurveKeyPair {
        guard ZMQContext.has("curve") else {
            throw ZMQError(code: ENOTSUP, operation: "zmq_curve_keypair (this libzmq was built without CURVE)")
        }
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        let pair = CurveKeyPair(
            publicKey: Z85.decode(Self.text(publicText))!, secretKey: Z85.decode(Self.text(secretText))!)
        for index in secretText.indices { secretText[index] = 0 }
        return pair
    }

    /// The pair of a secret key: its public key is derived from it (`zmq_curve_public`).
    /// Returns nil unless `secretKey` is 32 bytes.
    public init?(secretKey: [UInt8]) {
        guard secretKey.count == 32, let secretText = Z85.encode(secretKey) else { return nil }
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretText) == 0, let publicKey = Z85.decode(Self.text(publicText)) else {
            return nil
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    init(publicKey: [UInt8], secretKey: [UInt8]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The public key as Z85 text.
    public var publicText: String { Z85.encode(publicKey)! }

    /// The secret key as Z85 text (for writing the key file only).
    public var secretText: String { Z85.encode(secretKey)! }
}

/// ZeroMQ's Base85 variant (RFC 32/Z85): 4 bytes become 5 printable characters.
public enum Z85 {
    /// The 85 characters Z85 uses, in order.
    public static let alphabet = Array(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Encodes `bytes` (a multiple of 4 long); nil otherwise.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { return nil }
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes Z85 text (a multiple of 5 long, only Z85 characters); nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0, characters.allSatisfy({ alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        // zmq_z85_decode also refuses groups whose value overflows 32 bits.
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        return bytes
    }
}
