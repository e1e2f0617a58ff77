import Foundation
import VAECore

/// A trained model ready for inference: the checkpoint's network and parameters.
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
        autoencoder.encode(pixels, count: count, parameters: checkpoint.parameters)
    }

    /// Pixel probabilities [count, pixels] of latent codes [count, latent].
    public func decode(_ latents: [Float], count: Int) -> [Float] {
        autoencoder.decode(latents, count: count, parameters: checkpoint.parameters)
    }

    /// Mean loss terms per image with z = mean (the training's reconstruction loss and KL).
    public func evaluate(_ pixels: [Float], count: Int) -> LossSums {
        autoencoder.evaluate(pixels, count: count, parameters: checkpoint.parameters)
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
        /// Bins per variable for MIG.
        public var bins: Int = MutualInformation.defaultBins

        public init() {}
    }

    /// The data seed the analysis uses unless told otherwise: the training's data seed + 1
    /// (wrapping). Training draws every image from its one data seed, so any other seed gives
    /// circles it never saw.
    public static func defaultSeed(for configuration: TrainingConfiguration) -> UInt64 {
        configuration.images.seed &+ 1
    }

    public let model: LatentModel
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
    public let finding: Finding

    /// Renders `settings.samples` circles, encodes and decodes them and measures the latents.
    /// - Parameter progress: called with a short phase description before each slow phase.
    public init(
        model: LatentModel, settings: Settings = Settings(),
        progress: (String) -> Void = { _ in }
    ) {
        precondition(settings.samples >= 2, "need at least two samples")
        self.model = model
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
            bins: settings.bins)
        finding = Finding(metrics)
    }

    public var sampleCount: Int { circles.count }
    public var latentDim: Int { model.latentDim }

    /// Latent value j of every sample.
    public func latent(_ j: Int) -> [Double] {
        let l = latentDim
        return (0..<sampleCount).map { Double(means[$0 * l + j]) }
    }
}
