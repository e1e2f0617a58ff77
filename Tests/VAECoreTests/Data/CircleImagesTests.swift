import XCTest

@testable import VAECore

final class CircleImagesTests: XCTestCase {
    func testImageIsAPureFunctionOfSeedAndIndex() {
        let a = CircleImages(ImageConfiguration())
        let b = CircleImages(ImageConfiguration())
        XCTAssertEqual(a.image(17), b.image(17))
        XCTAssertEqual(a.circle(at: 17), b.circle(at: 17))
        XCTAssertNotEqual(a.image(17), a.image(18))
        var other = ImageConfiguration()
        other.seed = 1
        XCTAssertNotEqual(CircleImages(other).circle(at: 17), a.circle(at: 17))
    }

    /// Area coverage makes the intensity centroid the disc's centre, off the pixel grid.
    func testAntialiasedCentroidIsWithinFiveHundredthsOfAPixel() {
        let images = CircleImages(ImageConfiguration())
        var worst = 0.0
        for i in 0..<500 {
            let pixels = images.image(i)
            let c = images.circle(at: i)
            var total = 0.0, sx = 0.0, sy = 0.0
            for row in 0..<28 {
                for col in 0..<28 {
                    let v = Double(pixels[row * 28 + col])
                    total += v
                    sx += v * (Double(col) + 0.5)
                    sy += v * (Double(row) + 0.5)
                }
            }
            worst = max(worst, abs(sx / total - c.x), abs(sy / total - c.y))
            XCTAssertEqual(total, Double.pi * 9, accuracy: 0.02, "image \(i): total area")
            XCTAssertTrue(pixels.allSatisfy { $0 >= 0 && $0 <= 1.000001 })
        }
        XCTAssertLessThan(worst, 0.05)
    }

    /// Hard-edged discs follow shared/anchors/circles.py: 1 iff the pixel centre is within r.
    func testHardEdgedDiscMatchesTheAnchorRule() {
        var config = ImageConfiguration()
        config.antialias = false
        config.radius = 4
        let images = CircleImages(config)
        for i in 0..<50 {
            let c = images.circle(at: i)
            let pixels = images.image(i)
            for row in 0..<28 {
                for col in 0..<28 {
                    let dx = Double(col) + 0.5 - c.x, dy = Double(row) + 0.5 - c.y
                    XCTAssertEqual(pixels[row * 28 + col], dx * dx + dy * dy <= 16 ? 1 : 0)
                }
            }
        }
    }

    func testUniformCentresKeepTheDiscInside() {
        let images = CircleImages(ImageConfiguration())
        let centres = (0..<2000).map { images.circle(at: $0) }
        XCTAssertTrue(centres.allSatisfy { $0.x >= 3 && $0.x <= 25 && $0.y >= 3 && $0.y <= 25 })
        let meanX = centres.map(\.x).reduce(0, +) / 2000
        XCTAssertEqual(meanX, 14, accuracy: 0.3)
        // Uniform on [3, 25]: standard deviation 22 / sqrt(12) = 6.35.
        let sdX = (centres.map { ($0.x - meanX) * ($0.x - meanX) }.reduce(0, +) / 2000).squareRoot()
        XCTAssertEqual(sdX, 6.35, accuracy: 0.3)
    }

    func testSeedPresetCentresAreIntegersAroundTheMiddle() {
        let images = CircleImages(TrainingConfiguration.seedPreset.images)
        let centres = (0..<2000).map { images.circle(at: $0) }
        XCTAssertTrue(centres.allSatisfy { $0.x == $0.x.rounded() && $0.y == $0.y.rounded() })
        let meanY = centres.map(\.y).reduce(0, +) / 2000
        // Truncation moves the mean half a pixel down from 14.
        XCTAssertEqual(meanY, 13.5, accuracy: 0.3)
    }

    /// A fixed radius and intensity draw exactly what the image's generator gave before they
    /// could vary: its first two uniforms place the centre, nothing else is drawn, and the image
    /// is the full-intensity disc there.
    func testFixedWorldDrawsTheCentreAloneFromTheImagesGenerator() {
        for configuration in [ImageConfiguration(), TrainingConfiguration.benchmarkPreset.images] {
            let images = CircleImages(configuration)
            let r = configuration.radius
            for i in 0..<200 {
                var rng = SplitMix64(seed: SplitMix64.hash(configuration.seed, .image, UInt64(i)))
                let x = r + (28 - 2 * r) * rng.nextUnitDouble()
                let y = r + (28 - 2 * r) * rng.nextUnitDouble()
                XCTAssertEqual(images.circle(at: i), Circle(x: x, y: y, radius: r, intensity: 1))
                let pixels = images.image(i)
                XCTAssertEqual(pixels.max(), 1, "image \(i): a full-intensity disc")
            }
        }
    }

