/// Everything that defines a training run: the images, the model, the objective, the optimiser
/// and the schedule. Two processes with equal `TrainingConfiguration`s train the same model.

/// How the circle images are drawn.
public struct ImageConfiguration: Hashable, Codable, Sendable {
    /// Where circle centres come from.
    public enum CentreDistribution: Hashable, Codable, Sendable {
        /// Uniform over the centres that keep the whole disc inside the image: [r, side - r].
        case uniform
        /// Normal around the image centre with this standard deviation (px), clamped so the
        /// disc stays inside the image.
        case normal(sigma: Double)
    }

    /// Image side in pixels (images are side x side).
    public var side: Int = 28
    /// Disc radius in pixels.
    public var radius: Double = 3
    public var centres: CentreDistribution = .uniform
    /// Truncate centres to whole pixels (the original experiment's rule).
    public var integerCentres: Bool = false
    /// Pixel value = covered area fraction (true) or 1 where the pixel centre is inside (false).
    public var antialias: Bool = true
    /// Number of images in the data set (indices 0 ..< count).
    public var count: Int = 20_000
    /// Key of the image generator: image i is a pure function of (seed, i).
    public var seed: UInt64 = 0

    public init() {}

    public var pixelCount: Int { side * side }
}

/// The network's shape.
public struct ModelConfiguration: Hashable, Codable, Sendable {
    public enum Kind: String, Hashable, Codable, Sendable, CaseIterable {
        /// Variational autoencoder: the encoder gives a mean and a log-variance per latent.
        case vae
        /// Plain autoencoder: the encoder gives the latent code directly.
        case ae
    }

    public var kind: Kind = .vae
    /// Pixels per image (side x side).
    public var inputSize: Int = 784
    /// Encoder hidden widths, input side first; the decoder mirrors them.
    public var hidden: [Int] = [512, 256]
    public var latentDim: Int = 2

    public init() {}

    /// Width of the encoder's last layer: mean and log-variance side by side for the VAE.
    public var encoderOutputSize: Int { kind == .vae ? 2 * latentDim : latentDim }
}

/// The training objective.
public struct LossConfiguration: Hashable, Codable, Sendable {
    public enum Reconstruction: String, Hashable, Codable, Sendable, CaseIterable {
        /// Binary cross-entropy between the image and sigmoid(logits), summed over pixels.
        case bce
        /// Squared error between the image and sigmoid(logits), summed over pixels.
        case mse
    }

    public enum KLVariant: String, Hashable, Codable, Sendable, CaseIterable {
        /// KL(N(mu, sigma^2) || N(0, 1)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).
        case standard
        /// The original experiment's altered term: -1/2 sum(1 + logvar - mu^2 - 10 exp(10 logvar)).
        case seed
    }

    public var reconstruction: Reconstruction = .bce
    /// Weight of the KL term (beta-VAE); ignored by the plain autoencoder.
    public var beta: Float = 1
    /// The Gaussian prior's KL, or the seed experiment's altered one (Gaussian prior only).
    public var kl: KLVariant = .standard
    /// The prior the KL term measures the posterior against.
    public var prior: Prior = .gaussian
    /// KL warm-up: the KL weight rises linearly from 0 at step 0 to `beta` at this step (0: off).
    public var betaWarmupSteps: Int = 0

    public init() {}

    /// The KL weight at optimiser step `step` (0-based, the step being computed).
    public func klWeight(atStep step: Int) -> Float {
        guard betaWarmupSteps > 0, step < betaWarmupSteps else { return beta }
        return beta * Float(step) / Float(betaWarmupSteps)
    }
}

extension LossConfiguration {
    enum CodingKeys: String, CodingKey { case reconstruction, beta, kl, prior, betaWarmupSteps }

    /// Checkpoints written before a setting existed read with its default, which is what they
    /// were trained with.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reconstruction = try c.decode(Reconstruction.self, forKey: .reconstruction)
        beta = try c.decode(Float.self, forKey: .beta)
        kl = try c.decode(KLVariant.self, forKey: .kl)
        prior = try c.decodeIfPresent(Prior.self, forKey: .prior) ?? .gaussian
        betaWarmupSteps = try c.decodeIfPresent(Int.self, forKey: .betaWarmupSteps) ?? 0
    }
}

