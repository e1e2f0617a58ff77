import Foundation
import XCTest

@testable import VAECore

final class StopSignalTests: XCTestCase {
    /// A stand-in for a second rank that has received `signal` (the allreduce's max).
    final class OtherRankSignalled: Communicator {
        let signal: Double
        init(signal: Int32) { self.signal = Double(signal) }
        var rank: Int { 0 }
        var size: Int { 2 }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
        func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
            for k in buffer.indices { buffer[k] = max(buffer[k], signal) }
        }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
        func reduceScatterSum(
            _ send: UnsafePointer<Float>,
            into receive: UnsafeMutablePointer<Float>,
            blocks: BlockPartition
        ) throws {}
        func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws {}
        func barrier() throws {}
        func allocateShared(count: Int) throws -> SharedFloats? { nil }
    }

    override func tearDown() { StopSignal.reset() }

    /// SIGTERM waits for the training loop to take it instead of ending the process.
    func testSignalIsRecordedNotFatal() throws {
        // The mask is per thread and inherited by processes started from it: give this thread
        // its own back, or the `mpirun` that later tests start would never see their SIGTERM.
        var previous = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &previous)
        defer {
            StopSignal.reset()
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        StopSignal.install()
        StopSignal.reset()
        XCTAssertNil(StopSignal.received)
        XCTAssertNil(try StopSignal.agreed(by: SingleProcessCommunicator()))
        raise(SIGTERM)
        XCTAssertEqual(StopSignal.received, SIGTERM)
        raise(SIGINT)
        XCTAssertEqual(StopSignal.received, SIGTERM, "a repeat changes nothing")
        XCTAssertEqual(try StopSignal.agreed(by: SingleProcessCommunicator()), SIGTERM)
        var pending = sigset_t()
        sigpending(&pending)
        XCTAssertEqual(sigismember(&pending, SIGINT), 0, "taken, not left pending")
    }

    /// A rank that saw no signal still stops when another rank did.
    func testRanksAgreeWhenOnlyAnotherRankWasSignalled() throws {
        StopSignal.reset()
        XCTAssertEqual(try StopSignal.agreed(by: OtherRankSignalled(signal: SIGINT)), SIGINT)
        XCTAssertNil(try StopSignal.agreed(by: OtherRankSignalled(signal: 0)))
    }
}
