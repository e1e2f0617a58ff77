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

    func testVectorSquareRootIsWithinTwoUlps() {
        var rng = SplitMix64(seed: 8)
        for _ in 0..<20_000 {
            let v = Float(pow(10, rng.nextUnitDouble() * 60 - 30))  // 1e-30 ... 1e30
            let root = VectorMath.squareRoot(FloatVector(repeating: v))[0]
            XCTAssertLessThanOrEqual(abs(root - v.squareRoot()), 2 * v.squareRoot().ulp, "sqrt(\(v))")
        }
        XCTAssertEqual(VectorMath.squareRoot(FloatVector(repeating: 0))[0], 0)
    }
}
