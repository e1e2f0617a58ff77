import XCTest

@testable import VAECore

final class MessageExchangeTests: XCTestCase {
    /// The rank's workers sum slice by slice, `reduceScatter` gives each rank its block, and the
    /// `allgather` hands every rank the whole update (uneven blocks at 3 ranks).
    func testRanksByMessageHandEveryWorkerTheSummedUpdate() throws {
        for (ranks, threads, step) in [(2, 1, 0), (2, 2, 0), (3, 2, 1)] {
            try checkOneExchangeStep(ranks: ranks, threads: threads, sharesMemory: false, step: step) {
                c, blocks, threads in
                MessageExchange(communicator: c, blocks: blocks, threads: threads, count: 1000)
            }
        }
    }

    /// A rank's workers share one copy of the parameters and keep a gradient each.
    func testWorkersShareTheParametersAndOwnTheirGradients() throws {
        let e = MessageExchange(
            communicator: SingleProcessCommunicator(), blocks: BlockPartition(count: 10, ranks: 1),
            threads: 3, count: 10)
        XCTAssertEqual(e.parameters(worker: 0, step: 0), e.parameters(worker: 2, step: 1))
        XCTAssertEqual(Set((0..<3).map { e.gradient(worker: $0, step: 0) }).count, 3)
        XCTAssertEqual(e.gradient(worker: 1, step: 0), e.gradient(worker: 1, step: 1))
    }
}
