import CDNNL
import XCTest

@testable import VAECore

/// `GEMM.multiply`'s argument order (row-major, each operand transposed or not, leading
/// dimensions wider than the rows) against a float64 product, and the one-thread rule that
/// keeps workers from oversubscribing the cores.
final class GEMMTests: XCTestCase {
    func testEveryTranspositionMatchesAFloat64Product() {
        var rng = SplitMix64(seed: 11)
        let (m, n, k) = (7, 13, 29)
        let padding = 3  // leading dimensions 3 wider than the stored rows
        for transposingA in [false, true] {
            for transposingB in [false, true] {
                // op(A) is m x k, stored k x m when transposed; op(B) is k x n, stored n x k.
                let (aRows, aColumns) = transposingA ? (k, m) : (m, k)
                let (bRows, bColumns) = transposingB ? (n, k) : (k, n)
                let lda = aColumns + padding, ldb = bColumns + padding, ldc = n + padding
                let a = (0..<aRows * lda).map { _ in Float(rng.nextUnitDouble() * 2 - 1) }
                let b = (0..<bRows * ldb).map { _ in Float(rng.nextUnitDouble() * 2 - 1) }
                var c = [Float](repeating: .nan, count: m * ldc)
                GEMM.multiply(
                    a, lda: lda, b, ldb: ldb, into: &c, ldc: ldc, m: m, n: n, k: k,
                    transposingA: transposingA, transposingB: transposingB)
                let label = "transposing A: \(transposingA), B: \(transposingB)"
                for i in 0..<m {
                    for j in 0..<n {
                        var expected = 0.0
                        for p in 0..<k {
                            let x = transposingA ? a[p * lda + i] : a[i * lda + p]
                            let y = transposingB ? b[j * ldb + p] : b[p * ldb + j]
                            expected += Double(x) * Double(y)
                        }
                        XCTAssertEqual(Double(c[i * ldc + j]), expected, accuracy: 1e-5, label)
                    }
                    // Past the n columns of each row, C is left as it was.
                    XCTAssertTrue(c[i * ldc + n..<i * ldc + ldc].allSatisfy(\.isNaN), label)
                }
            }
        }
    }

    /// OpenMP keeps the thread count per thread, so each worker must set its own: a team's
    /// workers (and its caller) run their products on one thread even when the process asked
    /// OpenMP for more.
    func testATeamsWorkersMultiplyOnOneThreadEach() {
        let previous = omp_get_max_threads()
        omp_set_num_threads(4)
        defer { omp_set_num_threads(previous) }
        XCTAssertEqual(GEMM.threadsHere, 4)
        let team = WorkerTeam(size: 3)
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: 3)
        defer { seen.deallocate() }
        team.run { worker in seen[worker] = GEMM.threadsHere }
        XCTAssertEqual(Array(seen), [1, 1, 1])
    }
}
