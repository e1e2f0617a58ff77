import XCTest

@testable import VAECore

/// Ada-GVAE's gradient, averaging included, against central finite differences of the float64
/// reference (`ReferenceModel.averagedPairs`), with the batch of three pairs cut into whole
/// pairs as workers and ranks cut it; and the check shown to fail on a wrong averaging.
final class AdaGVAEGradientTests: XCTestCase {
    private let count = 6
    private let splits = [[0..<6], [0..<2, 2..<6], [0..<2, 2..<4, 4..<6]]

    private struct Setup {
        let layout: NetworkLayout
        let parameters: [Float]
        let input: [Float]
        let noise: [Float]
    }

    /// 20 pixels, hidden 7 and 5, four latents: enough for every pair to share some latents and
    /// not others.
    private func setup() -> Setup {
        var model = ModelConfiguration()
        model.inputSize = 20
        model.hidden = [7, 5]
        model.latentDim = 4
        let layout = NetworkLayout(model)
        var rng = SplitMix64(seed: 42)
        let parameters = layout.initialParameters(seed: 7).map { $0 * 1.5 }
        let input = (0..<(count * model.inputSize)).map { _ in Float(rng.nextUnitDouble()) }
        let noise = (0..<(count * model.latentDim)).map { _ in Float(rng.nextGaussian()) }
        return Setup(layout: layout, parameters: parameters, input: input, noise: noise)
    }

    /// The gradient summed over `pieces` (each on its own network, as the trainer's workers),
    /// and the summed reconstruction and KL.
    private func analytic(_ loss: LossConfiguration, _ s: Setup, step: Int, pieces: [Range<Int>])
        -> (gradient: [Float], reconstruction: Double, kl: Double)
    {
        let model = s.layout.model
        let scale = 1 / Float(count)
        var sum = [Double](repeating: 0, count: s.layout.parameterCount)
        var reconstruction = 0.0, kl = 0.0
        for piece in pieces {
            let network = Autoencoder(layout: s.layout, loss: loss, capacity: piece.count)
            var gradient = [Float](repeating: .nan, count: s.layout.parameterCount)
            s.input.withUnsafeBufferPointer { x in
                s.noise.withUnsafeBufferPointer { e in
                    s.parameters.withUnsafeBufferPointer { p in
                        gradient.withUnsafeMutableBufferPointer { g in
                            let input = x.baseAddress! + piece.lowerBound * model.inputSize
                            reconstruction +=
                                network.forward(
                                    input: input, count: piece.count,
                                    noise: e.baseAddress! + piece.lowerBound * model.latentDim,
                                    parameters: p.baseAddress!, scale: scale
                                ).reconstruction
                            kl +=
                                network.backward(
                                    input: input, count: piece.count, parameters: p.baseAddress!,
                                    gradient: g.baseAddress!, scale: scale,
                                    klWeight: loss.klWeight(atStep: step)
                                ).kl
                        }
                    }
                }
            }
            for k in sum.indices { sum[k] += Double(gradient[k]) }
        }
        return (sum.map { Float($0) }, reconstruction, kl)
    }

    /// The reference's loss of the batch as a function of the parameters.
    private func referenceLoss(_ reference: ReferenceModel, _ s: Setup) -> ([Double]) -> Double {
        let x = s.input.map(Double.init), e = s.noise.map(Double.init)
        return {
            reference.loss(
                parameters: $0, input: x, noise: e, count: self.count, scale: 1 / Double(self.count))
        }
    }

    /// The encoder's head at the setup's parameters, as the reference lays it out.
    private func head(_ loss: LossConfiguration, _ s: Setup) -> [Double] {
        let l = s.layout.model.latentDim
        let network = Autoencoder(layout: s.layout, loss: loss, capacity: count)
        let (mean, logVariance) = network.encode(s.input, count: count, parameters: s.parameters)
        var rows: [Double] = []
        for n in 0..<count {
            let row: [Float] =
                Array(mean[(n * l)..<((n + 1) * l)]) + Array(logVariance![(n * l)..<((n + 1) * l)])
            rows += row.map(Double.init)
        }
        return rows
    }

