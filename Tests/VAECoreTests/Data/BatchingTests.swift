import XCTest

@testable import VAECore

final class BatchingTests: XCTestCase {
    func testEpochPermutationIsAPermutationKeyedBySeedAndEpoch() {
        var a = EpochPermutation(count: 1000)
        a.shuffle(seed: 3, epoch: 0)
        XCTAssertEqual(Set(a.order).count, 1000)
        XCTAssertEqual(a.order.min(), 0)
        XCTAssertEqual(a.order.max(), 999)
        var b = EpochPermutation(count: 1000)
        b.shuffle(seed: 3, epoch: 0)
        XCTAssertEqual(a.order, b.order)
        b.shuffle(seed: 3, epoch: 1)
        XCTAssertNotEqual(a.order, b.order)
    }

    func testSharesTileTheBatchForAnyRankCount() {
        for size in 1...7 {
            for batch in [size, 10, 128, 129] {
                let shares = (0..<size).map { contiguousShare(of: batch, rank: $0, size: size) }
                XCTAssertEqual(shares.first?.lowerBound, 0)
                XCTAssertEqual(shares.last?.upperBound, batch)
                for (a, b) in zip(shares, shares.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let counts = shares.map(\.count)
                XCTAssertLessThanOrEqual(counts.max()! - counts.min()!, 1)
            }
        }
    }
}
