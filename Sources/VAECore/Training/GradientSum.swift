import Foundation

/// Writes sum over `sources` of source[k] into `destination[k]` for k in `range`, adding the
/// sources in their order (so every run adds in the same order). A lone source that is the
/// destination is left as it is.
func sum(
    _ sources: [UnsafeMutablePointer<Float>], into destination: UnsafeMutablePointer<Float>,
    over range: Range<Int>
) {
    if sources.count == 1, sources[0] == destination { return }
    sources.withUnsafeBufferPointer { sources in
        let width = FloatVector.scalarCount
        var k = range.lowerBound
        while k + width <= range.upperBound {
            var total = FloatVector.load(sources[0] + k)
            for s in 1..<sources.count { total += FloatVector.load(sources[s] + k) }
            total.store(destination + k)
            k += width
        }
        while k < range.upperBound {
            var total = sources[0][k]
            for s in 1..<sources.count { total += sources[s][k] }
            destination[k] = total
            k += 1
        }
    }
}

/// Memory of this process alone, in the shape of `SharedFloats` (one segment).
final class LocalFloats: SharedFloats {
    private let base: UnsafeMutablePointer<Float>
    init(count: Int) { base = alignedFloats(count) }
    deinit { free(base) }
    func segment(of rank: Int) -> UnsafeMutablePointer<Float> { base }
}
