/// The weakly supervised data set of Ada-GVAE (Locatello et al. 2020): images in pairs that
/// share every factor but a few, the learner told only which images form a pair.
///
/// Pair q is images 2q and 2q + 1. Image 2q is image 2q of `CircleImages`, drawn as usual;
/// image 2q + 1 copies its factors and draws k of the varying ones afresh from their usual
/// distributions, k uniform in 1...(varying - 1) unless fixed, the k factors chosen uniformly,
/// everything from (seed, q). At least one factor is always shared: a pair that shares none
/// says nothing. Each image stays a pure function of (seed, index), and since the factors are
/// independent, the second image of a pair is distributed like any other.
public struct CirclePairs: Sendable {
    public let images: CircleImages
    /// The factors a pair may differ in: those that vary (`ImageConfiguration.varyingFactors`).
    public let factors: [CircleFactor]
    /// How many factors every pair changes; nil: uniform in 1...(factors.count - 1) per pair.
    public let changes: Int?

    public init(_ configuration: ImageConfiguration, changes: Int?) {
        images = CircleImages(configuration)
        factors = configuration.varyingFactors
        let n = configuration.varyingFactors.count
        precondition(n >= 2, "pairs need at least two factors that vary")
        precondition(changes.map { (1..<n).contains($0) } ?? true, "pair changes out of range")
        self.changes = changes
    }

    /// Pairs in the data set (an odd last image belongs to none).
    public var count: Int { images.count / 2 }

    /// The circle of image `index`: the usual one for the first of a pair, its partner for the
    /// second.
    public func circle(at index: Int) -> Circle {
        var circle = images.circle(at: index & ~1)
        guard index & 1 == 1 else { return circle }
        var rng = generator(pair: index / 2)
        let changed = drawChanges(&rng)
        for (k, factor) in factors.enumerated() where changed & (1 << k) != 0 {
            images.redraw(factor, of: &circle, using: &rng)
        }
        return circle
    }

    /// The factors the second image of pair `pair` draws afresh, in `factors` order.
    public func changedFactors(pair: Int) -> [CircleFactor] {
        var rng = generator(pair: pair)
        let changed = drawChanges(&rng)
        return factors.enumerated().filter { changed & (1 << $0.offset) != 0 }.map(\.element)
    }

    /// Renders image `index` into `pixels` (side*side floats, row-major, values in [0, 1]).
    @discardableResult
    public func render(_ index: Int, into pixels: UnsafeMutableBufferPointer<Float>) -> Circle {
        let circle = circle(at: index)
        let c = images.configuration
        CircleImages.draw(circle, side: c.side, antialias: c.antialias, into: pixels)
        return circle
    }

    private func generator(pair: Int) -> SplitMix64 {
        SplitMix64(seed: SplitMix64.hash(images.configuration.seed, .pair, UInt64(pair)))
    }

    /// k, then which k of the n factors (selection sampling: each subset of size k equally
    /// likely), as bits by position in `factors`; no allocation, since it runs per image.
    private func drawChanges(_ rng: inout SplitMix64) -> Int {
        let n = factors.count
        let k = changes ?? 1 + Int(rng.next() % UInt64(n - 1))
        var (chosen, bits) = (0, 0)
        for i in 0..<n where Int(rng.next() % UInt64(n - i)) < k - chosen {
            bits |= 1 << i
            chosen += 1
        }
        return bits
    }
}

extension ImageConfiguration {
    /// The factors that vary from image to image: x and y unless the largest disc fills the
    /// image, the radius and the intensity when they are ranges.
    public var varyingFactors: [CircleFactor] {
        CircleFactor.allCases.filter { factor in
            switch factor {
            case .x, .y:
                if case .normal = centres { return true }
                return Double(side) > 2 * largestRadius
            case .radius: return radii.upperBound > radii.lowerBound
            case .intensity: return intensities.upperBound > intensities.lowerBound
            }
        }
    }
}
