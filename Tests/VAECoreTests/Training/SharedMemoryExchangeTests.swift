import XCTest

@testable import VAECore

final class SharedMemoryExchangeTests: XCTestCase {
    /// One rank: every worker's buffers in this process's memory; odd steps swap the buffers.
    func testOneRankHandsEveryWorkerTheSummedUpdate() throws {
        for (threads, step) in [(1, 0), (3, 0), (2, 1)] {
            try checkOneExchangeStep(ranks: 1, threads: threads, sharesMemory: true, step: step) {
                _, _, threads in
                SharedMemoryExchange(
                    memory: LocalFloats(count: 2 * threads * 1000), shared: false, rank: 0, ranks: 1,
                    threads: threads, count: 1000)
            }
        }
    }

    /// Ranks that map each other's buffers: each worker's Adam reads every rank's gradients.
    func testRanksInSharedMemoryHandEveryWorkerTheSummedUpdate() throws {
        for (ranks, threads) in [(2, 1), (2, 2), (3, 2)] {
            try checkOneExchangeStep(ranks: ranks, threads: threads, sharesMemory: true) { c, _, threads in
                let memory = try XCTUnwrap(try c.allocateShared(count: 2 * threads * 1000))
                return SharedMemoryExchange(
                    memory: memory, shared: true, rank: c.rank, ranks: c.size, threads: threads, count: 1000)
            }
        }
    }

    /// The step's gradient never lands where the same worker reads that step's parameters.
    func testParametersAndGradientsSwapBuffersEachStep() {
        let e = SharedMemoryExchange(
            memory: LocalFloats(count: 2 * 2 * 10), shared: false, rank: 0, ranks: 1, threads: 2, count: 10)
        for w in 0..<2 {
            XCTAssertNotEqual(e.parameters(worker: w, step: 4), e.gradient(worker: w, step: 4))
            XCTAssertEqual(e.gradient(worker: w, step: 4), e.parameters(worker: w, step: 5))
            XCTAssertEqual(e.parameters(worker: w, step: 4), e.gradient(worker: w, step: 5))
        }
        XCTAssertNotEqual(e.parameters(worker: 0, step: 0), e.parameters(worker: 1, step: 0))
    }
}
