import XCTest

@testable import VAECore

/// The capacity and beta-TCVAE objectives' gradients against central finite differences of the
/// float64 reference's loss of the whole batch (beta-TCVAE couples the rows, so each parameter's
/// derivative is that of the batch's loss, not a sum of per-sample ones).
///
/// The analytic side runs as the trainer does: the batch cut into pieces, each on its own network
/// (as workers and ranks hold them), the coupling terms computed from every piece's forward pass
/// (the summed KL; the gathered (mu | lv | z) rows), then each piece's backward pass; the pieces'
/// gradients summed must be the whole batch's.
final class ObjectiveGradientTests: XCTestCase {
    private let count = 5
    private let datasetSize = 1000

    /// The summed gradient and the loss terms over `pieces` of the batch.
    private func analytic(
        _ loss: LossConfiguration, layout: NetworkLayout, step: Int, pieces: [Range<Int>],
        parameters: [Float], input: [Float], noise: [Float]
    ) -> (gradient: [Float], reconstruction: Double, kl: Double, tc: Double) {
        let model = layout.model
        let (l, width) = (model.latentDim, 3 * model.latentDim)
        let scale = 1 / Float(count)
        let networks = pieces.map { Autoencoder(layout: layout, loss: loss, capacity: $0.count) }
        var statistics = [Float](repeating: .nan, count: count * width)
        var reconstruction = 0.0, kl = 0.0, forwardKL = 0.0, tc = Double.nan
        var sum = [Double](repeating: 0, count: layout.parameterCount)
        input.withUnsafeBufferPointer { x in
            noise.withUnsafeBufferPointer { e in
                parameters.withUnsafeBufferPointer { p in
                    for (piece, network) in zip(pieces, networks) {
                        reconstruction +=
                            network.forward(
                                input: x.baseAddress! + piece.lowerBound * model.inputSize, count: piece.count,
                                noise: e.baseAddress! + piece.lowerBound * l, parameters: p.baseAddress!,
                                scale: scale
                            ).reconstruction
                        forwardKL += network.summedKL(count: piece.count)
                        statistics.withUnsafeMutableBufferPointer {
                            network.latentStatistics(
                                count: piece.count, into: $0.baseAddress! + piece.lowerBound * width)
                        }
                    }
                    var klWeight = loss.klWeight(atStep: step)
                    if loss.objective == .capacity {
                        klWeight = loss.capacityWeight(meanKL: forwardKL / Double(count), atStep: step)
                    }
                    for (piece, network) in zip(pieces, networks) {
                        var terms: [Float]? = nil
                        if loss.objective == .betaTCVAE {
                            // Every worker evaluates the whole batch itself: all get the same bits.
                            let estimator = TotalCorrelation(
                                batchSize: count, latentDim: l, datasetSize: datasetSize)
                            let value = statistics.withUnsafeBufferPointer { estimator.evaluate($0.baseAddress!) }
                            if !tc.isNaN { XCTAssertEqual(value.bitPattern, tc.bitPattern, "pieces' TC") }
                            tc = value
                            var rows = [Float](repeating: .nan, count: piece.count * width)
                            rows.withUnsafeMutableBufferPointer {
                                estimator.gradient(
                                    rows: piece, scale: loss.totalCorrelationWeight(atStep: step),
                                    into: $0.baseAddress!)
                            }
                            terms = rows
                        }
                        var gradient = [Float](repeating: .nan, count: layout.parameterCount)
                        let backward = gradient.withUnsafeMutableBufferPointer { g in
                            terms.withUnsafeBufferPointerIfPresent { t in
                                network.backward(
                                    input: x.baseAddress! + piece.lowerBound * model.inputSize,
                                    count: piece.count, parameters: p.baseAddress!, gradient: g.baseAddress!,
                                    scale: scale, klWeight: klWeight, latentTerms: t)
                            }
                        }
                        kl += backward.kl
                        for k in 0..<gradient.count { sum[k] += Double(gradient[k]) }
                    }
                }
            }
        }
        XCTAssertEqual(forwardKL, kl, accuracy: 1e-9 * abs(kl), "the KL before and in the backward pass")
        return (sum.map { Float($0) }, reconstruction, kl, tc)
    }

