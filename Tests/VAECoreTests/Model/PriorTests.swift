import XCTest

@testable import VAECore

/// The priors' closed-form KL against numerical integration of the textbook densities, and
/// their derivatives against central differences of the closed form.
final class PriorTests: XCTestCase {
    private let priors: [Prior] = [
        .gaussian, .laplace, .generalizedGaussian(power: 2), .generalizedGaussian(power: 4),
        .generalizedGaussian(power: 8), .generalizedGaussian(power: 16),
    ]
    private let points: [(Double, Double)] = [(0, 0), (0.3, -0.5), (-1.7, 0.4), (2.5, -3), (-0.05, -6)]

    func testClosedFormKLMatchesQuadrature() {
        for prior in priors {
            for (mu, lv) in points {
                let closed = prior.divergence(mean: mu, logVariance: lv).kl
                let numeric = ReferenceModel.divergenceByQuadrature(prior, mean: mu, logVariance: lv)
                XCTAssertEqual(
                    closed, numeric, accuracy: 1e-7 * max(1, abs(numeric)),
                    "\(prior.name) at mu \(mu), lv \(lv)")
                XCTAssertGreaterThanOrEqual(closed, -1e-12, "a KL is never negative")
            }
        }
    }

    func testDerivativesMatchCentralDifferences() {
        let h = 1e-6
        for prior in priors {
            for (mu, lv) in points {
                let d = prior.divergence(mean: mu, logVariance: lv)
                let byMu =
                    (prior.divergence(mean: mu + h, logVariance: lv).kl
                        - prior.divergence(mean: mu - h, logVariance: lv).kl) / (2 * h)
                let byLV =
                    (prior.divergence(mean: mu, logVariance: lv + h).kl
                        - prior.divergence(mean: mu, logVariance: lv - h).kl) / (2 * h)
                XCTAssertEqual(d.dMean, byMu, accuracy: 1e-5 * max(1, abs(byMu)), "\(prior.name) d/dmu")
                XCTAssertEqual(d.dLogVariance, byLV, accuracy: 1e-5 * max(1, abs(byLV)), "\(prior.name) d/dlv")
            }
        }
    }

    /// P = 2 is the Gaussian; the Gaussian's KL is the textbook formula.
    func testGeneralizedGaussianOfPowerTwoIsTheGaussian() {
        for (mu, lv) in points {
            let g = Prior.gaussian.divergence(mean: mu, logVariance: lv)
            let p2 = Prior.generalizedGaussian(power: 2).divergence(mean: mu, logVariance: lv)
            XCTAssertEqual(g.kl, p2.kl, accuracy: 1e-9 * max(1, g.kl))
            XCTAssertEqual(g.kl, -0.5 * (1 + lv - mu * mu - exp(lv)), accuracy: 1e-12 * max(1, g.kl))
        }
    }

    /// A box-like prior charges a rotated code more than an axis-aligned one: for a posterior
    /// at a corner of the unit square rotated by 45 degrees (one latent at sqrt 2, one at 0)
    /// the summed KL is higher than at the corner itself (both at 1), unlike the Gaussian's.
    func testBoxLikePriorIsNotRotationInvariant() {
        func total(_ prior: Prior, _ a: Double, _ b: Double) -> Double {
            prior.divergence(mean: a, logVariance: -4).kl + prior.divergence(mean: b, logVariance: -4).kl
        }
        let gaussian = Prior.gaussian
        XCTAssertEqual(total(gaussian, 1, 1), total(gaussian, 2.0.squareRoot(), 0), accuracy: 1e-9)
        let box = Prior.generalizedGaussian(power: 8)
        XCTAssertGreaterThan(total(box, 2.0.squareRoot(), 0), total(box, 1, 1) + 0.1)
    }

    func testNamesRoundTripAndBadNamesAreRejected() {
        for prior in priors { XCTAssertEqual(Prior(argument: prior.name), prior) }
        XCTAssertEqual(Prior(argument: "gen-gaussian"), .generalizedGaussian(power: 8))
        for bad in ["gen-gaussian:3", "gen-gaussian:0", "gen-gaussian:18", "gen-gaussian:x", "cauchy", ""] {
            XCTAssertNil(Prior(argument: bad), bad)
        }
    }
}
