import Foundation
import VAECore

/// A trained model ready for inference: the checkpoint's network and parameters. Each call
/// flushes subnormals as training does (`SubnormalFlush`), with its products on the calling
/// thread alone (OpenMP's threads would not flush), and gives the caller's mode back.
public final class LatentModel {
    public let checkpoint: Checkpoint
    private let autoencoder: Autoencoder

    /// Samples per encoder or decoder pass.
    static let chunk = 256

    public init(checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        autoencoder = Autoencoder(
            layout: checkpoint.layout, loss: checkpoint.configuration.loss,
            capacity: Self.chunk)
    }

    public var configuration: TrainingConfiguration { checkpoint.configuration }
    public var latentDim: Int { configuration.model.latentDim }
    public var isVariational: Bool { configuration.model.kind == .vae }

    /// Latent means [count, latent] and, for the VAE, log-variances of images [count, pixels].
    public func encode(_ pixels: [Float], count: Int) -> (mean: [Float], logVariance: [Float]?) {
        GEMM.onThisThreadAlone { SubnormalFlush.during {
            autoencoder.encode(pixels, count: count, parameters: checkpoint.parameters)
        } }
    }

    /// Pixel probabilities [count, pixels] of latent codes [count, latent].
    public func decode(_ latents: [Float], count: Int) -> [Float] {
        GEMM.onThisThreadAlone { SubnormalFlush.during {
            autoencoder.decode(latents, count: count, parameters: checkpoint.parameters)
        } }
    }

    /// Mean loss terms per image with z = mean (the training's reconstruction loss and KL).
    public func evaluate(_ pixels: [Float], count: Int) -> LossSums {
        GEMM.onThisThreadAlone { SubnormalFlush.during {
            autoencoder.evaluate(pixels, count: count, parameters: checkpoint.parameters)
        } }
    }
}

/// Fresh circles encoded and decoded by a model, and what they show.
public struct LatentAnalysis {
    /// Settings of one analysis.
    public struct Settings: Sendable {
        /// How many circles to encode.
        public var samples: Int = 4000
        /// The images to draw; nil: the checkpoint's image settings with `seed` as data seed.
        public var images: ImageConfiguration?
        /// The data seed; nil: `defaultSeed` (one the training did not use).
        public var seed: UInt64?
        /// Bins per variable for MIG and modularity.
        public var bins: Int = MutualInformation.defaultBins
        /// Batches and votes of the FactorVAE score.
        public var factorVAE = FactorVAEScore.Settings()

        public init() {}
    }

    /// The data seed the analysis uses unless told otherwise: the training's data seed + 1
    /// (wrapping). Training draws every image from its one data seed, so any other seed gives
    /// circles it never saw.
    public static func defaultSeed(for configuration: TrainingConfiguration) -> UInt64 {
        configuration.images.seed &+ 1
    }

    public let model: LatentModel
    /// The settings this analysis ran with.
    public let settings: Settings
    /// The image settings of the analysed circles (count = samples, seed = analysis seed).
    public let images: ImageConfiguration
    public let circles: [Circle]
    /// The input images [samples, pixels].
    public let pixels: [Float]
    /// Latent means [samples, latent] (the AE's code).
    public let means: [Float]
    /// The VAE's log-variances [samples, latent]; nil for the AE.
    public let logVariances: [Float]?
    /// Decoded means [samples, pixels].
    public let reconstructions: [Float]
    /// The model's own reconstruction loss per image with z = mean (BCE or squared error,
    /// summed over pixels, as the checkpoint was trained).
    public let reconstructionLoss: Double
    /// Mean squared error per pixel between input and reconstruction (comparable across losses).
    public let meanSquaredError: Double
    public let metrics: LatentMetrics
    /// The FactorVAE score over the images' factors, on batches drawn apart from `circles`.
    public let factorVAE: FactorVAEScore
    public let finding: Finding

