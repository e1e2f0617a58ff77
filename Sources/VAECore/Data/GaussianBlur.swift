import Foundation

/// A separable Gaussian blur of square images in place, into buffers allocated once.
///
/// The kernel is exp(-t^2 / 2 sigma^2) for integer offsets |t| <= ceil(3 sigma) (the truncation
/// drops under 0.3 % of the mass), normalised to sum 1. Outside the image counts as 0, as the
/// coverage image is, so intensity near the border leaves the image as it would a larger one.
/// Both passes are sums of shifted, scaled rows: contiguous loops the compiler vectorises.
public final class GaussianBlur {
    public let side: Int
    /// The largest kernel radius the buffers hold.
    public let maxRadius: Int
    private let weights: UnsafeMutablePointer<Float>
    private let scratch: UnsafeMutablePointer<Float>
    /// Per column, the OR of its pixels' bit patterns: 0 for a column of +0.
    private let columnBits: UnsafeMutablePointer<UInt32>
    /// The sigma `weights` holds, and its radius.
    private var sigma = 0.0
    private var radius = 0

    /// Buffers for images of `side` x `side` and sigmas up to `maxSigma`.
    public init(side: Int, maxSigma: Double) {
        precondition(side > 0 && maxSigma >= 0)
        self.side = side
        maxRadius = GaussianBlur.radius(sigma: maxSigma)
        weights = alignedFloats(2 * maxRadius + 1)
        scratch = alignedFloats(side * side)
        columnBits = .allocate(capacity: side)
    }

    deinit {
        free(weights)
        free(scratch)
        columnBits.deallocate()
    }

    /// The kernel's radius in pixels for `sigma`: ceil(3 sigma).
    public static func radius(sigma: Double) -> Int { Int((3 * sigma).rounded(.up)) }

    /// The normalised kernel for `sigma` (weights for offsets -radius...radius).
    public static func kernel(sigma: Double) -> [Double] {
        let r = radius(sigma: sigma)
        let raw = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// Blurs `pixels` (side x side, row-major) in place with `sigma` (<= the initialiser's
    /// maxSigma); sigma 0 leaves them as they are.
    ///
    /// Only the rows and columns that hold a non-zero pixel are read (a disc covers a few of
    /// the 28): the terms skipped are products with +0, which change no sum, so the result is
    /// the same bits as the passes over the whole image, at about a seventh of the work
    /// (docs/performance.md).
    public func apply(sigma: Double, to pixels: UnsafeMutablePointer<Float>) {
        guard sigma > 0 else { return }
        if sigma != self.sigma { setKernel(sigma: sigma) }
        let (n, r) = (side, radius)
        let w = weights + r
        // The support: the rows and columns with a pixel whose bits are not those of +0.
        var (row0, row1) = (n, -1)
        columnBits.update(repeating: 0, count: n)
        for i in 0..<n {
            let row = UnsafeRawPointer(pixels + i * n).assumingMemoryBound(to: UInt32.self)
            var any: UInt32 = 0
            for j in 0..<n {
                any |= row[j]
                columnBits[j] |= row[j]
            }
            if any != 0 { (row0, row1) = (min(row0, i), i) }
        }
        guard row0 <= row1 else { return }
        var (col0, col1) = (0, n - 1)
        while columnBits[col0] == 0 { col0 += 1 }
        while columnBits[col1] == 0 { col1 -= 1 }
        // Vertical: scratch row i = sum over source rows q of w[q - i] * pixels row q.
        let outRows = max(0, row0 - r)...min(n - 1, row1 + r)
        for i in outRows {
            let out = scratch + i * n
            for j in col0...col1 { out[j] = 0 }
            for q in max(row0, i - r)...min(row1, i + r) {
                let weight = w[q - i]
                let row = pixels + q * n
                for j in col0...col1 { out[j] += weight * row[j] }
            }
        }
        pixels.update(repeating: 0, count: n * n)
        // Horizontal: pixels (i, j) = sum over source columns c of w[j - c] * scratch (i, c).
        for i in outRows {
            let out = pixels + i * n
            let row = scratch + i * n
            for c in col0...col1 {
                let value = row[c]
                for j in max(0, c - r)...min(n - 1, c + r) { out[j] += w[j - c] * value }
            }
        }
    }

    private func setKernel(sigma: Double) {
        let r = GaussianBlur.radius(sigma: sigma)
        precondition(r <= maxRadius, "blur sigma \(sigma) exceeds the buffers' \(maxRadius)-pixel radius")
        var total = 0.0
        for t in -r...r { total += exp(-Double(t * t) / (2 * sigma * sigma)) }
        for t in -r...r { weights[t + r] = Float(exp(-Double(t * t) / (2 * sigma * sigma)) / total) }
        self.sigma = sigma
        radius = r
    }
}