/// Smoothed training images: a Gaussian blur whose sigma falls linearly from `sigma` to 0 over
/// the first `annealFraction` of the steps (constant when 0). Only training images are blurred;
/// the analysis draws sharp ones.
public struct BlurSchedule: Hashable, Codable, Sendable {
    /// Blur sigma in pixels at step 0 (0: no blur).
    public var sigma: Double = 0
    /// The fraction of all steps over which sigma falls to 0; 0 keeps it constant.
    public var annealFraction: Double = 0

    public init(sigma: Double = 0, annealFraction: Double = 0) {
        self.sigma = sigma
        self.annealFraction = annealFraction
    }

    /// Sigma at optimiser step `step` of `totalSteps`.
    public func sigma(atStep step: Int, of totalSteps: Int) -> Double {
        guard sigma > 0 else { return 0 }
        guard annealFraction > 0 else { return sigma }
        let end = annealFraction * Double(totalSteps)
        return sigma * max(0, 1 - Double(step) / end)
    }
}

/// Adam's hyperparameters.
public struct OptimizerConfiguration: Hashable, Codable, Sendable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8

    public init() {}
}

/// A whole run.
public struct TrainingConfiguration: Hashable, Codable, Sendable {
    public var images = ImageConfiguration()
    public var model = ModelConfiguration()
    public var loss = LossConfiguration()
    public var optimizer = OptimizerConfiguration()
    /// The global batch: summed over every process taking part.
    public var batchSize: Int = 128
    public var epochs: Int = 10
    /// Key of parameter initialisation, epoch permutations and reparameterisation noise.
    public var seed: UInt64 = 0
    /// Smoothing of the training images.
    public var blur = BlurSchedule()

    public init() {}

    /// Full batches per epoch (the last partial batch is dropped, so every step has `batchSize`).
    public var stepsPerEpoch: Int { images.count / batchSize }
    public var totalSteps: Int { stepsPerEpoch * epochs }
}

extension TrainingConfiguration {
    enum CodingKeys: String, CodingKey {
        case images, model, loss, optimizer, batchSize, epochs, seed, blur
    }

    /// Checkpoints written before blurring existed read as unblurred runs.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        images = try c.decode(ImageConfiguration.self, forKey: .images)
        model = try c.decode(ModelConfiguration.self, forKey: .model)
        loss = try c.decode(LossConfiguration.self, forKey: .loss)
        optimizer = try c.decode(OptimizerConfiguration.self, forKey: .optimizer)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        epochs = try c.decode(Int.self, forKey: .epochs)
        seed = try c.decode(UInt64.self, forKey: .seed)
        blur = try c.decodeIfPresent(BlurSchedule.self, forKey: .blur) ?? BlurSchedule()
    }
}

extension TrainingConfiguration {
    /// The original Keras experiment: 25,000 integer-centred discs of radius 3 around the image
    /// centre (sigma 3), 784-512-2 with squared error, Adam 1e-3, batch 128, one epoch.
    public static var seedPreset: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.images.count = 25_000
        c.images.radius = 3
        c.images.centres = .normal(sigma: 3)
        c.images.integerCentres = true
        c.images.antialias = false
        c.model.hidden = [512]
        c.model.latentDim = 2
        c.loss.reconstruction = .mse
        c.loss.prior = .gaussian
        c.blur = BlurSchedule()
        c.batchSize = 128
        c.epochs = 1
        return c
    }

    /// The benchmark workload of shared/anchors: 60,000 hard-edged discs of radius 4, uniform
    /// centres, 784-512-256-2 VAE with BCE, batch 128.
    public static var benchmarkPreset: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.images.count = 60_000
        c.images.radius = 4
        c.images.centres = .uniform
        c.images.antialias = false
        c.model.hidden = [512, 256]
        c.loss.prior = .gaussian
        c.blur = BlurSchedule()
        c.batchSize = 128
        c.epochs = 5
        return c
    }
}
