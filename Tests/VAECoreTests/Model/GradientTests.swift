import XCTest

@testable import VAECore

/// The hand-written backward pass against central finite differences of a float64 reference.
final class GradientTests: XCTestCase {
    /// Small enough to difference every parameter, deep enough to cover every layer kind:
    /// two hidden ReLU layers each side, the (fused) head, the reparameterisation, the output.
    private func check(
        kind: ModelConfiguration.Kind, recon: LossConfiguration.Reconstruction,
        kl: LossConfiguration.KLVariant = .standard, prior: Prior = .gaussian,
        klWeight: Float? = nil, hidden: [Int] = [7, 5],
        decoder: ModelConfiguration.DecoderArchitecture = .mlp, inputSize: Int = 20,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var model = ModelConfiguration()
        model.kind = kind
        model.inputSize = inputSize  // 20: one 16-wide vector and a scalar tail in the loss kernel
        model.hidden = hidden
        model.decoder = decoder
        model.latentDim = 2
        var loss = LossConfiguration()
        loss.reconstruction = recon
        loss.beta = 0.7
        loss.kl = kl
        loss.prior = prior
        let layout = NetworkLayout(model)
        let count = 3
        var rng = SplitMix64(seed: 42)
        // Parameters a bit larger than the default init so every ReLU sees both signs.
        let parameters = layout.initialParameters(seed: 7).map { $0 * 1.5 }
        let input = (0..<(count * model.inputSize)).map { _ in Float(rng.nextUnitDouble()) }
        let noise = (0..<(count * model.latentDim)).map { _ in Float(rng.nextGaussian()) }
        let scale = 1 / Float(count)

        let network = Autoencoder(layout: layout, loss: loss, capacity: count)
        var gradient = [Float](repeating: .nan, count: layout.parameterCount)
        let sums = input.withUnsafeBufferPointer { x in
            noise.withUnsafeBufferPointer { e in
                parameters.withUnsafeBufferPointer { p in
                    gradient.withUnsafeMutableBufferPointer { g in
                        network.lossAndGradient(
                            input: x.baseAddress!, count: count,
                            noise: e.baseAddress!, parameters: p.baseAddress!,
                            gradient: g.baseAddress!, scale: scale, klWeight: klWeight)
                    }
                }
            }
        }

        var reference = ReferenceModel(layout: layout, loss: loss)
        reference.klWeight = klWeight
        let x = input.map(Double.init), e = noise.map(Double.init)
        func f(_ p: [Double]) -> Double {
            reference.loss(parameters: p, input: x, noise: e, count: count, scale: 1 / Double(count))
        }
        let p = parameters.map(Double.init)

        // The forward pass agrees with the reference.
        let floatLoss =
            (sums.reconstruction + (kind == .vae ? Double(klWeight ?? loss.beta) * sums.kl : 0))
            / Double(count)
        XCTAssertEqual(floatLoss, f(p), accuracy: 1e-4 * abs(f(p)), "forward loss", file: file, line: line)

        GradientTests.assertMatchesFiniteDifferences(
            gradient, layout: layout, parameters: p, f,
            label: "\(kind) \(recon) \(kl) \(prior.name) \(decoder.name)",
            file: file, line: line)
    }

    /// Central differences of `f` by every parameter against `gradient`, tensor by tensor.
    static func assertMatchesFiniteDifferences(
        _ gradient: [Float], layout: NetworkLayout, parameters: [Double], _ f: ([Double]) -> Double,
        label: String, file: StaticString, line: UInt
    ) {
        for (tensor, analytic, numeric, errorNorm, norm) in finiteDifferenceErrors(
            gradient, layout: layout, parameters: parameters, f)
        {
            XCTAssertGreaterThan(
                norm, 1e-6, "\(tensor.name): gradient vanished, the check would be vacuous",
                file: file, line: line)
            // Float32 arithmetic against a float64 reference: 1e-3 relative is ~100x float epsilon
            // accumulated over a few hundred operations, and far below any real mistake (O(1)).
            XCTAssertLessThan(
                errorNorm / max(norm, 1e-12), 1e-3,
                "\(label): \(tensor.name) analytic \(analytic.prefix(4)) vs numeric \(numeric.prefix(4))",
                file: file, line: line)
        }
    }

    /// Per tensor: the analytic and the central-difference gradient, the norm of their
    /// difference and the norm of the numeric one.
    static func finiteDifferenceErrors(
        _ gradient: [Float], layout: NetworkLayout, parameters: [Double], _ f: ([Double]) -> Double
    ) -> [(tensor: TensorDescriptor, analytic: [Double], numeric: [Double], errorNorm: Double, norm: Double)]
    {
        var p = parameters
        let h = 1e-6
        return layout.tensors.map { tensor in
            var numeric: [Double] = []
            for k in tensor.offset..<(tensor.offset + tensor.count) {
                let saved = p[k]
                p[k] = saved + h
                let up = f(p)
                p[k] = saved - h
                let down = f(p)
                p[k] = saved
                numeric.append((up - down) / (2 * h))
            }
            let analytic = gradient[tensor.offset..<(tensor.offset + tensor.count)].map(Double.init)
            let errorNorm = zip(analytic, numeric).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            let norm = numeric.map { $0 * $0 }.reduce(0, +).squareRoot()
            return (tensor, analytic, numeric, errorNorm, norm)
        }
    }

    func testVAEWithBCEGradientsMatchFiniteDifferences() { check(kind: .vae, recon: .bce) }
    func testVAEWithMSEGradientsMatchFiniteDifferences() { check(kind: .vae, recon: .mse) }
    func testVAEWithSeedKLGradientsMatchFiniteDifferences() { check(kind: .vae, recon: .mse, kl: .seed) }
    func testLaplacePriorGradientsMatchFiniteDifferences() { check(kind: .vae, recon: .bce, prior: .laplace) }
    func testGeneralizedGaussianPriorGradientsMatchFiniteDifferences() {
        check(kind: .vae, recon: .bce, prior: .generalizedGaussian(power: 8))
        check(kind: .vae, recon: .mse, prior: .generalizedGaussian(power: 4))
    }
    /// Warm-up weights the KL by less than beta: the gradient must follow the weight it is given.
    func testWarmUpWeightGradientsMatchFiniteDifferences() {
        check(kind: .vae, recon: .bce, klWeight: 0.25)
        check(kind: .vae, recon: .bce, prior: .generalizedGaussian(power: 8), klWeight: 0.1)
    }
    func testAEWithBCEGradientsMatchFiniteDifferences() { check(kind: .ae, recon: .bce) }
    func testAEWithMSEGradientsMatchFiniteDifferences() { check(kind: .ae, recon: .mse) }

    /// The spatial broadcast decoder on 5x5 images (25 pixels: a 16-wide vector and a tail):
    /// its split first layer (latents and coordinates), per-pixel layers and one-logit output.
    func testBroadcastDecoderGradientsMatchFiniteDifferences() {
        check(kind: .vae, recon: .bce, decoder: .spatialBroadcast(widths: [6, 4]), inputSize: 25)
        check(
            kind: .vae, recon: .bce, prior: .generalizedGaussian(power: 8),
            decoder: .spatialBroadcast(widths: [5]), inputSize: 25)
        check(kind: .ae, recon: .mse, decoder: .spatialBroadcast(widths: [6, 4]), inputSize: 25)
    }

    /// No hidden layers: encoder and decoder are single dense layers (no ReLU on either path).
    func testShallowModelGradientsMatchFiniteDifferences() {
        check(kind: .vae, recon: .bce, hidden: [])
        check(kind: .ae, recon: .mse, hidden: [])
    }
}
