import Foundation
import XCTest
import _VAECoreShims

@testable import VAECore

/// Every thread that computes flushes subnormals (`SubnormalFlush`), and a library caller gets
/// its own floating-point mode back. Deterministic: nothing here is timed.
final class SubnormalFlushTests: XCTestCase {
    /// Runs `body` on this thread with the flush off, whatever the thread had, then restores.
    private func withFlushOff<R>(_ body: () throws -> R) rethrows -> R {
        let mode = vae_enter_flush_to_zero()
        vae_restore_floating_point_mode(mode & ~0x8040)
        defer { vae_restore_floating_point_mode(mode) }
        return try body()
    }

    func testEveryWorkerFlushesAndTheCallerGetsItsModeBack() throws {
        #if !(arch(x86_64) || arch(i386))
            throw XCTSkip("the flush is the x86 MXCSR's; elsewhere it does nothing")
        #endif
        for size in [1, 2, 3] {
            let team = WorkerTeam(size: size)
            let seen = UnsafeMutableBufferPointer<Bool>.allocate(capacity: size)
            defer { seen.deallocate() }
            seen.initialize(repeating: false)
            withFlushOff {
                XCTAssertFalse(SubnormalFlush.isOn)
                team.run { w in seen[w] = SubnormalFlush.isOn }
                XCTAssertFalse(SubnormalFlush.isOn, "\(size) workers: the caller's mode came back changed")
            }
            XCTAssertEqual(Array(seen), Array(repeating: true, count: size), "\(size) workers")
        }
    }

    /// A model whose first layer's weights are subnormal, with later layers that amplify
    /// whatever reaches them by 1e28: unflushed, the first matrix product turns those weights
    /// into activations of about 3e-37 that reach the latent means as about 7e-6 and the first
    /// layer's gradient as about 1e30 (what happens in a long run, where subnormals reach the
    /// products through activations and gradients, made here in one step). Flushed, the weights
    /// read as 0 in every worker, so the model trains exactly as the same model with zeros there.
    func testSubnormalWeightsReadAsZeroInEveryWorkersStep() throws {
        var c = TrainingConfiguration()
        c.model.hidden = [64, 32]
        c.images.count = 256
        c.batchSize = 32
        c.seed = 5
        let layout = NetworkLayout(c.model)
        let (first, second, head) = (layout.encoder[0], layout.encoder[1], layout.encoder[2])
        var withSubnormals = layout.initialParameters(seed: c.seed)
        func fill(_ layer: DenseLayer, weights: Float) {
            for k in 0..<(layer.inputs * layer.outputs) { withSubnormals[layer.weightOffset + k] = weights }
            for k in 0..<layer.outputs { withSubnormals[layer.biasOffset + k] = 0 }
        }
        fill(first, weights: Float.leastNormalMagnitude.nextDown)  // the largest subnormal
        fill(second, weights: 1e17)
        fill(head, weights: 1e11)
        XCTAssertTrue(withSubnormals[first.weightOffset].isSubnormal)
        var withZeros = withSubnormals
        for k in 0..<(first.inputs * first.outputs) { withZeros[first.weightOffset + k] = 0 }

        // The test has teeth: unflushed, image 0's first activations are not 0.
        let pixels = CircleImages(c.images).image(0)
        let unflushed = withFlushOff {
            pixels.reduce(Float(0)) { $0 + $1 * withSubnormals[first.weightOffset] }
        }
        XCTAssertGreaterThan(unflushed, 0)

        func train(_ parameters: [Float], threads: Int) throws -> ([StepReport], [Float]) {
            let checkpoint = Checkpoint(
                configuration: c, step: 0, parameters: parameters,
                optimizer: Adam(configuration: c.optimizer, parameterCount: layout.parameterCount))
            return try withFlushOff {
                let t = try Trainer(
                    configuration: c, communicator: SingleProcessCommunicator(), threads: threads,
                    resuming: checkpoint)
                let reports = try (0..<2).map { _ in try t.trainStep() }
                XCTAssertFalse(SubnormalFlush.isOn, "the step left the caller's mode changed")
                return (reports, t.parameters)
            }
        }
        for threads in [1, 2] {
            let (reportsA, parametersA) = try train(withSubnormals, threads: threads)
            let (reportsB, parametersB) = try train(withZeros, threads: threads)
            for (a, b) in zip(reportsA, reportsB) {
                XCTAssertEqual(a.reconstruction, b.reconstruction, "\(threads) threads, step \(a.step)")
                XCTAssertEqual(a.kl, b.kl, "\(threads) threads, step \(a.step)")
            }
            XCTAssertEqual(
                zip(parametersA, parametersB).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                "\(threads) threads: parameters that differ")
        }
    }
}