    /// A varying radius, then intensity, are the generator's third and fourth uniforms, after
    /// the centre, which is uniform over the square where the largest disc fits.
    func testVaryingFactorsAreDrawnAfterTheCentre() {
        var configuration = ImageConfiguration()
        configuration.radius = 2
        configuration.maxRadius = 5
        configuration.intensity = 0.3
        configuration.maxIntensity = 1
        configuration.seed = 9
        let both = CircleImages(configuration)
        var radiusOnly = configuration
        radiusOnly.intensity = 1
        radiusOnly.maxIntensity = nil
        var intensityOnly = configuration
        intensityOnly.radius = 4
        intensityOnly.maxRadius = nil
        for i in 0..<200 {
            var rng = SplitMix64(seed: SplitMix64.hash(9, .image, UInt64(i)))
            let u = (0..<4).map { _ in rng.nextUnitDouble() }
            XCTAssertEqual(
                both.circle(at: i),
                Circle(x: 5 + 18 * u[0], y: 5 + 18 * u[1], radius: 2 + 3 * u[2], intensity: 0.3 + (1 - 0.3) * u[3]))
            XCTAssertEqual(
                CircleImages(radiusOnly).circle(at: i),
                Circle(x: 5 + 18 * u[0], y: 5 + 18 * u[1], radius: 2 + 3 * u[2], intensity: 1))
            XCTAssertEqual(
                CircleImages(intensityOnly).circle(at: i),
                Circle(x: 4 + 20 * u[0], y: 4 + 20 * u[1], radius: 4, intensity: 0.3 + (1 - 0.3) * u[2]))
        }
    }

    /// Over many images the factors fill their ranges and are independent of each other: the
    /// radius is not related to the centre or to its distance from the middle.
    func testFactorsAreUniformAndIndependent() {
        var configuration = ImageConfiguration()
        configuration.radius = 2
        configuration.maxRadius = 5
        configuration.intensity = 0.3
        configuration.maxIntensity = 1
        let images = CircleImages(configuration)
        let n = 4000
        let circles = (0..<n).map { images.circle(at: $0) }
        let radius = circles.map(\.radius), intensity = circles.map(\.intensity)
        let x = circles.map(\.x), y = circles.map(\.y)
        let distance = circles.map { (($0.x - 14) * ($0.x - 14) + ($0.y - 14) * ($0.y - 14)).squareRoot() }
        XCTAssertTrue(radius.allSatisfy { $0 >= 2 && $0 <= 5 })
        XCTAssertTrue(intensity.allSatisfy { $0 >= 0.3 && $0 <= 1 })
        XCTAssertTrue(circles.allSatisfy { $0.x >= 5 && $0.x <= 23 && $0.y >= 5 && $0.y <= 23 })
        XCTAssertEqual(radius.reduce(0, +) / Double(n), 3.5, accuracy: 0.05)
        XCTAssertEqual(intensity.reduce(0, +) / Double(n), 0.65, accuracy: 0.015)
        XCTAssertEqual(x.reduce(0, +) / Double(n), 14, accuracy: 0.3)
        func correlation(_ a: [Double], _ b: [Double]) -> Double {
            let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
            var ab = 0.0, aa = 0.0, bb = 0.0
            for (p, q) in zip(a, b) {
                ab += (p - ma) * (q - mb)
                aa += (p - ma) * (p - ma)
                bb += (q - mb) * (q - mb)
            }
            return ab / (aa * bb).squareRoot()
        }
        // Independent samples of 4000: |r| beyond 0.05 is a 1-in-1000 event.
        for (a, b) in [(radius, x), (radius, y), (radius, distance), (intensity, radius), (intensity, distance)] {
            XCTAssertLessThan(abs(correlation(a, b)), 0.05)
        }
    }

    /// The grey level scales the disc: a hard-edged disc holds its intensity, an anti-aliased
    /// one sums to intensity x pi r^2; the image is still a pure function of (seed, index).
    func testIntensityScalesTheDisc() {
        var configuration = ImageConfiguration()
        configuration.radius = 2
        configuration.maxRadius = 5
        configuration.intensity = 0.3
        configuration.maxIntensity = 1
        let images = CircleImages(configuration)
        XCTAssertEqual(images.image(31), CircleImages(configuration).image(31))
        var hard = configuration
        hard.antialias = false
        for i in 0..<100 {
            let c = images.circle(at: i)
            let pixels = images.image(i)
            let total = pixels.reduce(0) { $0 + Double($1) }
            XCTAssertEqual(total, c.intensity * Double.pi * c.radius * c.radius, accuracy: 0.02, "image \(i)")
            XCTAssertLessThanOrEqual(Double(pixels.max() ?? 0), c.intensity + 1e-6)
            let edged = CircleImages(hard).image(i)
            XCTAssertEqual(Set(edged), [0, Float(c.intensity)], "image \(i)")
        }
    }
}

