import Foundation

/// Summed loss terms over the samples of one forward pass (not yet divided by any batch size).
public struct LossSums: Hashable, Sendable {
    /// Reconstruction loss summed over samples (and pixels).
    public var reconstruction: Double = 0
    /// KL(q(z|x) || p(z)) summed over samples, before the beta weight (0 for the AE).
    public var kl: Double = 0

    public init(reconstruction: Double = 0, kl: Double = 0) {
        self.reconstruction = reconstruction
        self.kl = kl
    }
}

/// What the backward pass finds besides the gradient it writes.
public struct BackwardSums: Hashable, Sendable {
    /// KL(q(z|x) || p(z)) summed over samples, before the beta weight (0 for the AE).
    public var kl: Double
    /// A bound on every |g| of the gradient written: +infinity when an element may be
    /// infinite or NaN. It lets the trainer rule out a non-finite sum of the workers'
    /// gradients before summing them.
    ///
    /// Per layer, |dW| <= count max|x| max|delta| and |db| <= count max|delta|: the maxima of
    /// the small activation and delta matrices, which are in cache around the product, cost
    /// far less than reading the gradient itself again.
    public var gradientBound: Double
}

/// Forward and hand-written backward passes of an MLP (V)AE over batches of up to `capacity`
/// samples, into buffers allocated once: a training step allocates nothing.
///
/// Shapes are row-major [samples, features]. Every dense product and bias gradient goes through
/// `GEMM`; the element-wise work is in `Kernels`.
public final class Autoencoder {
    public let layout: NetworkLayout
    public let loss: LossConfiguration
    public let capacity: Int

    /// Post-activation output of each encoder layer; the last is the head (mean | log-variance).
    private let encoderOutputs: [UnsafeMutablePointer<Float>]
    /// Post-activation output of each decoder layer; the last is the logits.
    private let decoderOutputs: [UnsafeMutablePointer<Float>]
    /// z [capacity, latent], the noise it was drawn with, and sigma = exp(logvar / 2).
    private let latent: UnsafeMutablePointer<Float>
    private let noise: UnsafeMutablePointer<Float>
    private let sigma: UnsafeMutablePointer<Float>
    /// Gradients flowing backwards: two [capacity, maxWidth] ping-pong buffers, dL/dz, dL/dhead.
    private let deltaA: UnsafeMutablePointer<Float>
    private let deltaB: UnsafeMutablePointer<Float>
    private let latentGradient: UnsafeMutablePointer<Float>
    private let headGradient: UnsafeMutablePointer<Float>
    /// A vector of ones: bias gradients are column sums, computed as delta^T * ones.
    private let ones: UnsafeMutablePointer<Float>
    /// The last backward pass's summed KL per latent [latent].
    private let latentKL: UnsafeMutablePointer<Double>
    /// The spatial broadcast decoder's first layer, split into its per-sample part
    /// A = z W_z + b [capacity, width] and its per-pixel part T = (x, y) W_xy [pixels, width],
    /// with their gradients and the pixels' coordinates [pixels, 2] (empty for the MLP).
    private let broadcastLatent: UnsafeMutablePointer<Float>
    private let broadcastTable: UnsafeMutablePointer<Float>
    private let broadcastLatentGradient: UnsafeMutablePointer<Float>
    private let broadcastTableGradient: UnsafeMutablePointer<Float>
    private let coordinates: UnsafeMutablePointer<Float>
    /// Ada-GVAE: which latents each pair of the last `forward` shares [capacity / 2, latent], and
    /// each row's share var / (var_A + var_B) of a shared latent's summed variance
    /// [capacity, latent], for the averaging's backward pass (empty for other objectives).
    private let pairShared: UnsafeMutablePointer<Bool>
    private let pairWeights: UnsafeMutablePointer<Float>
    private var allocations: [UnsafeMutablePointer<Float>] = []