    /// `loss` at optimiser step `step` against the reference configured with the weights the
    /// test works out by hand (`reference`), for each way of cutting the batch in `splits`.
    private func check(
        _ loss: LossConfiguration, step: Int, splits: [[Range<Int>]],
        reference configure: (inout ReferenceModel) -> Void,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var model = ModelConfiguration()
        model.inputSize = 20
        model.hidden = [7, 5]
        model.latentDim = 2
        let layout = NetworkLayout(model)
        var rng = SplitMix64(seed: 42)
        let parameters = layout.initialParameters(seed: 7).map { $0 * 1.5 }
        let input = (0..<(count * model.inputSize)).map { _ in Float(rng.nextUnitDouble()) }
        let noise = (0..<(count * model.latentDim)).map { _ in Float(rng.nextGaussian()) }

        var reference = ReferenceModel(layout: layout, loss: loss)
        configure(&reference)
        let x = input.map(Double.init), e = noise.map(Double.init)
        func f(_ p: [Double]) -> Double {
            reference.loss(parameters: p, input: x, noise: e, count: count, scale: 1 / Double(count))
        }
        let p = parameters.map(Double.init)
        let label = "\(loss.objective.rawValue) at step \(step)"
        var whole: [Float]?
        for pieces in splits {
            let result = analytic(
                loss, layout: layout, step: step, pieces: pieces, parameters: parameters, input: input,
                noise: noise)
            let value = loss.objectiveValue(
                reconstruction: result.reconstruction / Double(count), kl: result.kl / Double(count),
                totalCorrelation: result.tc, atStep: step)
            XCTAssertEqual(value, f(p), accuracy: 1e-4 * abs(f(p)), "\(label): loss", file: file, line: line)
            GradientTests.assertMatchesFiniteDifferences(
                result.gradient, layout: layout, parameters: p, f, label: "\(label), pieces \(pieces)",
                file: file, line: line)
            // A split adds the pieces in another order: float rounding, no more.
            if let whole {
                let worst = zip(whole, result.gradient).map { abs($0 - $1) }.max() ?? .infinity
                let largest = whole.map { abs($0) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * largest, "\(label): pieces \(pieces)", file: file, line: line)
            } else {
                whole = result.gradient
            }
        }
    }

    private let splits = [[0..<5], [0..<2, 2..<5], [0..<1, 1..<3, 3..<4, 4..<5]]

    /// gamma |KL - C| with KL above C (the KL pushed down) and below it (pushed up).
    func testCapacityGradientsMatchFiniteDifferences() {
        var loss = LossConfiguration()
        loss.objective = .capacity
        loss.gamma = 3
        loss.capacity = 0
        check(loss, step: 7, splits: splits) { $0.capacity = (weight: 3, target: 0) }
        loss.capacity = 500
        loss.capacitySteps = 100
        // C = 500 x 7 / 100 = 35 nats, above this small model's KL.
        check(loss, step: 7, splits: splits) { $0.capacity = (weight: 3, target: 35) }
    }

    /// Warm-up scales gamma: at step 4 of 10, 0.4 gamma.
    func testCapacityWarmUpGradientsMatchFiniteDifferences() {
        var loss = LossConfiguration()
        loss.objective = .capacity
        loss.gamma = 2.5
        loss.capacity = 0.5
        loss.capacitySteps = 0
        loss.betaWarmupSteps = 10
        check(loss, step: 4, splits: [[0..<5]]) { $0.capacity = (weight: 1, target: 0.5) }
    }

    /// KL + (beta - 1) TC, with the batch split across networks as ranks and threads split it.
    func testBetaTCVAEGradientsMatchFiniteDifferences() {
        var loss = LossConfiguration()
        loss.objective = .betaTCVAE
        loss.beta = 6
        check(loss, step: 0, splits: splits) {
            $0.klWeight = 1
            $0.totalCorrelation = (weight: 5, datasetSize: self.datasetSize)
        }
    }

    /// With a generalised Gaussian prior the KL (and so the dimension-wise KL) is against it;
    /// the TC term is the same. Warm-up at step 3 of 12 scales both by 1/4.
    func testBetaTCVAEWithPriorAndWarmUpGradientsMatchFiniteDifferences() {
        var loss = LossConfiguration()
        loss.objective = .betaTCVAE
        loss.beta = 4
        loss.prior = .generalizedGaussian(power: 8)
        loss.betaWarmupSteps = 12
        check(loss, step: 3, splits: [[0..<5], [0..<3, 3..<5]]) {
            $0.klWeight = 0.25
            $0.totalCorrelation = (weight: 0.75, datasetSize: self.datasetSize)
        }
    }

    /// Identical posteriors make q(z) factorise: the estimate is its constant (K - 1) log N, and
    /// the gradient is 0 (every w = P - Q vanishes). With z 40 sigma from the means every density
    /// underflows a float64 (exp(-800) per latent): only the logsumexps carry it.
    func testIdenticalRowsHaveOnlyTheConstantAndNoGradient() {
        for logVariance: Float in [0.3, -60] {
            let (m, k) = (6, 3)
            let z = 40 * exp(logVariance / 2)
            let row: [Float] = [0, 0, 0, logVariance, logVariance, logVariance, z, z, z]
            let statistics = Array((0..<m).map { _ in row }.joined())
            let estimator = TotalCorrelation(batchSize: m, latentDim: k, datasetSize: 500)
            let tc = statistics.withUnsafeBufferPointer { estimator.evaluate($0.baseAddress!) }
            XCTAssertEqual(tc, 2 * log(500), accuracy: 1e-9, "lv \(logVariance)")
            var gradient = [Float](repeating: .nan, count: m * 3 * k)
            gradient.withUnsafeMutableBufferPointer {
                estimator.gradient(rows: 0..<m, scale: 1, into: $0.baseAddress!)
            }
            XCTAssertLessThan(gradient.map { abs($0) }.max() ?? .infinity, 1e-12, "lv \(logVariance)")
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// The array's pointer, or nil for nil.
    fileprivate func withUnsafeBufferPointerIfPresent<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let array): return array.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
