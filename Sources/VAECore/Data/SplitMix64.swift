import Foundation

/// SplitMix64: a tiny counter-based generator (Steele, Lea & Flood 2014).
///
/// Every random quantity in vae-mpi is a pure function of a seed and a counter, so any process can
/// draw exactly the numbers it needs (the image of index i, the noise of sample i at step s)
/// without drawing anyone else's. `SplitMix64.hash` is the keyed mixing function; the struct is
/// the sequential generator seeded from such a hash.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finaliser: a bijection of 64-bit words with good avalanche.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A well-mixed key for (seed, stream, counters...). Different streams never collide for the
    /// same seed because each word is folded in through a full mix.
    @inlinable
    public static func hash(_ seed: UInt64, _ stream: Stream, _ a: UInt64, _ b: UInt64 = 0) -> UInt64 {
        var h = mix(seed ^ 0x6A09_E667_F3BC_C908)
        h = mix(h ^ stream.rawValue)
        h = mix(h ^ a)
        return mix(h ^ (b &* 0x9E37_79B9_7F4A_7C15))
    }

    /// The independent purposes random numbers are drawn for.
    public enum Stream: UInt64, Sendable {
        case image = 1, permutation = 2, initialisation = 3, noise = 4, pair = 5
    }

    /// A uniform float in [0, 1) from the top 24 bits.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform double in [0, 1) from the top 53 bits.
    @inlinable
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A standard normal deviate (Box–Muller; one of the pair is dropped to keep the generator
    /// stateless beyond its counter).
    @inlinable
    public mutating func nextGaussian() -> Double {
        let u1 = 1.0 - nextUnitDouble()  // (0, 1]: log is finite
        let u2 = nextUnitDouble()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }
}
