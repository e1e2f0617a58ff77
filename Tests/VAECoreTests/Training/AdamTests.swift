import XCTest

@testable import VAECore

final class AdamTests: XCTestCase {
    /// Two steps of Adam on two parameters, against values worked out by hand:
    /// step 1: m = 0.1 g, v = 0.001 g^2, m^ = g, v^ = g^2, so p -= lr * g / (|g| + eps).
    /// step 2 with gradient g2: m = 0.09 g1 + 0.1 g2, v = 0.000999 g1^2 + 0.001 g2^2,
    /// p -= lr / (1 - 0.81) * m / (sqrt(v) / sqrt(1 - 0.998001) + eps).
    func testTwoStepsMatchHandComputedValues() {
        var config = OptimizerConfiguration()
        config.learningRate = 0.1
        var adam = Adam(configuration: config, parameterCount: 2)
        var p: [Float] = [1.0, -2.0]
        let g1: [Float] = [0.5, -3.0]
        let g2: [Float] = [-1.0, 2.0]
        p.withUnsafeMutableBufferPointer { pb in g1.withUnsafeBufferPointer { adam.update(pb, gradient: $0) }
        }
        XCTAssertEqual(p[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(p[1], -2.0 + 0.1 * 3.0 / (3.0 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(adam.stepCount, 1)
        p.withUnsafeMutableBufferPointer { pb in g2.withUnsafeBufferPointer { adam.update(pb, gradient: $0) }
        }
        for k in 0..<2 {
            let m = 0.09 * Double(g1[k]) + 0.1 * Double(g2[k])
            let v = 0.000999 * Double(g1[k] * g1[k]) + 0.001 * Double(g2[k] * g2[k])
            let step1 = Double(k == 0 ? 0.9 : -1.9)
            let expected =
                step1 - 0.1 / (1 - 0.81) * m / (v.squareRoot() / (1 - 0.998001).squareRoot() + 1e-8)
            XCTAssertEqual(Double(p[k]), expected, accuracy: 1e-5, "parameter \(k)")
        }
        XCTAssertEqual(adam.firstMoment[1], Float(0.09 * -3.0 + 0.1 * 2.0), accuracy: 1e-7)
    }

    /// Every element of a long range, vectors (taken from the top down) and tail alike, gets
    /// the textbook update, and nothing outside the range changes.
    func testEveryElementOfTheRangeGetsTheUpdate() {
        let n = 1_003
        let range = 37..<970  // 58 vectors and a tail of 5
        var rng = SplitMix64(seed: 8)
        let start = (0..<n).map { _ in Float(rng.nextGaussian()) }
        let g = (0..<n).map { _ in Float(rng.nextGaussian()) * 1e-2 }
        var adam = Adam(configuration: OptimizerConfiguration(), parameterCount: n)
        let step = adam.constants(forUpdate: 1)
        var p = start
        p.withUnsafeMutableBufferPointer { pb in
            g.withUnsafeBufferPointer { gb in
                adam.withMoments { m, v in
                    Adam.apply(
                        step, parameters: pb.baseAddress!, gradient: gb.baseAddress!, m: m, v: v,
                        range: range)
                }
            }
        }
        let c = OptimizerConfiguration()
        for k in 0..<n {
            guard range.contains(k) else {
                XCTAssertEqual(p[k], start[k], "parameter \(k) outside the range")
                XCTAssertEqual(adam.firstMoment[k], 0, "moment \(k) outside the range")
                continue
            }
            // Step 1: m^ = g and v^ = g^2, so p -= lr g / (|g| + eps).
            let gk = Double(g[k])
            let expected = Double(start[k]) - Double(c.learningRate) * gk / (abs(gk) + Double(c.epsilon))
            XCTAssertEqual(Double(p[k]), expected, accuracy: 1e-6, "parameter \(k)")
            XCTAssertEqual(adam.firstMoment[k], (1 - c.beta1) * g[k], accuracy: 1e-9, "moment \(k)")
        }
    }

    func testZeroGradientLeavesParametersAlone() {
        var adam = Adam(configuration: OptimizerConfiguration(), parameterCount: 3)
        var p: [Float] = [1, 2, 3]
        let g: [Float] = [0, 0, 0]
        p.withUnsafeMutableBufferPointer { pb in g.withUnsafeBufferPointer { adam.update(pb, gradient: $0) } }
        XCTAssertEqual(p, [1, 2, 3])
    }

    /// Updating the parameters block by block (as the trainer's workers do, each its own
    /// block) changes nothing: the update is element-wise.
    func testBlockwiseUpdateMatchesWholeUpdate() {
        let n = 300_007
        var rng = SplitMix64(seed: 9)
        let start = (0..<n).map { _ in Float(rng.nextGaussian()) }
        let gradients = (0..<3).map { _ in (0..<n).map { _ in Float(rng.nextGaussian()) } }
        func run(blocks: Int) -> [Float] {
            var adam = Adam(configuration: OptimizerConfiguration(), parameterCount: n)
            var p = start
            for g in gradients {
                let step = adam.constants(forUpdate: adam.stepCount + 1)
                p.withUnsafeMutableBufferPointer { pb in
                    g.withUnsafeBufferPointer { gb in
                        adam.withMoments { m, v in
                            for b in 0..<blocks {
                                Adam.apply(
                                    step, parameters: pb.baseAddress!, gradient: gb.baseAddress!, m: m, v: v,
                                    range: contiguousShare(of: n, rank: b, size: blocks))
                            }
                        }
                    }
                }
                adam.stepCount += 1
            }
            return p
        }
        let one = run(blocks: 1)
        XCTAssertEqual(one, run(blocks: 2))
        XCTAssertEqual(one, run(blocks: 7))
        XCTAssertNotEqual(one, start)
    }

    /// Summing the gradients inside the update gives exactly what summing them first (in the
    /// same order) and updating from the sum gives.
    func testSummingUpdateMatchesUpdateFromTheSum() {
        let n = 1_003
        var rng = SplitMix64(seed: 4)
        let start = (0..<n).map { _ in Float(rng.nextGaussian()) }
        let parts = (0..<3).map { _ in (0..<n).map { _ in Float(rng.nextGaussian()) * 1e-3 } }
        let total = (0..<n).map { k in parts[0][k] + parts[1][k] + parts[2][k] }
        let buffers = parts.map { part in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
            buffer.initialize(from: part, count: n)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }

        var summed = Adam(configuration: OptimizerConfiguration(), parameterCount: n)
        var fromTotal = summed
        var p = start, q = start
        for _ in 0..<3 {
            let step = summed.constants(forUpdate: summed.stepCount + 1)
            p.withUnsafeMutableBufferPointer { pb in
                buffers.withUnsafeBufferPointer { gradients in
                    summed.withMoments { m, v in
                        Adam.apply(
                            step, parameters: pb.baseAddress!, summing: gradients, m: m, v: v, range: 0..<n)
                    }
                }
            }
            summed.stepCount += 1
            q.withUnsafeMutableBufferPointer { qb in
                total.withUnsafeBufferPointer { fromTotal.update(qb, gradient: $0) }
            }
        }
        XCTAssertEqual(p, q)
        XCTAssertEqual(summed.firstMoment, fromTotal.firstMoment)
        XCTAssertEqual(summed.secondMoment, fromTotal.secondMoment)
        XCTAssertNotEqual(p, start)
    }

    /// Writing the updated parameters over the summed gradients (how the trainer's workers hand
    /// each other the next step's parameters) computes the same update as in place, leaves the
    /// parameters read alone, and writes exactly the range's new parameters into every gradient:
    /// with one, two and three gradients (Adam has loops of its own for one and two).
    func testWritingOverTheGradientsMatchesTheUpdateInPlace() {
        let n = 1_003
        let range = 37..<970  // a tail shorter than a vector at both ends
        var rng = SplitMix64(seed: 5)
        let start = (0..<n).map { _ in Float(rng.nextGaussian()) }
        let parts = (0..<3).map { _ in (0..<n).map { _ in Float(rng.nextGaussian()) * 1e-3 } }
        for sources in 1...3 {
            /// The update from the first `sources` parts: parameters, gradients and moments after.
            func update(_ output: Adam.Output) -> (parameters: [Float], gradients: [[Float]], adam: Adam) {
                var adam = Adam(configuration: OptimizerConfiguration(), parameterCount: n)
                var p = start
                let step = adam.constants(forUpdate: 1)
                let buffers = parts[..<sources].map { part in
                    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
                    buffer.initialize(from: part, count: n)
                    return buffer
                }
                defer { buffers.forEach { $0.deallocate() } }
                buffers.withUnsafeBufferPointer { gradients in
                    p.withUnsafeMutableBufferPointer { pb in
                        adam.withMoments { m, v in
                            Adam.apply(
                                step, parameters: pb.baseAddress!, summing: gradients, m: m, v: v,
                                range: range, output: output)
                        }
                    }
                }
                return (p, buffers.map { Array(UnsafeBufferPointer(start: $0, count: n)) }, adam)
            }
            let inPlace = update(.inPlace)
            let over = update(.overGradients)
            let name = "\(sources) gradients"
            XCTAssertNotEqual(inPlace.parameters, start, name)
            XCTAssertEqual(over.parameters, start, name)
            XCTAssertEqual(over.adam.firstMoment, inPlace.adam.firstMoment, name)
            XCTAssertEqual(over.adam.secondMoment, inPlace.adam.secondMoment, name)
            XCTAssertEqual(inPlace.gradients, Array(parts[..<sources]), name)
            for (g, written) in over.gradients.enumerated() {
                XCTAssertEqual(Array(written[range]), Array(inPlace.parameters[range]), "\(name), \(g)")
                XCTAssertEqual(written[..<range.lowerBound], parts[g][..<range.lowerBound], "\(name), \(g)")
                XCTAssertEqual(written[range.upperBound...], parts[g][range.upperBound...], "\(name), \(g)")
            }
        }
    }
}
