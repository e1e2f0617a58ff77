import COpenBLAS
import Dispatch

/// How many cores this process computes on: OpenBLAS's thread pool, and the same number of
/// chunks for the element-wise work (Adam) that would otherwise run on one core while the
/// others idle. A process-wide setting, as OpenBLAS's own is.
public enum ComputeThreads {
    nonisolated(unsafe) private static var current = Int(openblas_get_num_threads())

    /// Threads in use now.
    public static var count: Int { current }

    /// Sets OpenBLAS's thread count and the element-wise chunking to `n` (at least 1).
    public static func set(_ n: Int) {
        current = max(1, n)
        openblas_set_num_threads(Int32(current))
    }

    /// The most chunks `forEachChunk` makes (sizes per-chunk scratch space).
    static let maxChunks = 64

    /// Runs `body(index, chunk)` for every chunk of `range` split into up to `count`
    /// contiguous pieces, concurrently when there is more than one. Small ranges stay whole:
    /// below 2^16 elements the hand-off costs more than it saves.
    static func forEachChunk(of range: Range<Int>, _ body: (Int, Range<Int>) -> Void) {
        let chunks = min(current, maxChunks)
        guard chunks > 1, range.count >= 1 << 16 else { return body(0, range) }
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            // Chunk boundaries on 16-float (64-byte) lines so no two threads share a cache line.
            let share = contiguousShare(of: range.count / 16, rank: i, size: chunks)
            let lower = range.lowerBound + share.lowerBound * 16
            let upper = i == chunks - 1 ? range.upperBound : range.lowerBound + share.upperBound * 16
            body(i, lower..<upper)
        }
    }
}