    private func check(
        _ loss: LossConfiguration, step: Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        let s = setup()
        let l = s.layout.model.latentDim
        // The check differences the loss: no step of it may move a latent across a threshold.
        let (shared, margin) = ReferenceModel.sharedLatents(head: head(loss, s), count: count, latentDim: l)
        XCTAssertGreaterThan(margin, 1e-3, "a latent's KL sits at its threshold", file: file, line: line)
        for (p, pair) in shared.enumerated() {
            XCTAssertTrue(
                pair.contains(true) && pair.contains(false), "pair \(p) shares \(pair)", file: file,
                line: line)
        }
        var reference = ReferenceModel(layout: s.layout, loss: loss)
        reference.klWeight = loss.klWeight(atStep: step)
        let f = referenceLoss(reference, s)
        let p = s.parameters.map(Double.init)
        let label = "ada-gvae \(loss.prior.name) at step \(step)"
        var whole: [Float]?
        for pieces in splits {
            let result = analytic(loss, s, step: step, pieces: pieces)
            let value = loss.objectiveValue(
                reconstruction: result.reconstruction / Double(count), kl: result.kl / Double(count),
                totalCorrelation: 0, atStep: step)
            XCTAssertEqual(value, f(p), accuracy: 1e-4 * abs(f(p)), "\(label): loss", file: file, line: line)
            GradientTests.assertMatchesFiniteDifferences(
                result.gradient, layout: s.layout, parameters: p, f, label: "\(label), pieces \(pieces)",
                file: file, line: line)
            // Whole pairs on every piece: the pieces' sum differs from the whole batch's by
            // rounding alone.
            if let whole {
                let worst = zip(whole, result.gradient).map { abs($0 - $1) }.max() ?? .infinity
                let largest = whole.map { abs($0) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * largest, "\(label): pieces \(pieces)", file: file, line: line)
            } else {
                whole = result.gradient
            }
        }
    }

    private func adaGVAE(prior: Prior, beta: Float = 0.7, warmup: Int = 0) -> LossConfiguration {
        var loss = LossConfiguration()
        loss.objective = .adaGVAE
        loss.prior = prior
        loss.beta = beta
        loss.betaWarmupSteps = warmup
        return loss
    }

    func testGaussianPriorGradientsMatchFiniteDifferences() {
        check(adaGVAE(prior: .gaussian), step: 0)
    }

    /// The averaged posterior is Gaussian, so the closed-form KL of any prior applies to it.
    func testGeneralizedGaussianAndLaplacePriorGradientsMatchFiniteDifferences() {
        check(adaGVAE(prior: .generalizedGaussian(power: 8)), step: 0)
        check(adaGVAE(prior: .laplace, beta: 2), step: 0)
    }

    /// Warm-up at step 3 of 12 weights the KL by beta / 4.
    func testWarmUpGradientsMatchFiniteDifferences() {
        check(adaGVAE(prior: .generalizedGaussian(power: 8), beta: 4, warmup: 12), step: 3)
    }

    /// The check catches a wrong averaging: against a reference that averages the
    /// log-variances instead of the variances, or does not average at all, the same analytic
    /// gradient misses the finite differences by far more than the 1e-3 it is held to.
    func testWrongAveragingFailsTheCheck() {
        let s = setup()
        let loss = adaGVAE(prior: .gaussian)
        let gradient = analytic(loss, s, step: 0, pieces: [0..<count]).gradient
        let p = s.parameters.map(Double.init)
        var logMean = ReferenceModel(layout: s.layout, loss: loss)
        logMean.averageLogVariance = { ($0 + $1) / 2 }
        var plain = loss
        plain.objective = .elbo
        let wrong = [
            ("log-variances averaged", logMean),
            ("no averaging", ReferenceModel(layout: s.layout, loss: plain)),
        ]
        for (name, reference) in wrong {
            let errors = GradientTests.finiteDifferenceErrors(
                gradient, layout: s.layout, parameters: p, referenceLoss(reference, s))
            let worst = errors.map { $0.errorNorm / max($0.norm, 1e-12) }.max() ?? 0
            XCTAssertGreaterThan(worst, 1e-2, name)
        }
        // And the right reference passes at this very point.
        let right = GradientTests.finiteDifferenceErrors(
            gradient, layout: s.layout, parameters: p,
            referenceLoss(ReferenceModel(layout: s.layout, loss: loss), s))
        XCTAssertLessThan(right.map { $0.errorNorm / max($0.norm, 1e-12) }.max() ?? .infinity, 1e-3)
    }
}
