import Foundation
import VAEAnalysis
import VAECore
import XCTest
import _VAECoreShims

/// The analysis computes as training does, subnormals flushed (`SubnormalFlush`), and hands a
/// library caller its floating-point mode back.
final class SubnormalFlushAnalysisTests: XCTestCase {
    /// A model whose first layer's weights are subnormal and whose second layer amplifies by
    /// 1e30: unflushed, the latent means move by about 1e-5; flushed, the model encodes and
    /// evaluates exactly as the same model with zeros there.
    func testSubnormalWeightsReadAsZeroInTheAnalysis() throws {
        #if !(arch(x86_64) || arch(i386))
            throw XCTSkip("the flush is the x86 MXCSR's; elsewhere it does nothing")
        #endif
        var c = TrainingConfiguration()
        c.model.hidden = [64, 32]
        let layout = NetworkLayout(c.model)
        let (first, second) = (layout.encoder[0], layout.encoder[1])
        let tiny = Float.leastNormalMagnitude.nextDown  // the largest subnormal
        var withSubnormals = layout.initialParameters(seed: 3)
        for k in 0..<(first.inputs * first.outputs) { withSubnormals[first.weightOffset + k] = tiny }
        for k in 0..<(second.inputs * second.outputs) { withSubnormals[second.weightOffset + k] = 1e30 }
        for layer in [first, second] {
            for k in 0..<layer.outputs { withSubnormals[layer.biasOffset + k] = 0 }
        }
        var withZeros = withSubnormals
        for k in 0..<(first.inputs * first.outputs) { withZeros[first.weightOffset + k] = 0 }
        func model(_ parameters: [Float]) -> LatentModel {
            LatentModel(
                checkpoint: Checkpoint(
                    configuration: c, step: 0, parameters: parameters,
                    optimizer: Adam(configuration: c.optimizer, parameterCount: layout.parameterCount)))
        }
        let images = CircleImages(c.images)
        let pixels = (0..<16).flatMap { images.image($0) }

        let threads = GEMM.threadsHere
        let mode = vae_enter_flush_to_zero()
        vae_restore_floating_point_mode(mode & ~0x8040)
        defer { vae_restore_floating_point_mode(mode) }
        // The test has teeth: unflushed, image 0's first activations are not 0.
        XCTAssertGreaterThan(pixels[0..<layout.model.inputSize].reduce(Float(0)) { $0 + $1 * tiny }, 0)
        let (a, b) = (model(withSubnormals), model(withZeros))
        let (codesA, codesB) = (a.encode(pixels, count: 16), b.encode(pixels, count: 16))
        XCTAssertFalse(SubnormalFlush.isOn, "encode left the caller's mode changed")
        XCTAssertEqual(codesA.mean, codesB.mean)
        XCTAssertEqual(codesA.logVariance, codesB.logVariance)
        XCTAssertEqual(a.evaluate(pixels, count: 16).kl, b.evaluate(pixels, count: 16).kl)
        XCTAssertFalse(SubnormalFlush.isOn, "the analysis left the caller's mode changed")
        XCTAssertEqual(GEMM.threadsHere, threads, "the analysis left the caller's OpenMP threads changed")
    }
}
