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
}
