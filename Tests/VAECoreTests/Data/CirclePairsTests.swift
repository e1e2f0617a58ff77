import XCTest

@testable import VAECore

/// Ada-GVAE's pairs: pure functions of (seed, index), the first image of each pair the usual
/// one, the second sharing exactly the factors it does not draw afresh.
final class CirclePairsTests: XCTestCase {
    /// Radius 2-5 and intensity 0.3-1: four factors that vary.
    private func world() -> ImageConfiguration {
        var c = ImageConfiguration()
        (c.radius, c.maxRadius) = (2, 5)
        (c.intensity, c.maxIntensity) = (0.3, 1)
        return c
    }

    func testPairsAreAPureFunctionOfSeedAndIndex() {
        let a = CirclePairs(world(), changes: nil), b = CirclePairs(world(), changes: nil)
        let images = CircleImages(world())
        var pixels = [Float](repeating: .nan, count: 784)
        for index in 0..<200 {
            XCTAssertEqual(a.circle(at: index), b.circle(at: index), "image \(index)")
            let circle = pixels.withUnsafeMutableBufferPointer { a.render(index, into: $0) }
            XCTAssertEqual(circle, a.circle(at: index))
            var expected = [Float](repeating: .nan, count: 784)
            expected.withUnsafeMutableBufferPointer {
                CircleImages.draw(circle, side: 28, antialias: true, into: $0)
            }
            XCTAssertEqual(pixels, expected, "image \(index) is its circle drawn")
            if index % 2 == 0 {
                XCTAssertEqual(pixels, images.image(index), "the first of a pair is the usual image \(index)")
            }
        }
        var other = world()
        other.seed = 1
        XCTAssertNotEqual(CirclePairs(other, changes: nil).circle(at: 17), a.circle(at: 17))
    }

    /// Every factor a pair does not draw afresh is the same number in both images; every one it
    /// draws differs (the draws are continuous). k is uniform in 1...3 and each factor changes in
    /// about the same share of pairs (expected: k / 4 on average, 1/2).
    func testPartnerSharesExactlyTheUnchangedFactors() {
        let pairs = CirclePairs(world(), changes: nil)
        XCTAssertEqual(pairs.factors, [.x, .y, .radius, .intensity])
        let n = 3000
        var changesOfSize = [Int](repeating: 0, count: 5)
        var changesOfFactor: [CircleFactor: Int] = [:]
        for q in 0..<n {
            let (first, second) = (pairs.circle(at: 2 * q), pairs.circle(at: 2 * q + 1))
            let changed = pairs.changedFactors(pair: q)
            changesOfSize[changed.count] += 1
            for factor in CircleFactor.allCases {
                let keyPath: KeyPath<Circle, Double> =
                    switch factor {
                    case .x: \.x
                    case .y: \.y
                    case .radius: \.radius
                    case .intensity: \.intensity
                    }
                if changed.contains(factor) {
                    changesOfFactor[factor, default: 0] += 1
                    XCTAssertNotEqual(
                        first[keyPath: keyPath], second[keyPath: keyPath], "pair \(q): \(factor)")
                } else {
                    XCTAssertEqual(
                        first[keyPath: keyPath].bitPattern, second[keyPath: keyPath].bitPattern,
                        "pair \(q): \(factor)")
                }
            }
        }
        XCTAssertEqual(changesOfSize[0], 0, "a pair that changes nothing")
        XCTAssertEqual(changesOfSize[4], 0, "a pair that shares nothing")
        for k in 1...3 {
            XCTAssertEqual(Double(changesOfSize[k]) / Double(n), 1 / 3, accuracy: 0.04, "k = \(k)")
        }
        for factor in CircleFactor.allCases {
            XCTAssertEqual(Double(changesOfFactor[factor] ?? 0) / Double(n), 0.5, accuracy: 0.04, "\(factor)")
        }
    }

    /// A fixed k changes exactly k factors; a fixed radius and intensity are never among them.
    func testFixedChangesAndFixedFactors() {
        let two = CirclePairs(world(), changes: 2)
        for q in 0..<500 { XCTAssertEqual(two.changedFactors(pair: q).count, 2, "pair \(q)") }
        let centres = CirclePairs(ImageConfiguration(), changes: nil)
        XCTAssertEqual(centres.factors, [.x, .y])
        for q in 0..<500 {
            XCTAssertEqual(centres.changedFactors(pair: q).count, 1, "pair \(q)")
            let (first, second) = (centres.circle(at: 2 * q), centres.circle(at: 2 * q + 1))
            XCTAssertEqual(first.radius, second.radius)
            XCTAssertEqual(first.intensity, second.intensity)
        }
    }

    /// Ada-GVAE is refused where pairs cannot work, each with its own message.
    func testSettingsWherePairsCannotWorkAreRefused() {
        func message(_ change: (inout TrainingConfiguration) -> Void, ranks: Int = 1) -> String? {
            var c = TrainingConfiguration()
            c.loss.objective = .adaGVAE
            change(&c)
            do { try c.validate(ranks: ranks) } catch { return "\(error)" }
            return nil
        }
        XCTAssertNil(message { _ in })
        XCTAssertEqual(message { $0.model.kind = .ae }, "--objective ada-gvae needs a VAE (--model vae)")
        XCTAssertEqual(
            message { $0.loss.pairChanges = 2 },
            "--pair-changes must be in 1...1 (the factors that vary: x, y), got 2")
        XCTAssertEqual(
            message {
                $0.loss.objective = .elbo
                $0.loss.pairChanges = 1
            }, "--pair-changes applies to --objective ada-gvae")
        XCTAssertEqual(
            message { $0.batchSize = 127 },
            "--objective ada-gvae trains on pairs of images: batch-size must be even, got 127")
        XCTAssertEqual(
            message({ $0.batchSize = 6 }, ranks: 4),
            "4 processes cannot share a batch of 3 pairs: each needs at least one pair")
        // A disc as wide as the image has one place to be: nothing varies.
        XCTAssertEqual(
            message { $0.images.radius = 14 },
            "--objective ada-gvae needs pairs that share some factors and differ in others, but no factor varies"
        )
        XCTAssertEqual(
            message {
                ($0.images.radius, $0.images.maxRadius) = (13, 14)
            },
            "--objective ada-gvae needs pairs that share some factors and differ in others, but only radius varies"
        )
    }
}
