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
    }

    deinit {
        free(weights)
        free(scratch)
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
    public func apply(sigma: Double, to pixels: UnsafeMutablePointer<Float>) {
        guard sigma > 0 else { return }
        if sigma != self.sigma { setKernel(sigma: sigma) }
        let (n, r) = (side, radius)
        let w = weights + r
        // Vertical: scratch row i = sum over t of w[t] * pixels row (i + t).
        scratch.update(repeating: 0, count: n * n)
        for i in 0..<n {
            let out = scratch + i * n
            for t in max(-r, -i)...min(r, n - 1 - i) {
                let weight = w[t]
                let row = pixels + (i + t) * n
                for j in 0..<n { out[j] += weight * row[j] }
            }
        }
        // Horizontal: pixels (i, j) = sum over t of w[t] * scratch (i, j + t).
        pixels.update(repeating: 0, count: n * n)
        for i in 0..<n {
            let out = pixels + i * n
            let row = scratch + i * n
            for t in -r...r {
                let weight = w[t]
                let lo = max(0, -t)
                let hi = min(n, n - t)
                if lo >= hi { continue }
                for j in lo..<hi { out[j] += weight * row[j + t] }
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
