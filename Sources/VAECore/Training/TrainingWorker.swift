import Foundation

/// One worker thread of a trainer: its share of the batch, its block of the parameters (ZeRO
/// stage 1), and the memory its forward and backward passes use.
final class TrainingWorker {
    /// Positions in the global batch this worker computes.
    let share: Range<Int>
    /// The parameters this worker updates.
    let block: Range<Int>
    let network: Autoencoder
    let batch: UnsafeMutablePointer<Float>
    let noise: UnsafeMutablePointer<Float>
    /// Blurs the rendered images (`TrainingConfiguration.blur`).
    let blur: GaussianBlur
    /// beta-TCVAE: the estimator, and the gradient of the TC term by this worker's rows
    /// [share, 3 latent] that its backward pass adds.
    let totalCorrelation: TotalCorrelation?
    let latentTerms: UnsafeMutablePointer<Float>?
    var reconstruction = 0.0
    var kl = 0.0
    /// See `BackwardSums.gradientBound`.
    var gradientBound = 0.0

    init(share: Range<Int>, block: Range<Int>, layout: NetworkLayout, configuration c: TrainingConfiguration)
    {
        self.share = share
        self.block = block
        let capacity = max(1, share.count)
        network = Autoencoder(layout: layout, loss: c.loss, capacity: capacity)
        batch = alignedFloats(capacity * layout.model.inputSize)
        noise = alignedFloats(capacity * layout.model.latentDim)
        blur = GaussianBlur(side: c.images.side, maxSigma: c.blur.sigma)
        let coupled = c.loss.objective == .betaTCVAE
        let l = layout.model.latentDim
        totalCorrelation =
            coupled
            ? TotalCorrelation(batchSize: c.batchSize, latentDim: l, datasetSize: c.images.count) : nil
        latentTerms = coupled ? alignedFloats(capacity * 3 * l) : nil
    }

    deinit {
        free(batch)
        free(noise)
        latentTerms.map { free($0) }
    }

    /// Renders and blurs the share's images of step `step` (batch positions from `batchStart`
    /// in `order`) and draws their noise: image i from (image seed, i), its noise from
    /// (seed, step, i), so nothing depends on how the batch is split. With `pairs`, `order`
    /// orders pairs and batch positions 2p, 2p + 1 hold the two images of the pair at
    /// position p.
    func render(
        _ images: CircleImages, pairs: CirclePairs?, order: UnsafeBufferPointer<Int32>, batchStart: Int,
        step: Int, blurSigma: Double, seed: UInt64
    ) {
        let pixels = images.configuration.pixelCount
        let latentDim = network.model.latentDim
        for (row, slot) in share.enumerated() {
            let destination = UnsafeMutableBufferPointer(start: batch + row * pixels, count: pixels)
            let index: Int
            if let pairs {
                index = 2 * Int(order[(batchStart + slot) / 2]) + slot % 2
                pairs.render(index, into: destination)
            } else {
                index = Int(order[batchStart + slot])
                images.render(index, into: destination)
            }
            blur.apply(sigma: blurSigma, to: batch + row * pixels)
            var rng = SplitMix64(seed: SplitMix64.hash(seed, .noise, UInt64(step), UInt64(index)))
            for j in 0..<latentDim { noise[row * latentDim + j] = Float(rng.nextGaussian()) }
        }
    }

    /// The forward pass of the share; for objectives that couple the batch, leaves what the
    /// other workers need: the share's summed KL (capacity) or its rows of `batchStatistics`
    /// (beta-TCVAE).
    func forward(
        parameters: UnsafeMutablePointer<Float>, scale: Float, objective: LossConfiguration.Objective,
        batchStatistics: UnsafeMutablePointer<Float>?
    ) {
        let count = share.count
        guard count > 0 else {
            (reconstruction, kl) = (0, 0)
            return
        }
        let sums = network.forward(
            input: batch, count: count, noise: noise, parameters: parameters, scale: scale)
        reconstruction = sums.reconstruction
        switch objective {
        case .elbo, .adaGVAE: break
        case .capacity: kl = network.summedKL(count: count)
        case .betaTCVAE:
            if let batchStatistics {
                network.latentStatistics(
                    count: count, into: batchStatistics + share.lowerBound * 3 * network.model.latentDim)
            }
        }
    }

    /// The backward pass into `gradient`, with the KL weighted by `klWeight` and `latentTerms`
    /// (see `Autoencoder.backward`) added.
    func backward(
        parameters: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>, scale: Float,
        klWeight: Float, latentTerms: UnsafePointer<Float>?
    ) {
        let count = share.count
        guard count > 0 else {
            // Nothing to compute (a batch smaller than the workers), but the exchange may have
            // written into this gradient: it must be 0 again.
            gradientBound = 0
            gradient.update(repeating: 0, count: network.layout.parameterCount)
            return
        }
        let sums = network.backward(
            input: batch, count: count, parameters: parameters, gradient: gradient, scale: scale,
            klWeight: klWeight, latentTerms: latentTerms)
        kl = sums.kl
        gradientBound = sums.gradientBound
    }
}
