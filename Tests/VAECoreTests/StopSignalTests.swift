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

    /// SIGTERM is recorded instead of ending the process.
    func testSignalIsRecordedNotFatal() throws {
        StopSignal.install()
        StopSignal.reset()
        XCTAssertNil(StopSignal.received)
        XCTAssertNil(try StopSignal.agreed(by: SingleProcessCommunicator()))
        raise(SIGTERM)
        XCTAssertEqual(StopSignal.received, SIGTERM)
        XCTAssertEqual(try StopSignal.agreed(by: SingleProcessCommunicator()), SIGTERM)
    }

    /// A rank that saw no signal still stops when another rank did.
    func testRanksAgreeWhenOnlyAnotherRankWasSignalled() throws {
        StopSignal.reset()
        XCTAssertEqual(try StopSignal.agreed(by: OtherRankSignalled(signal: SIGINT)), SIGINT)
        XCTAssertNil(try StopSignal.agreed(by: OtherRankSignalled(signal: 0)))
    }
}
