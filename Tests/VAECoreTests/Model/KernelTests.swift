import Foundation
import XCTest

@testable import VAECore

/// The vectorised loss kernel against float64 formulas, over logits from -60 to 60.
final class KernelTests: XCTestCase {
    func testReconstructionKernelMatchesFloat64Formulas() {
        var rng = SplitMix64(seed: 5)
        let count = 16 * 200 + 7
        let logits = (0..<count).map { _ in
            Float(rng.nextUnitDouble() * 120 - 60) * (rng.nextUnitDouble() < 0.5 ? 0.05 : 1)
        }
        let targets = (0..<count).map { _ in
            Float(rng.nextUnitDouble() < 0.3 ? 1 : rng.nextUnitDouble() * 0.2)
        }
        var gradient = [Float](repeating: 0, count: count)
        for kind in LossConfiguration.Reconstruction.allCases {
            let total = logits.withUnsafeBufferPointer { y in
                targets.withUnsafeBufferPointer { t in
                    gradient.withUnsafeMutableBufferPointer { g in
                        Kernels.reconstruction(
                            kind, logits: y.baseAddress!, target: t.baseAddress!, count: count,
                            gradientScale: 0.5, gradient: g.baseAddress!)
                    }
                }
            }
            var expected = 0.0
            for k in 0..<count {
                let y = Double(logits[k]), t = Double(targets[k])
                let p = 1 / (1 + exp(-y))
                let grad: Double
                switch kind {
                case .bce:
                    expected += max(y, 0) - y * t + log1p(exp(-abs(y)))
                    grad = p - t
                case .mse:
                    expected += (p - t) * (p - t)
                    grad = 2 * (p - t) * p * (1 - p)
                }
                XCTAssertEqual(
                    Double(gradient[k]), 0.5 * grad, accuracy: 1e-6 + 1e-5 * abs(grad), "\(kind) y=\(y)")
            }
            XCTAssertEqual(total, expected, accuracy: 1e-5 * expected, "\(kind) total")
        }
    }

    func testVectorExpAndLog1pAreAccurate() {
        var worstExp = 0.0, worstLog = 0.0
        for i in 0..<10_000 {
            let x = Double(Float(-Double(i) * 0.0087))  // 0 down to -87, exactly representable
            let v = VectorMath.expNonPositive(FloatVector(repeating: Float(x)))[0]
            worstExp = max(worstExp, abs(Double(v) - exp(x)) / exp(x))
            let e = Double(i) / 9999
            let l = VectorMath.log1pUnit(FloatVector(repeating: Float(e)))[0]
            worstLog = max(worstLog, abs(Double(l) - log1p(Double(Float(e)))) / max(log1p(e), 1e-30))
        }
        XCTAssertLessThan(worstExp, 1e-6)
        XCTAssertLessThan(worstLog, 1e-6)
    }

    /// The hardware square root is correctly rounded, so it must equal the float64 root rounded
    /// to float (exact, since float64 carries more than 2 x 24 + 2 bits), in every lane:
    /// zero, subnormals, the normal range up to the largest float, and random bit patterns.
    func testVectorSquareRootIsCorrectlyRounded() {
        var rng = SplitMix64(seed: 8)
        var values: [Float] = [
            0, .leastNonzeroMagnitude, 3e-45, 1e-40, 1e-39, .leastNormalMagnitude, 1e-30, 1e-8,
            0.25, 1, 2, 3, 1e30, .greatestFiniteMagnitude,
        ]
        values += (0..<20_000).map { _ in Float(pow(10, rng.nextUnitDouble() * 83 - 45)) }  // 1e-45 ... 1e38
        values += (0..<20_000).map { _ in
            Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) % 0x7F80_0000)  // finite, >= 0
        }
        for start in stride(from: 0, to: values.count, by: FloatVector.scalarCount) {
            var v = FloatVector(repeating: 1)
            for lane in 0..<min(FloatVector.scalarCount, values.count - start) {
                v[lane] = values[start + lane]
            }
            let root = VectorMath.squareRoot(v)
            for lane in 0..<FloatVector.scalarCount {
                XCTAssertEqual(root[lane], Float(Double(v[lane]).squareRoot()), "sqrt(\(v[lane]))")
            }
        }
    }

    /// The largest |x| in the vector body and in the scalar tail, of either sign; infinity for
    /// an infinite element and for a NaN wherever it sits.
    func testLargestMagnitudeFindsTheLargestAndFlagsNonFinite() {
        var rng = SplitMix64(seed: 5)
        let values = (0..<37).map { _ in Float(rng.nextGaussian()) }  // two vectors and a tail of 5
        func largest(_ v: [Float]) -> Float {
            v.withUnsafeBufferPointer { Kernels.largestMagnitude($0.baseAddress!, count: v.count) }
        }
        XCTAssertEqual(largest(values), values.map(abs).max())
        XCTAssertEqual(largest([]), 0)
        for position in [0, 17, 35] {
            for (value, expected) in [
                (-1e30, Float(1e30)), (Float.greatestFiniteMagnitude, .greatestFiniteMagnitude),
            ] {
                var v = values
                v[position] = value
                XCTAssertEqual(largest(v), expected, "\(value) at \(position)")
            }
            for bad in [Float.infinity, -.infinity, .nan, -.nan, .signalingNaN] {
                var v = values
                v[position] = bad
                XCTAssertEqual(largest(v), .infinity, "\(bad) at \(position)")
            }
        }
    }
}