    /// Renders `settings.samples` circles, encodes and decodes them and measures the latents.
    /// - Parameter progress: called with a short phase description before each slow phase.
    public init(
        model: LatentModel, settings: Settings = Settings(),
        progress: (String) -> Void = { _ in }
    ) {
        precondition(settings.samples >= 3, "need at least three samples")
        precondition(
            settings.factorVAE.batchSize >= 2 && settings.factorVAE.trainVotes >= 1
                && settings.factorVAE.evalVotes >= 1, "FactorVAE needs batches of two and a vote each")
        self.model = model
        self.settings = settings
        var images = settings.images ?? model.configuration.images
        images.seed = settings.seed ?? Self.defaultSeed(for: model.configuration)
        images.count = settings.samples
        self.images = images
        let n = settings.samples
        let source = CircleImages(images)
        progress("rendering \(n) circles (seed \(images.seed))")
        circles = (0..<n).map(source.circle(at:))
        var pixels = [Float](repeating: 0, count: n * images.pixelCount)
        pixels.withUnsafeMutableBufferPointer { all in
            for i in 0..<n {
                let row = UnsafeMutableBufferPointer(
                    rebasing: all[(i * images.pixelCount)..<((i + 1) * images.pixelCount)])
                source.render(i, into: row)
            }
        }
        self.pixels = pixels
        progress("encoding and decoding \(n) images")
        (means, logVariances) = model.encode(pixels, count: n)
        reconstructions = model.decode(means, count: n)
        reconstructionLoss = model.evaluate(pixels, count: n).reconstruction
        var squared = 0.0
        for k in 0..<pixels.count {
            let d = Double(pixels[k] - reconstructions[k])
            squared += d * d
        }
        meanSquaredError = squared / Double(pixels.count)
        progress("measuring the latents")
        let l = model.latentDim
        let means = self.means
        let columns = (0..<l).map { j in (0..<n).map { Double(means[$0 * l + j]) } }
        let logVariances = self.logVariances.map { lv in
            (0..<l).map { j in (0..<n).map { Double(lv[$0 * l + j]) } }
        }
        metrics = LatentMetrics(
            latents: columns, logVariances: logVariances,
            factors: CircleFactors(circles: circles, side: images.side),
            matched: images.factors, bins: settings.bins)
        progress("FactorVAE score: \(settings.factorVAE.trainVotes + settings.factorVAE.evalVotes) batches of \(settings.factorVAE.batchSize)")
        factorVAE = Self.factorVAE(
            model: model, images: images, globalVariance: columns.map(FactorVAEScore.variance),
            settings: settings.factorVAE)
        finding = Finding(metrics)
    }

    /// The scalar scores of this analysis (what a study over many runs compares).
    public var scores: DisentanglementScores { DisentanglementScores(metrics: metrics, factorVAE: factorVAE) }

    /// Draws the FactorVAE votes' batches and scores them. Vote v's factor k (one of the K
    /// `images.factors`, evenly at random) and its circles come from their own seeds derived
    /// from the analysis seed: the batch's circles are images v * batchSize ..< (v + 1) *
    /// batchSize of that source, each with factor k set to the first one's value (the image
    /// settings' distribution otherwise).
    static func factorVAE(
        model: LatentModel, images: ImageConfiguration, globalVariance: [Double],
        settings: FactorVAEScore.Settings
    ) -> FactorVAEScore {
        let b = settings.batchSize, l = model.latentDim, pixels = images.pixelCount
        var sourceImages = images
        sourceImages.seed = SplitMix64.hash(images.seed, .image, factorVAEStream)
        let source = CircleImages(sourceImages)
        var rng = SplitMix64(seed: SplitMix64.hash(images.seed, .permutation, factorVAEStream))
        let votes = settings.trainVotes + settings.evalVotes
        let names = images.factors
        // The top bits pick the factor: floor(u K / 2^64), for two factors the top bit.
        let factors = (0..<votes).map { _ in Int(rng.next().multipliedFullWidth(by: UInt64(names.count)).high) }
        // A few batches at a time keep the image buffer small.
        let group = max(1, 1024 / max(1, b))
        var batches: [FactorVAEScore.Batch] = []
        var buffer = [Float](repeating: 0, count: group * b * pixels)
        for start in stride(from: 0, to: votes, by: group) {
            let end = min(votes, start + group)
            buffer.withUnsafeMutableBufferPointer { all in
                for v in start..<end {
                    let first = source.circle(at: v * b)
                    for m in 0..<b {
                        var circle = source.circle(at: v * b + m)
                        switch names[factors[v]] {
                        case .x: circle.x = first.x
                        case .y: circle.y = first.y
                        case .radius: circle.radius = first.radius
                        case .intensity: circle.intensity = first.intensity
                        case .polarRadius, .polarAngle: preconditionFailure("not a factor of the images")
                        }
                        let k = (v - start) * b + m
                        CircleImages.draw(
                            circle, side: images.side, antialias: images.antialias,
                            into: UnsafeMutableBufferPointer(rebasing: all[(k * pixels)..<((k + 1) * pixels)]))
                    }
                }
            }
            let count = (end - start) * b
            let means = model.encode(Array(buffer[0..<(count * pixels)]), count: count).mean
            for v in start..<end {
                let base = (v - start) * b
                batches.append(
                    FactorVAEScore.Batch(
                        factor: factors[v],
                        latents: (0..<l).map { j in (0..<b).map { Double(means[(base + $0) * l + j]) } }))
            }
        }
        return FactorVAEScore(
            globalVariance: globalVariance, factorCount: names.count,
            train: Array(batches[0..<settings.trainVotes]), eval: Array(batches[settings.trainVotes...]),
            pruneThreshold: settings.pruneThreshold)
    }

    /// The counter that keys the FactorVAE score's random streams apart from the images'.
    static let factorVAEStream: UInt64 = 0x4641_4354_4F52_5641

    public var sampleCount: Int { circles.count }
    public var latentDim: Int { model.latentDim }

    /// Latent value j of every sample.
    public func latent(_ j: Int) -> [Double] {
        let l = latentDim
        return (0..<sampleCount).map { Double(means[$0 * l + j]) }
    }
}
