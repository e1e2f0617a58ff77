import Foundation

/// The true parameters of one circle image, for the analysis.
public struct Circle: Hashable, Sendable {
    /// Centre in pixel units: x grows to the right, y downwards; pixel (row i, column j)
    /// covers [j, j+1] x [i, i+1], so its centre is (j + 0.5, i + 0.5).
    public var x: Double
    public var y: Double
    public var radius: Double
    /// Grey level of the disc: the value of a fully covered pixel, in (0, 1].
    public var intensity: Double

    public init(x: Double, y: Double, radius: Double, intensity: Double = 1) {
        self.x = x
        self.y = y
        self.radius = radius
        self.intensity = intensity
    }
}

/// The data set: image i is a pure function of (configuration.seed, i), rendered on demand.
///
/// Nobody stores the whole set: a process renders exactly the images of its share of each batch.
public struct CircleImages: Sendable {
    public let configuration: ImageConfiguration

    public init(_ configuration: ImageConfiguration) {
        self.configuration = configuration
    }

    public var count: Int { configuration.count }

    /// The circle drawn for image `index`. The centre comes first from the image's generator,
    /// then the radius and the intensity, each drawn only when it varies: a world with a fixed
    /// radius and intensity draws what it drew before they could vary. Centres are uniform over
    /// the square where the largest disc fits, whatever this image's radius, so the factors are
    /// independent.
    public func circle(at index: Int) -> Circle {
        let c = configuration
        var rng = SplitMix64(seed: SplitMix64.hash(c.seed, .image, UInt64(index)))
        let side = Double(c.side)
        let lo = c.largestRadius
        let hi = side - lo
        func draw() -> Double {
            switch c.centres {
            case .uniform:
                return lo + (hi - lo) * rng.nextUnitDouble()
            case .normal(let sigma):
                return min(max(side / 2 + sigma * rng.nextGaussian(), lo), hi)
            }
        }
        var x = draw()
        var y = draw()
        if c.integerCentres {
            x = x.rounded(.towardZero)
            y = y.rounded(.towardZero)
        }
        func uniform(_ range: ClosedRange<Double>) -> Double {
            guard range.upperBound > range.lowerBound else { return range.lowerBound }
            return range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUnitDouble()
        }
        let radius = uniform(c.radii)
        let intensity = uniform(c.intensities)
        return Circle(x: x, y: y, radius: radius, intensity: intensity)
    }

    /// Renders image `index` into `pixels` (side*side floats, row-major, values in [0, 1]).
    @discardableResult
    public func render(_ index: Int, into pixels: UnsafeMutableBufferPointer<Float>) -> Circle {
        let circle = circle(at: index)
        CircleImages.draw(
            circle, side: configuration.side, antialias: configuration.antialias,
            into: pixels)
        return circle
    }

    /// Renders into a new array (for tests and analysis, not the training loop).
    public func image(_ index: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: configuration.pixelCount) { buffer, n in
            render(index, into: buffer)
            n = configuration.pixelCount
        }
    }

    /// Sub-columns per pixel for the area integral of anti-aliased discs. The coverage of a pixel
    /// is integrated exactly in y (a chord clipped to the row) and by the midpoint rule in x;
    /// 32 strips keep the intensity centroid within a few thousandths of a pixel of the centre.
    static let strips = 32

    /// Draws a disc. Hard-edged: the intensity where the pixel centre is inside (distance <= r),
    /// else 0. Anti-aliased: the intensity times the fraction of the pixel's unit square the disc
    /// covers.
    public static func draw(
        _ circle: Circle, side: Int, antialias: Bool,
        into pixels: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(pixels.count >= side * side)
        pixels.update(repeating: 0)
        let r = circle.radius
        let col0 = max(0, Int((circle.x - r).rounded(.down)))
        let col1 = min(side - 1, Int((circle.x + r).rounded(.down)))
        let row0 = max(0, Int((circle.y - r).rounded(.down)))
        let row1 = min(side - 1, Int((circle.y + r).rounded(.down)))
        guard col0 <= col1, row0 <= row1 else { return }
        if !antialias {
            let r2 = r * r
            for i in row0...row1 {
                let dy = Double(i) + 0.5 - circle.y
                for j in col0...col1 {
                    let dx = Double(j) + 0.5 - circle.x
                    if dx * dx + dy * dy <= r2 { pixels[i * side + j] = Float(circle.intensity) }
                }
            }
            return
        }
        let w = 1.0 / Double(strips)
        for j in col0...col1 {
            for s in 0..<strips {
                let dx = Double(j) + (Double(s) + 0.5) * w - circle.x
                let h2 = r * r - dx * dx
                if h2 <= 0 { continue }
                let h = h2.squareRoot()
                let top = circle.y - h
                let bottom = circle.y + h
                let i0 = max(row0, Int(top.rounded(.down)))
                let i1 = min(row1, Int(bottom.rounded(.down)))
                if i0 > i1 { continue }
                for i in i0...i1 {
                    let overlap = min(Double(i + 1), bottom) - max(Double(i), top)
                    if overlap > 0 { pixels[i * side + j] += Float(overlap * w) }
                }
            }
        }
        // Scaled once the coverage is summed; a full-intensity disc is left as summed.
        if circle.intensity != 1 {
            let intensity = Float(circle.intensity)
            for i in row0...row1 {
                for j in col0...col1 { pixels[i * side + j] *= intensity }
            }
        }
    }
}
