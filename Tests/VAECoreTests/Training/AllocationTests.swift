import AllocationCounter
import XCTest

@testable import VAECore

/// The training step runs in workspaces sized once: after warm-up our code makes no heap
/// allocation. (oneDNN's own per-call allocations are counted apart and printed.)
final class AllocationTests: XCTestCase {
    func testCounterSeesAllocations() {
        allocation_counter_start()
        let array = [Int](repeating: 1, count: 1000 + Int.random(in: 0..<2))
        let counted = allocation_counter_stop()
        XCTAssertGreaterThan(array.count, 0)
        XCTAssertGreaterThanOrEqual(
            counted, 1, "the counter must see an array's allocation, or the next test proves nothing")
    }

    func testTrainingStepsMakeNoAllocation() throws {
        // Ada-GVAE renders pairs and averages their posteriors in the step: no allocation either.
        let runs: [(ModelConfiguration.Kind, LossConfiguration.Objective)] = [
            (.vae, .elbo), (.ae, .elbo), (.vae, .adaGVAE),
        ]
        for (kind, objective) in runs {
            for threads in [1, 2] {
                var c = TrainingConfiguration()
                c.model.kind = kind
                c.loss.objective = objective
                (c.images.radius, c.images.maxRadius) = objective == .adaGVAE ? (2, 5) : (3, nil)
                c.model.hidden = [128, 64]
                c.images.count = 4096
                c.batchSize = 64
                let trainer = try Trainer(
                    configuration: c, communicator: SingleProcessCommunicator(), threads: threads)
                // Warm-up: the first epoch's permutation, lazily initialised runtime state.
                for _ in 0..<3 { _ = try trainer.trainStep() }
                allocation_counter_start()
                for _ in 0..<60 { _ = try trainer.trainStep() }  // crosses an epoch boundary (step 64)
                let counted = allocation_counter_stop()
                XCTAssertEqual(
                    counted, 0,
                    "\(kind) \(objective), \(threads) threads: heap allocations in 60 training steps")
                print(
                    "AllocationTests: \(kind) \(objective), \(threads) threads: 60 steps, \(counted) allocations by vae-mpi, "
                        + "\(allocation_counter_gemm()) inside oneDNN"
                )
            }
        }
    }
}