    public init(layout: NetworkLayout, loss: LossConfiguration, capacity: Int) {
        precondition(capacity > 0, "batch capacity must be positive")
        self.layout = layout
        self.loss = loss
        self.capacity = capacity
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = alignedFloats(count)
            allocations.append(p)
            return p
        }
        let latentDim = layout.model.latentDim
        encoderOutputs = layout.encoder.map { buffer(capacity * $0.outputs) }
        decoderOutputs = layout.decoder.map { buffer(capacity * $0.outputs * $0.rowsPerSample) }
        latent = buffer(capacity * latentDim)
        noise = buffer(capacity * latentDim)
        sigma = buffer(capacity * latentDim)
        deltaA = buffer(capacity * layout.maxWidth)
        deltaB = buffer(capacity * layout.maxWidth)
        latentGradient = buffer(capacity * latentDim)
        headGradient = buffer(capacity * layout.model.encoderOutputSize)
        let rowsPerSample = layout.decoder.map(\.rowsPerSample).max() ?? 1
        ones = buffer(capacity * rowsPerSample)
        ones.update(repeating: 1, count: capacity * rowsPerSample)
        let broadcastWidth = layout.broadcasts ? layout.decoder[0].outputs : 0
        let pixels = layout.broadcasts ? layout.model.inputSize : 0
        broadcastLatent = buffer(capacity * broadcastWidth)
        broadcastLatentGradient = buffer(capacity * broadcastWidth)
        broadcastTable = buffer(pixels * broadcastWidth)
        broadcastTableGradient = buffer(pixels * broadcastWidth)
        coordinates = buffer(2 * pixels)
        if layout.broadcasts {
            let side = Int(Double(pixels).squareRoot().rounded())
            let step = side > 1 ? 2 / Float(side - 1) : 0
            for p in 0..<pixels {
                coordinates[2 * p] = -1 + step * Float(p % side)
                coordinates[2 * p + 1] = -1 + step * Float(p / side)
            }
        }
        let pairs = loss.objective == .adaGVAE
        pairWeights = buffer(pairs ? capacity * latentDim : 0)
        pairShared = .allocate(capacity: pairs ? capacity / 2 * latentDim : 0)
        latentKL = .allocate(capacity: latentDim)
        latentKL.initialize(repeating: 0, count: latentDim)
        self.allocations = allocations
    }

    deinit {
        allocations.forEach { free($0) }
        latentKL.deallocate()
        pairShared.deallocate()
    }

    public var model: ModelConfiguration { layout.model }

    // MARK: Forward

    /// Runs the encoder on `count` images [count, inputSize]; the head lands in the last
    /// encoder output.
    private func runEncoder(
        _ input: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>
    ) {
        var x = input
        for (layer, output) in zip(layout.encoder, encoderOutputs) {
            Kernels.dense(layer, input: x, count: count, parameters: parameters, output: output)
            x = UnsafePointer(output)
        }
    }

    /// Runs the decoder on `count` latent codes [count, latent]; logits land in the last output.
    private func runDecoder(
        _ z: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>
    ) {
        var x = z
        for (index, (layer, output)) in zip(layout.decoder, decoderOutputs).enumerated() {
            if index == 0 && layout.broadcasts {
                broadcast(layer, z, count: count, parameters: parameters, output: output)
            } else {
                Kernels.dense(
                    layer, input: x, count: count * layer.rowsPerSample, parameters: parameters,
                    output: output)
            }
            x = UnsafePointer(output)
        }
    }

    /// The spatial broadcast decoder's first layer: relu([z, x, y] W + b) at every (sample,
    /// pixel), computed as relu(A[sample] + T[pixel]) from one product over the samples and one
    /// over the pixels instead of a product over all their pairs.
    private func broadcast(
        _ layer: DenseLayer, _ z: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let l = model.latentDim, width = layer.outputs, pixels = layer.rowsPerSample
        let weights = parameters + layer.weightOffset
        GEMM.multiply(
            z, lda: l, weights, ldb: width, into: broadcastLatent, ldc: width, m: count, n: width,
            k: l)
        GEMM.multiply(
            coordinates, lda: 2, weights + l * width, ldb: width, into: broadcastTable, ldc: width,
            m: pixels, n: width, k: 2)
        let bias = parameters + layer.biasOffset
        for n in 0..<count {
            let a = broadcastLatent + n * width
            for j in 0..<width { a[j] += bias[j] }
            for p in 0..<pixels {
                let y = output + (n * pixels + p) * width
                let t = broadcastTable + p * width
                for j in 0..<width { y[j] = max(a[j] + t[j], 0) }
            }
        }
    }

    /// z from the head: the AE's head is z; the VAE draws z = mean + exp(logvar/2) * noise.
    private func sampleLatent(count: Int, noise source: UnsafePointer<Float>?) {
        let l = model.latentDim
        let head = encoderOutputs[encoderOutputs.count - 1]
        guard model.kind == .vae else {
            latent.update(from: head, count: count * l)
            return
        }
        for n in 0..<count {
            let mean = head + n * 2 * l
            let logVariance = mean + l
            for j in 0..<l {
                let s = expf(0.5 * logVariance[j])
                let e = source?[n * l + j] ?? 0
                sigma[n * l + j] = s
                noise[n * l + j] = e
                latent[n * l + j] = mean[j] + s * e
            }
        }
    }

    // MARK: Training

    /// Forward and backward over `count` images: writes `scale` x the gradient of the summed
    /// loss into `gradient` (every element is overwritten) and returns the summed loss terms.
    ///
    /// - Parameters:
    ///   - input: images [count, inputSize].
    ///   - noise: standard normal draws [count, latent] for the VAE's reparameterisation
    ///     (ignored by the AE).
    ///   - scale: usually 1 / global batch, so that summing gradients over ranks gives the mean.
    public func lossAndGradient(
        input: UnsafePointer<Float>, count: Int,
        noise source: UnsafePointer<Float>?,
        parameters: UnsafePointer<Float>,
        gradient: UnsafeMutablePointer<Float>,
        scale: Float, klWeight: Float? = nil
    ) -> LossSums {
        var sums = forward(
            input: input, count: count, noise: source, parameters: parameters,
            scale: scale)
        sums.kl =
            backward(
                input: input, count: count, parameters: parameters,
                gradient: gradient, scale: scale, klWeight: klWeight
            ).kl
        return sums
    }

    /// The forward pass and the loss: returns the summed reconstruction loss (kl left 0; it is
    /// computed with its gradient in `backward`) and leaves `scale` x dL/dlogits in place for
    /// `backward`. Ada-GVAE: rows 2p and 2p + 1 are a pair, and `averagePairs` runs between the
    /// encoder and the sampling.
    public func forward(
        input: UnsafePointer<Float>, count: Int, noise source: UnsafePointer<Float>?,
        parameters: UnsafePointer<Float>, scale: Float
    ) -> LossSums {
        precondition(count > 0 && count <= capacity, "batch of \(count) exceeds capacity \(capacity)")
        runEncoder(input, count: count, parameters: parameters)
        if loss.objective == .adaGVAE { averagePairs(count: count) }
        sampleLatent(count: count, noise: source)
        runDecoder(latent, count: count, parameters: parameters)
        let logits = decoderOutputs[decoderOutputs.count - 1]
        let reconstruction = Kernels.reconstruction(
            loss.reconstruction, logits: logits, target: input, count: count * model.inputSize,
            gradientScale: scale, gradient: deltaA)
        return LossSums(reconstruction: reconstruction, kl: 0)
    }

    /// The backward pass after `forward` on the same batch: writes `scale` x the gradient of
    /// the summed loss into `gradient` and returns the summed (unweighted) KL and a bound on the
    /// gradient's magnitudes.
    ///
    /// - Parameters:
    ///   - klWeight: weights the KL term (default: the configuration's beta; the trainer passes
    ///     the objective's weight of the step, which may be negative for the capacity objective).
    ///   - latentTerms: the gradient of a further loss term by each row's (mu | lv | z)
    ///     [count, 3 latent], already scaled (beta-TCVAE's total correlation); nil for none.
    public func backward(
        input: UnsafePointer<Float>, count: Int, parameters: UnsafePointer<Float>,
        gradient: UnsafeMutablePointer<Float>, scale: Float, klWeight: Float? = nil,
        latentTerms: UnsafePointer<Float>? = nil
    ) -> BackwardSums {
        var bound = 0.0
        func parameterGradients(
            _ layer: DenseLayer, input: UnsafePointer<Float>, delta: UnsafePointer<Float>, rows: Int
        ) {
            Kernels.parameterGradients(
                layer, input: input, delta: delta, count: rows, ones: ones, gradient: gradient)
            let x = Double(Kernels.largestMagnitude(input, count: rows * layer.inputs))
            let d = Double(Kernels.largestMagnitude(delta, count: rows * layer.outputs))
            // 0 x infinity is NaN, from a gradient that may well be NaN.
            let layerBound = Double(rows) * d * max(x, 1)
            bound = layerBound.isNaN ? .infinity : max(bound, layerBound)
        }
        // Decoder, output layer first; dL/dlogits is in deltaA from `forward`.
        var delta = deltaA
        var spare = deltaB
        for index in stride(from: layout.decoder.count - 1, through: 0, by: -1) {
            let layer = layout.decoder[index]
            let rows = count * layer.rowsPerSample
            if index == 0 && layout.broadcasts {
                broadcastGradients(
                    layer, delta: delta, count: count, parameters: parameters, gradient: gradient)
                // Each weight sums z, a coordinate in [-1, 1] or 1 times delta over all pairs.
                let z = Double(Kernels.largestMagnitude(latent, count: count * model.latentDim))
                let d = Double(Kernels.largestMagnitude(delta, count: rows * layer.outputs))
                let layerBound = Double(rows) * d * max(z, 1)
                bound = layerBound.isNaN ? .infinity : max(bound, layerBound)
                break
            }
            let layerInput = index == 0 ? latent : decoderOutputs[index - 1]
            parameterGradients(layer, input: layerInput, delta: delta, rows: rows)
            let inputGradient = index == 0 ? latentGradient : spare
            Kernels.inputGradient(
                layer, delta: delta, count: rows, parameters: parameters,
                output: inputGradient)
            if index > 0 {
                Kernels.reluMask(
                    inputGradient, activation: layerInput,
                    count: rows * layer.inputs)
                swap(&delta, &spare)
            }
        }

        if let latentTerms { addLatentGradient(latentTerms, count: count) }
        let kl = headGradientFromLatent(count: count, scale: scale, klWeight: klWeight ?? loss.beta)
        if let latentTerms { addHeadGradient(latentTerms, count: count) }
        if loss.objective == .adaGVAE { averagePairsBackward(count: count) }

        // Encoder, head first.
        delta = headGradient
        spare = deltaA
        var other = deltaB
        for index in stride(from: layout.encoder.count - 1, through: 0, by: -1) {
            let layer = layout.encoder[index]
            let layerInput = index == 0 ? input : UnsafePointer(encoderOutputs[index - 1])
            parameterGradients(layer, input: layerInput, delta: delta, rows: count)
            if index > 0 {
                Kernels.inputGradient(
                    layer, delta: delta, count: count, parameters: parameters,
                    output: spare)
                Kernels.reluMask(spare, activation: layerInput, count: count * layer.inputs)
                delta = spare
                swap(&spare, &other)
            }
        }
        return BackwardSums(kl: kl, gradientBound: bound)
    }

    /// The broadcast layer's gradients from dL/d(pre-activation) `delta` [count x pixels, width]:
    /// dA = the sum of delta over pixels, dT = its sum over samples; then dW_z = z^T dA,
    /// dW_xy = (x, y)^T dT, db = 1^T dA, and dL/dz = dA W_z^T into `latentGradient`.
    private func broadcastGradients(
        _ layer: DenseLayer, delta: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>
    ) {
        let l = model.latentDim, width = layer.outputs, pixels = layer.rowsPerSample
        for n in 0..<count {
            GEMM.multiply(
                ones, lda: pixels, delta + n * pixels * width, ldb: width,
                into: broadcastLatentGradient + n * width, ldc: width, m: 1, n: width, k: pixels)
        }
        GEMM.multiply(
            ones, lda: count, delta, ldb: pixels * width, into: broadcastTableGradient,
            ldc: pixels * width, m: 1, n: pixels * width, k: count)
        GEMM.multiply(
            latent, lda: l, broadcastLatentGradient, ldb: width, into: gradient + layer.weightOffset,
            ldc: width, m: l, n: width, k: count, transposingA: true)
        GEMM.multiply(
            coordinates, lda: 2, broadcastTableGradient, ldb: width,
            into: gradient + layer.weightOffset + l * width, ldc: width, m: 2, n: width, k: pixels,
            transposingA: true)
        GEMM.multiply(
            ones, lda: count, broadcastLatentGradient, ldb: width, into: gradient + layer.biasOffset,
            ldc: width, m: 1, n: width, k: count)
        GEMM.multiply(
            broadcastLatentGradient, lda: width, parameters + layer.weightOffset, ldb: width,
            into: latentGradient, ldc: l, m: count, n: l, k: width, transposingB: true)
    }

    /// dL/dhead from dL/dz and the KL term weighted by `klWeight`; returns the summed
    /// (unweighted) KL and leaves its part per latent in `klPerLatent`.
    ///
    /// z = mu + sigma e, sigma = exp(lv / 2): dz/dmu = 1, dz/dlv = e sigma / 2.
    private func headGradientFromLatent(count: Int, scale: Float, klWeight: Float) -> Double {
        let l = model.latentDim
        latentKL.update(repeating: 0, count: l)
        guard model.kind == .vae else {
            headGradient.update(from: latentGradient, count: count * l)
            return 0
        }
        let head = encoderOutputs[encoderOutputs.count - 1]
        let klScale = klWeight * scale
        var kl = 0.0
        for n in 0..<count {
            let mean = head + n * 2 * l
            let logVariance = mean + l
            let gMean = headGradient + n * 2 * l
            let gLogVariance = gMean + l
            var rowKL: Float = 0
            for j in 0..<l {
                let dz = latentGradient[n * l + j]
                let dLVFromZ = dz * noise[n * l + j] * 0.5 * sigma[n * l + j]
                let (term, dKLdMu, dKLdLV) = klTerm(
                    mean: mean[j], logVariance: logVariance[j], sigma: sigma[n * l + j])
                rowKL += term
                latentKL[j] += Double(term)
                gMean[j] = dz + klScale * dKLdMu
                gLogVariance[j] = dLVFromZ + klScale * dKLdLV
            }
            kl += Double(rowKL)
        }
        return kl
    }

    /// One latent's KL and its derivatives by mu and lv, from the prior (`Prior.divergence`),
    /// except for two Float special cases:
    /// Standard Gaussian KL = -1/2 (1 + lv - mu^2 - exp(lv)): d/dmu = mu, d/dlv = (exp(lv) - 1) / 2.
    /// Seed KL = -1/2 (1 + lv - mu^2 - 10 exp(10 lv)): d/dlv = (100 exp(10 lv) - 1) / 2.
    @inline(__always)
    private func klTerm(mean mu: Float, logVariance lv: Float, sigma: Float)
        -> (kl: Float, dMean: Float, dLogVariance: Float)
    {
        switch (loss.prior, loss.kl) {
        case (.gaussian, .standard):
            let v = sigma * sigma
            return (-0.5 * (1 + lv - mu * mu - v), mu, 0.5 * (v - 1))
        case (_, .seed):
            let e10 = expf(10 * lv)
            return (-0.5 * (1 + lv - mu * mu - 10 * e10), mu, 0.5 * (100 * e10 - 1))
        default:
            let d = loss.prior.divergence(mean: Double(mu), logVariance: Double(lv))
            return (Float(d.kl), Float(d.dMean), Float(d.dLogVariance))
        }
    }

    /// The summed KL over the samples of the last `forward` (per sample summed over latents, in
    /// the order `backward` sums it): what the capacity objective compares with its target
    /// before the backward pass.
    public func summedKL(count: Int) -> Double {
        guard model.kind == .vae else { return 0 }
        let l = model.latentDim
        let head = encoderOutputs[encoderOutputs.count - 1]
        var kl = 0.0
        for n in 0..<count {
            var rowKL: Float = 0
            for j in 0..<l {
                rowKL += klTerm(
                    mean: head[n * 2 * l + j], logVariance: head[n * 2 * l + l + j], sigma: sigma[n * l + j]
                ).kl
            }
            kl += Double(rowKL)
        }
        return kl
    }

    /// Copies the last `forward`'s (mu | lv | z) of each of its `count` samples into `output`
    /// [count, 3 latent] (the VAE only): the rows beta-TCVAE gathers over the global batch.
    public func latentStatistics(count: Int, into output: UnsafeMutablePointer<Float>) {
        precondition(model.kind == .vae, "latent statistics need a VAE")
        let l = model.latentDim
        let head = encoderOutputs[encoderOutputs.count - 1]
        for n in 0..<count {
            (output + n * 3 * l).update(from: head + n * 2 * l, count: 2 * l)
            (output + n * 3 * l + 2 * l).update(from: latent + n * l, count: l)
        }
    }

    /// Ada-GVAE's step between encoder and sampling, on each pair of rows (A, B) = (2p, 2p + 1)
    /// of the head in place: per latent j, delta_j = KL(N(mu_Aj, v_Aj) || N(mu_Bj, v_Bj)) =
    /// 1/2 (lv_B - lv_A + (v_A + (mu_A - mu_B)^2) / v_B - 1); the latents with delta_j below
    /// tau = (max_j delta + min_j delta) / 2 count as shared (the pair differs in few factors,
    /// so most latents should barely move) and both rows take the average posterior
    /// mu = (mu_A + mu_B) / 2, v = (v_A + v_B) / 2, so lv = log((v_A + v_B) / 2). The rest, and
    /// every latent of a pair whose deltas are all equal, keep their own. The selection is
    /// piecewise constant: the gradient flows through the averages only (`averagePairsBackward`).
    private func averagePairs(count: Int) {
        precondition(count % 2 == 0 && model.kind == .vae, "Ada-GVAE needs whole pairs and a VAE")
        let l = model.latentDim
        let head = encoderOutputs[encoderOutputs.count - 1]
        for p in 0..<(count / 2) {
            let a = head + 2 * p * 2 * l, b = a + 2 * l
            var (smallest, largest) = (Double.infinity, -Double.infinity)
            for j in 0..<l {
                let delta = Self.pairDivergence(a[j], a[l + j], b[j], b[l + j])
                (smallest, largest) = (min(smallest, delta), max(largest, delta))
            }
            let threshold = (smallest + largest) / 2
            for j in 0..<l {
                let shared = Self.pairDivergence(a[j], a[l + j], b[j], b[l + j]) < threshold
                pairShared[p * l + j] = shared
                guard shared else { continue }
                let (lvA, lvB) = (Double(a[l + j]), Double(b[l + j]))
                // log((v_A + v_B) / 2) from the larger log-variance, so no exp overflows.
                let top = max(lvA, lvB)
                let (eA, eB) = (exp(lvA - top), exp(lvB - top))
                let logVariance = Float(top + log((eA + eB) / 2))
                let mean = (a[j] + b[j]) / 2
                pairWeights[2 * p * l + j] = Float(eA / (eA + eB))
                pairWeights[(2 * p + 1) * l + j] = Float(eB / (eA + eB))
                (a[j], b[j]) = (mean, mean)
                (a[l + j], b[l + j]) = (logVariance, logVariance)
            }
        }
    }

    /// KL(N(muA, exp(lvA)) || N(muB, exp(lvB))) of one latent, in double precision so that the
    /// threshold compares the same numbers however the batch is split.
    @inline(__always)
    static func pairDivergence(_ muA: Float, _ lvA: Float, _ muB: Float, _ lvB: Float) -> Double {
        let d = Double(muA) - Double(muB)
        let (lvA, lvB) = (Double(lvA), Double(lvB))
        return 0.5 * (lvB - lvA + exp(lvA - lvB) + d * d * exp(-lvB) - 1)
    }

    /// The averaging's backward pass on dL/d(head): for a shared latent both rows' mu and lv
    /// are one function of the pair's, so dL/dmu_A = dL/dmu_B = (g_mu,A + g_mu,B) / 2 and
    /// dL/dlv_A = (g_lv,A + g_lv,B) v_A / (v_A + v_B) (B likewise), since
    /// d log((v_A + v_B) / 2) / d lv_A = v_A / (v_A + v_B).
    private func averagePairsBackward(count: Int) {
        let l = model.latentDim
        for p in 0..<(count / 2) {
            let a = headGradient + 2 * p * 2 * l, b = a + 2 * l
            for j in 0..<l where pairShared[p * l + j] {
                let mean = (a[j] + b[j]) / 2
                let logVariance = a[l + j] + b[l + j]
                (a[j], b[j]) = (mean, mean)
                a[l + j] = logVariance * pairWeights[2 * p * l + j]
                b[l + j] = logVariance * pairWeights[(2 * p + 1) * l + j]
            }
        }
    }

    /// dL/dz += the z part of `terms` [count, 3 latent].
    private func addLatentGradient(_ terms: UnsafePointer<Float>, count: Int) {
        let l = model.latentDim
        for n in 0..<count {
            for j in 0..<l { latentGradient[n * l + j] += terms[n * 3 * l + 2 * l + j] }
        }
    }

    /// dL/d(mu | lv) += the (mu | lv) part of `terms` [count, 3 latent].
    private func addHeadGradient(_ terms: UnsafePointer<Float>, count: Int) {
        let l = model.latentDim
        for n in 0..<count {
            for j in 0..<(2 * l) { headGradient[n * 2 * l + j] += terms[n * 3 * l + j] }
        }
    }

    /// The summed (unweighted) KL of each latent over the samples of the last `backward`.
    public var klPerLatent: UnsafeBufferPointer<Double> {
        UnsafeBufferPointer(start: latentKL, count: model.latentDim)
    }

    // MARK: Inference

    /// The encoder's output for `count` images [count, inputSize], in chunks of `capacity`:
    /// the latent means [count, latent], and for the VAE the log-variances [count, latent].
    public func encode(_ images: [Float], count: Int, parameters: [Float])
        -> (mean: [Float], logVariance: [Float]?)
    {
        precondition(images.count == count * model.inputSize)
        let l = model.latentDim
        var mean = [Float](repeating: 0, count: count * l)
        var logVariance: [Float]? = model.kind == .vae ? mean : nil
        images.withUnsafeBufferPointer { x in
            parameters.withUnsafeBufferPointer { p in
                for start in stride(from: 0, to: count, by: capacity) {
                    let n = min(capacity, count - start)
                    runEncoder(
                        x.baseAddress! + start * model.inputSize, count: n,
                        parameters: p.baseAddress!)
                    let head = encoderOutputs[encoderOutputs.count - 1]
                    let width = model.encoderOutputSize
                    for i in 0..<n {
                        for j in 0..<l {
                            mean[(start + i) * l + j] = head[i * width + j]
                            logVariance?[(start + i) * l + j] = head[i * width + l + j]
                        }
                    }
                }
            }
        }
        return (mean, logVariance)
    }

    /// The decoder's pixel probabilities sigmoid(logits) [count, inputSize] for latent codes
    /// [count, latent], in chunks of `capacity`.
    public func decode(_ latents: [Float], count: Int, parameters: [Float]) -> [Float] {
        precondition(latents.count == count * model.latentDim)
        var pixels = [Float](repeating: 0, count: count * model.inputSize)
        latents.withUnsafeBufferPointer { z in
            parameters.withUnsafeBufferPointer { p in
                for start in stride(from: 0, to: count, by: capacity) {
                    let n = min(capacity, count - start)
                    runDecoder(
                        z.baseAddress! + start * model.latentDim, count: n,
                        parameters: p.baseAddress!)
                    let logits = decoderOutputs[decoderOutputs.count - 1]
                    for k in 0..<(n * model.inputSize) {
                        pixels[start * model.inputSize + k] = Kernels.sigmoid(logits[k])
                    }
                }
            }
        }
        return pixels
    }

    /// Mean loss terms per image of `images` with the noise set to zero (z = mean).
    public func evaluate(_ images: [Float], count: Int, parameters: [Float]) -> LossSums {
        var sums = LossSums()
        let (mean, logVariance) = encode(images, count: count, parameters: parameters)
        let probabilities = decode(mean, count: count, parameters: parameters)
        for k in 0..<probabilities.count {
            sums.reconstruction += Double(
                Kernels.reconstructionFromProbability(
                    loss.reconstruction,
                    probabilities[k], target: images[k]))
        }
        if let logVariance {
            for k in 0..<mean.count {
                sums.kl += loss.prior.divergence(
                    mean: Double(mean[k]), logVariance: Double(logVariance[k])
                ).kl
            }
        }
        sums.reconstruction /= Double(count)
        sums.kl /= Double(count)
        return sums
    }
}

/// 64-byte aligned storage (AVX-512 lines) for the hot buffers; freed with `free`.
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    var raw: UnsafeMutableRawPointer?
    let status = posix_memalign(&raw, 64, max(1, count) * MemoryLayout<Float>.stride)
    guard status == 0, let raw else { fatalError("out of memory allocating \(count) floats") }
    let p = raw.bindMemory(to: Float.self, capacity: max(1, count))
    p.initialize(repeating: 0, count: count)
    return p
}
