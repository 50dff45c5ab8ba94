/// SplitMix64: a small, fast generator whose whole state is one 64-bit word.
///
/// Every decision gets its own generator, seeded from (experiment seed, member, version,
/// purpose) by `derive`, so that a decision never depends on the order in which other
/// decisions happened to run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The SplitMix64 finaliser: a bijection that spreads every input bit over the output.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from a root seed and any number of parts (member id, version, purpose).
    public static func derive(_ seed: UInt64, _ parts: UInt64...) -> UInt64 {
        var hash = mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        for part in parts {
            hash = mix(hash ^ mix(part &+ 0x632B_E59B_D9B4_E019))
        }
        return hash
    }

    /// A generator for one decision about one member.
    public static func forDecision(seed: UInt64, member: Int, version: Int, purpose: Purpose) -> SplitMix64 {
        SplitMix64(
            seed: derive(
                seed, UInt64(truncatingIfNeeded: member), UInt64(truncatingIfNeeded: version), purpose.rawValue))
    }

    /// What a derived generator is for, so that two decisions about the same member
    /// and version never share a stream.
    public enum Purpose: UInt64, Sendable {
        case initialHyperparameters = 1
        case exploit = 2
        case explore = 3
        case training = 4
    }
}

extension RandomNumberGenerator {
    /// A standard normal draw (Box–Muller).
    public mutating func nextGaussian() -> Double {
        var u1 = Double.random(in: 0..<1, using: &self)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
