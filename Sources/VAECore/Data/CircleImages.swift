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

/// The factors an image is drawn from, in the order `CircleImages.circle(at:)` draws them.
public enum CircleFactor: String, CaseIterable, Sendable {
    case x, y, radius, intensity
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
        var rng = SplitMix64(seed: SplitMix64.hash(configuration.seed, .image, UInt64(index)))
        var circle = Circle(x: 0, y: 0, radius: 0)
        for factor in CircleFactor.allCases { redraw(factor, of: &circle, using: &rng) }
        return circle
    }

    /// Draws `factor` of `circle` afresh from its distribution with `rng`: what `circle(at:)`
    /// does for every factor in turn, and a weakly supervised pair for the factors it changes
    /// (`CirclePairs`). A factor that does not vary takes its one value without drawing.
    public func redraw(_ factor: CircleFactor, of circle: inout Circle, using rng: inout SplitMix64) {
        let c = configuration
        func centre() -> Double {
            let side = Double(c.side)
            let (lo, hi) = (c.largestRadius, side - c.largestRadius)
            let value: Double
            switch c.centres {
            case .uniform: value = lo + (hi - lo) * rng.nextUnitDouble()
            case .normal(let sigma): value = min(max(side / 2 + sigma * rng.nextGaussian(), lo), hi)
            }
            return c.integerCentres ? value.rounded(.towardZero) : value
        }
        func uniform(_ range: ClosedRange<Double>) -> Double {
            guard range.upperBound > range.lowerBound else { return range.lowerBound }
            return range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUnitDouble()
        }
        switch factor {
        case .x: circle.x = centre()
        case .y: circle.y = centre()
        case .radius: circle.radius = uniform(c.radii)
        case .intensity: circle.intensity = uniform(c.intensities)
        }
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
        // Column by column: first each strip's chord [top, bottom], then the column's rows 8 at
        // a time, one pixel a lane. Each pixel adds its strips' areas in strip order, as a loop
        // over strips and then rows would, so the same bits, at a fraction of the time.
        let w = 1.0 / Double(strips)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * strips) { chords in
            let (top, bottom) = (chords.baseAddress!, chords.baseAddress! + strips)
            for j in col0...col1 {
                for s in 0..<strips {
                    let dx = Double(j) + (Double(s) + 0.5) * w - circle.x
                    let h2 = r * r - dx * dx
                    // A strip the disc misses covers no row: every overlap below is negative.
                    let h = h2 > 0 ? h2.squareRoot() : -Double.infinity
                    (top[s], bottom[s]) = (circle.y - h, circle.y + h)
                }
                var i = row0
                while i <= row1 {
                    let rows = SIMD8<Double>(0, 1, 2, 3, 4, 5, 6, 7) + Double(i)
                    var sum = SIMD8<Float>()
                    for s in 0..<strips {
                        let overlap =
                            pointwiseMin(rows + 1, SIMD8(repeating: bottom[s]))
                            - pointwiseMax(rows, SIMD8(repeating: top[s]))
                        sum += SIMD8<Float>((overlap * w).replacing(with: 0, where: .!(overlap .> 0)))
                    }
                    for lane in 0..<min(8, row1 - i + 1) { pixels[(i + lane) * side + j] = sum[lane] }
                    i += 8
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
