import XCTest

@testable import VAECore

final class GaussianBlurTests: XCTestCase {
    /// The separable passes equal a direct 2-D convolution with the outer product of the
    /// normalised kernel, zero outside the image, computed here in float64.
    func testSeparableBlurEqualsDirectConvolution() {
        let side = 28
        let images = CircleImages(ImageConfiguration())
        for (index, sigma) in [(3, 0.4), (8, 1.3), (21, 3.0), (40, 5.5)] {
            let original = images.image(index)
            var blurred = original
            let blur = GaussianBlur(side: side, maxSigma: 6)
            blurred.withUnsafeMutableBufferPointer { blur.apply(sigma: sigma, to: $0.baseAddress!) }
            let k = GaussianBlur.kernel(sigma: sigma)
            let r = k.count / 2
            XCTAssertEqual(r, Int((3 * sigma).rounded(.up)), "truncation at ceil(3 sigma)")
            XCTAssertEqual(k.reduce(0, +), 1, accuracy: 1e-12)
            var worst = 0.0
            for i in 0..<side {
                for j in 0..<side {
                    var total = 0.0
                    for a in -r...r where (0..<side).contains(i + a) {
                        for b in -r...r where (0..<side).contains(j + b) {
                            total += k[a + r] * k[b + r] * Double(original[(i + a) * side + j + b])
                        }
                    }
                    worst = max(worst, abs(total - Double(blurred[i * side + j])))
                }
            }
            XCTAssertLessThan(worst, 1e-5, "image \(index), sigma \(sigma)")
        }
    }

    /// The blur reads only the rows and columns of the image's non-zero pixels; the terms it
    /// skips are products with +0, so it gives the same bits as the two passes over the whole
    /// image (written out here): discs inside, at the border and in a corner, an image of
    /// noise (everything non-zero), a single pixel and an empty image.
    func testSkippingZeroRowsAndColumnsGivesTheBitsOfTheFullPasses() {
        let n = 28
        func fullPasses(_ image: [Float], sigma: Double) -> [Float] {
            let k = GaussianBlur.kernel(sigma: sigma).map(Float.init)
            let r = k.count / 2
            var scratch = [Float](repeating: 0, count: n * n)
            for i in 0..<n {
                for t in max(-r, -i)...min(r, n - 1 - i) {
                    for j in 0..<n { scratch[i * n + j] += k[t + r] * image[(i + t) * n + j] }
                }
            }
            var out = [Float](repeating: 0, count: n * n)
            for i in 0..<n {
                for t in -r...r where max(0, -t) < min(n, n - t) {
                    for j in max(0, -t)..<min(n, n - t) {
                        out[i * n + j] += k[t + r] * scratch[i * n + j + t]
                    }
                }
            }
            return out
        }
        var images: [[Float]] = [(0.5, 0.5), (14.3, 13.9), (2.1, 25.7), (27.5, 27.5)].map { x, y in
            var pixels = [Float](repeating: 0, count: n * n)
            pixels.withUnsafeMutableBufferPointer {
                CircleImages.draw(Circle(x: x, y: y, radius: 3), side: n, antialias: true, into: $0)
            }
            return pixels
        }
        var rng = SplitMix64(seed: 7)
        images.append((0..<(n * n)).map { _ in Float(rng.nextUnitDouble()) })
        var single = [Float](repeating: 0, count: n * n)
        single[3 * n + 27] = 1
        images += [single, [Float](repeating: 0, count: n * n)]
        let blur = GaussianBlur(side: n, maxSigma: 5)
        for (index, image) in images.enumerated() {
            for sigma in [0.3, 1.7, 5] {
                let expected = fullPasses(image, sigma: sigma)
                var blurred = image
                blurred.withUnsafeMutableBufferPointer { blur.apply(sigma: sigma, to: $0.baseAddress!) }
                XCTAssertEqual(
                    zip(blurred, expected).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                    "image \(index), sigma \(sigma)")
            }
        }
    }

    /// A normalised kernel keeps the intensity of a disc away from the border, and spreads it.
    func testBlurKeepsTheMassOfAnInteriorDiscAndSpreadsIt() {
        var c = ImageConfiguration()
        c.side = 28
        let disc = Circle(x: 14.2, y: 13.7, radius: 3)
        var pixels = [Float](repeating: 0, count: 784)
        pixels.withUnsafeMutableBufferPointer { CircleImages.draw(disc, side: 28, antialias: true, into: $0) }
        let before = pixels.reduce(0, +)
        let peakBefore = pixels.max() ?? 0
        let blur = GaussianBlur(side: 28, maxSigma: 3)
        pixels.withUnsafeMutableBufferPointer { blur.apply(sigma: 2, to: $0.baseAddress!) }
        XCTAssertEqual(pixels.reduce(0, +), before, accuracy: 1e-3 * before)
        XCTAssertLessThan(pixels.max() ?? 1, 0.8 * peakBefore)
        XCTAssertGreaterThan(pixels.filter { $0 > 1e-3 }.count, 2 * 29)
    }

    func testSigmaZeroLeavesTheImageAlone() {
        let original = CircleImages(ImageConfiguration()).image(5)
        var pixels = original
        let blur = GaussianBlur(side: 28, maxSigma: 3)
        pixels.withUnsafeMutableBufferPointer { blur.apply(sigma: 0, to: $0.baseAddress!) }
        XCTAssertEqual(pixels, original)
    }

    /// Sigma falls linearly from its start to 0 at `annealFraction` of the steps, and stays 0.
    func testScheduleFallsLinearlyThenStaysSharp() {
        let s = BlurSchedule(sigma: 3, annealFraction: 0.5)
        XCTAssertEqual(s.sigma(atStep: 0, of: 1000), 3)
        XCTAssertEqual(s.sigma(atStep: 250, of: 1000), 1.5, accuracy: 1e-12)
        XCTAssertEqual(s.sigma(atStep: 500, of: 1000), 0)
        XCTAssertEqual(s.sigma(atStep: 999, of: 1000), 0)
        XCTAssertEqual(BlurSchedule(sigma: 2, annealFraction: 0).sigma(atStep: 999, of: 1000), 2)
        XCTAssertEqual(BlurSchedule().sigma(atStep: 0, of: 1000), 0)
    }
}
