import _VAECoreShims

/// Vectorised exp and log1p for the loss kernels, where libm's scalar calls cost more than the
/// matrix products around them. Accurate to a few float ulps over the ranges used here.
typealias FloatVector = SIMD16<Float>

extension SIMD16 where Scalar == Float {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self {
        UnsafeRawPointer(p).loadUnaligned(as: Self.self)
    }

    @inline(__always)
    func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self)
    }
}

enum VectorMath {
    /// -|x|, by setting the sign bit. (Swift's `pointwiseMin` goes lane by lane through its
    /// NaN-aware scalar `min`; integer bit operations stay in vector registers.)
    @inline(__always)
    static func negativeAbsolute(_ x: FloatVector) -> FloatVector {
        unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) | 0x8000_0000, to: FloatVector.self)
    }

    /// max(x, 0): lanes whose sign bit is set become +0.
    @inline(__always)
    static func positivePart(_ x: FloatVector) -> FloatVector {
        let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
        return unsafeBitCast(bits & ~(bits &>> 31), to: FloatVector.self)
    }

    /// e^x for x <= 0 (values below -87 give e^-87 ~ 1.6e-38, not 0).
    ///
    /// x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact reduction), e^r by its
    /// Taylor polynomial to r^6 (error < 2e-7 relative), 2^n put straight into the exponent bits.
    /// n is rounded by adding 1.5 * 2^23, which leaves it in the low mantissa bits: no
    /// float-to-int conversion, which Swift's generic SIMD code does one lane at a time.
    @inline(__always)
    static func expNonPositive(_ x: FloatVector) -> FloatVector {
        let x = x.replacing(with: -87, where: x .< -87)
        let magic: Float = 12_582_912  // 1.5 * 2^23
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x - n * 0.693_145_75
        r = r - n * 1.428_606_8e-6
        var p: FloatVector = FloatVector(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = (integer &+ 127) &<< 23
        return p * unsafeBitCast(scale, to: FloatVector.self)
    }

    /// log(1 + e) for e in [0, 1]: with s = e / (2 + e) in [0, 1/3],
    /// log(1 + e) = 2 (s + s^3/3 + s^5/5 + ... + s^13/13), truncation error < 1e-8.
    @inline(__always)
    static func log1pUnit(_ e: FloatVector) -> FloatVector {
        let s = e / (2 + e)
        let s2 = s * s
        var p: FloatVector = FloatVector(repeating: 1.0 / 13)
        p = p * s2 + 1.0 / 11
        p = p * s2 + 1.0 / 9
        p = p * s2 + 1.0 / 7
        p = p * s2 + 1.0 / 5
        p = p * s2 + 1.0 / 3
        p = p * s2 + 1
        return 2 * s * p
    }

    /// sqrt(v), correctly rounded, by the CPU's vector square root (sqrtps / vsqrtps).
    ///
    /// Swift's `SIMD.squareRoot()` is scalarised on Linux: sixteen scalar square roots, each
    /// with a branch to libm's `sqrtf` for errno. The C shim `vae_sqrt_x16` (_VAECoreShims)
    /// reaches Clang's `__builtin_elementwise_sqrt` instead, and inlines into the caller.
    @inline(__always)
    static func squareRoot(_ v: FloatVector) -> FloatVector {
        vae_sqrt_x16(v)
    }
}
