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
    /// Disc radius in pixels; with `maxRadius`, the smallest radius.
    public var radius: Double = 3
    /// The largest radius: each image's radius is uniform in [radius, maxRadius]. Nil: fixed.
    public var maxRadius: Double? = nil
    /// The disc's grey level (the value of a fully covered pixel), in (0, 1]; with
    /// `maxIntensity`, the smallest.
    public var intensity: Double = 1
    /// The largest grey level: each image's is uniform in [intensity, maxIntensity]. Nil: fixed.
    public var maxIntensity: Double? = nil
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

    /// The radii images are drawn with (one value when the radius is fixed).
    public var radii: ClosedRange<Double> { radius...max(radius, maxRadius ?? radius) }

    /// The grey levels images are drawn with (one value when the intensity is fixed).
    public var intensities: ClosedRange<Double> {
        intensity...max(intensity, maxIntensity ?? intensity)
    }

    /// The radius of the largest disc: centres keep it inside the image.
    public var largestRadius: Double { radii.upperBound }
}

extension ImageConfiguration {
    enum CodingKeys: String, CodingKey {
        case side, radius, maxRadius, intensity, maxIntensity, centres, integerCentres, antialias, count
        case seed
    }

    /// The factors' keys are written only when they differ from a fixed radius and full
    /// intensity, so checkpoints of such worlds are those written before the factors existed,
    /// and those read as fixed, full-intensity discs.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        side = try c.decode(Int.self, forKey: .side)
        radius = try c.decode(Double.self, forKey: .radius)
        maxRadius = try c.decodeIfPresent(Double.self, forKey: .maxRadius)
        intensity = try c.decodeIfPresent(Double.self, forKey: .intensity) ?? 1
        maxIntensity = try c.decodeIfPresent(Double.self, forKey: .maxIntensity)
        centres = try c.decode(CentreDistribution.self, forKey: .centres)
        integerCentres = try c.decode(Bool.self, forKey: .integerCentres)
        antialias = try c.decode(Bool.self, forKey: .antialias)
        count = try c.decode(Int.self, forKey: .count)
        seed = try c.decode(UInt64.self, forKey: .seed)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(side, forKey: .side)
        try c.encode(radius, forKey: .radius)
        try c.encodeIfPresent(maxRadius, forKey: .maxRadius)
        if intensity != 1 { try c.encode(intensity, forKey: .intensity) }
        try c.encodeIfPresent(maxIntensity, forKey: .maxIntensity)
        try c.encode(centres, forKey: .centres)
        try c.encode(integerCentres, forKey: .integerCentres)
        try c.encode(antialias, forKey: .antialias)
        try c.encode(count, forKey: .count)
        try c.encode(seed, forKey: .seed)
    }
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
    public var decoder: DecoderArchitecture = .mlp

    public init() {}

    /// Width of the encoder's last layer: mean and log-variance side by side for the VAE.
    public var encoderOutputSize: Int { kind == .vae ? 2 * latentDim : latentDim }

    /// How latent codes become images.
    public enum DecoderArchitecture: Hashable, Codable, Sendable {
        /// A dense MLP that mirrors the encoder's hidden widths, ending in one logit per pixel.
        case mlp
        /// The spatial broadcast decoder (Watters et al. 2019): every pixel sees the latent code
        /// together with its own (x, y) in [-1, 1], through a small MLP shared by all pixels
        /// with these hidden widths and one logit out. Position has to be read against the
        /// coordinates, which favours latents that carry x and y apart from size and shade.
        case spatialBroadcast(widths: [Int])

        /// The broadcast decoder's hidden widths when `broadcast` names none.
        public static let defaultBroadcastWidths = [32, 32]

        /// "mlp", or "broadcast:W1,W2,..." (`broadcast` alone: the default widths).
        public init?(argument: String) {
            if argument == "mlp" {
                self = .mlp
                return
            }
            guard argument.hasPrefix("broadcast") else { return nil }
            let rest = argument.dropFirst("broadcast".count)
            if rest.isEmpty {
                self = .spatialBroadcast(widths: Self.defaultBroadcastWidths)
                return
            }
            guard rest.first == ":" else { return nil }
            var widths: [Int] = []
            for part in rest.dropFirst().split(separator: ",", omittingEmptySubsequences: false) {
                guard let width = Int(part) else { return nil }
                widths.append(width)
            }
            self = .spatialBroadcast(widths: widths)
        }

        /// The name `init?(argument:)` reads, as flags, logs and checkpoints spell it.
        public var name: String {
            switch self {
            case .mlp: return "mlp"
            case .spatialBroadcast(let widths):
                return "broadcast:" + widths.map(String.init).joined(separator: ",")
            }
        }
    }
}

extension ModelConfiguration.DecoderArchitecture {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let architecture = Self(argument: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown decoder \(text)"))
        }
        self = architecture
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

extension ModelConfiguration {
    enum CodingKeys: String, CodingKey {
        case kind, inputSize, hidden, latentDim, decoder
    }

    /// Checkpoints written before the decoder was a setting read as the MLP they trained.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        inputSize = try c.decode(Int.self, forKey: .inputSize)
        hidden = try c.decode([Int].self, forKey: .hidden)
        latentDim = try c.decode(Int.self, forKey: .latentDim)
        self.decoder = try c.decodeIfPresent(DecoderArchitecture.self, forKey: .decoder) ?? .mlp
    }
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

    /// What the VAE minimises besides the reconstruction (docs/objectives.md). Every objective's
    /// regulariser is multiplied by the warm-up factor (`warmup(atStep:)`).
    public enum Objective: String, Hashable, Codable, Sendable, CaseIterable {
        /// beta KL: the negative ELBO (beta-VAE when beta is not 1).
        case elbo
        /// gamma |KL - C| with C rising linearly from 0 to `capacity` (Burgess et al. 2018), KL the
        /// global batch's mean.
        case capacity
        /// KL + (beta - 1) TC: the KL against the prior plus (beta - 1) times the total
        /// correlation, estimated on the global batch by minibatch-weighted sampling (Chen et al.
        /// 2018); with alpha = gamma = 1 the same, in expectation, as MI + beta TC + dimension-wise
        /// KL.
        case betaTCVAE = "beta-tcvae"
        /// The ELBO of both images of each pair, with the latents the pair seems to share
        /// averaged (Ada-GVAE, Locatello et al. 2020): weakly supervised, it trains on pairs of
        /// images that share some factors (`CirclePairs`), not on single images.
        case adaGVAE = "ada-gvae"

        /// beta when no flag gives one: 6 for beta-TCVAE (its TC weight is beta - 1, so 1 would
        /// switch it off; 6 is the standard recipe's, docs/analysis.md), 1 for the others.
        public var defaultBeta: Float { self == .betaTCVAE ? 6 : 1 }
    }

    public var reconstruction: Reconstruction = .bce
    /// Weight of the KL term (beta-VAE), or of the total correlation (beta-TCVAE); ignored by the
    /// plain autoencoder and by the capacity objective.
    public var beta: Float = 1
    /// The Gaussian prior's KL, or the seed experiment's altered one (Gaussian prior only).
    public var kl: KLVariant = .standard
    /// The prior the KL term measures the posterior against. The default, a box-like
    /// generalised Gaussian, is what puts x and y in separate latents (docs/analysis.md);
    /// `--prior gaussian` is the rotation-invariant textbook VAE.
    public var prior: Prior = .generalizedGaussian(power: Prior.defaultPower)
    /// Warm-up: the regulariser's weight rises linearly from 0 at step 0 to its full value at
    /// this step (0: off).
    public var betaWarmupSteps: Int = 0
    public var objective: Objective = .elbo
    /// The capacity objective's final target C_max, in nats of KL per sample.
    public var capacity: Double = 10
    /// Steps over which the capacity target rises from 0 to `capacity` (0: C_max from the start).
    public var capacitySteps: Int = 1000
    /// The capacity objective's weight on |KL - C| (Burgess et al. use 1000 with a summed
    /// reconstruction loss, as here).
    public var gamma: Float = 1000
    /// Ada-GVAE: how many factors every pair changes; nil draws it per pair, uniform in
    /// 1...(varying factors - 1).
    public var pairChanges: Int? = nil

    public init() {}

    /// The warm-up factor at optimiser step `step` (0-based, the step being computed): step /
    /// `betaWarmupSteps` during the warm-up, 1 after (and without one).
    public func warmup(atStep step: Int) -> Float {
        guard betaWarmupSteps > 0, step < betaWarmupSteps else { return 1 }
        return Float(step) / Float(betaWarmupSteps)
    }

    /// The weight of the KL term at optimiser step `step`, warm-up included: beta for the ELBO,
    /// gamma for the capacity objective (whose sign follows KL - C, `capacityWeight`), 1 for
    /// beta-TCVAE, beta for Ada-GVAE (an ELBO of averaged posteriors).
    public func klWeight(atStep step: Int) -> Float {
        let full: Float
        switch objective {
        case .elbo, .adaGVAE: full = beta
        case .capacity: full = gamma
        case .betaTCVAE: full = 1
        }
        return full * warmup(atStep: step)
    }

    /// beta-TCVAE's weight on the total correlation at optimiser step `step`: (beta - 1) x warm-up.
    public func totalCorrelationWeight(atStep step: Int) -> Float {
        (beta - 1) * warmup(atStep: step)
    }

    /// The capacity target C at optimiser step `step`: C_max step / capacitySteps, C_max after.
    public func capacityTarget(atStep step: Int) -> Double {
        guard capacitySteps > 0, step < capacitySteps else { return capacity }
        return capacity * Double(step) / Double(capacitySteps)
    }

    /// The capacity objective's weight on the KL term, the derivative of gamma |KL - C| by KL:
    /// gamma x warm-up x sign(KL - C), with `meanKL` the global batch's mean KL (0 when KL = C).
    public func capacityWeight(meanKL: Double, atStep step: Int) -> Float {
        let difference = meanKL - capacityTarget(atStep: step)
        let sign: Float = difference > 0 ? 1 : difference < 0 ? -1 : 0
        return sign * klWeight(atStep: step)
    }

    /// The VAE's loss per sample at optimiser step `step` from the batch's mean reconstruction,
    /// KL and (beta-TCVAE) total-correlation estimate.
    public func objectiveValue(
        reconstruction: Double, kl: Double, totalCorrelation: Double, atStep step: Int
    ) -> Double {
        let weight = Double(klWeight(atStep: step))
        switch objective {
        case .elbo, .adaGVAE: return reconstruction + weight * kl
        case .capacity: return reconstruction + weight * abs(kl - capacityTarget(atStep: step))
        case .betaTCVAE:
            return reconstruction + weight * kl
                + Double(totalCorrelationWeight(atStep: step)) * totalCorrelation
        }
    }
}

extension LossConfiguration {
    enum CodingKeys: String, CodingKey {
        case reconstruction, beta, kl, prior, betaWarmupSteps, objective, capacity, capacitySteps, gamma
        case pairChanges
    }

    /// Checkpoints written before a setting existed read with its default, which is what they
    /// were trained with (the ELBO, for those without an objective).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reconstruction = try c.decode(Reconstruction.self, forKey: .reconstruction)
        beta = try c.decode(Float.self, forKey: .beta)
        kl = try c.decode(KLVariant.self, forKey: .kl)
        prior = try c.decodeIfPresent(Prior.self, forKey: .prior) ?? .gaussian
        betaWarmupSteps = try c.decodeIfPresent(Int.self, forKey: .betaWarmupSteps) ?? 0
        objective = try c.decodeIfPresent(Objective.self, forKey: .objective) ?? .elbo
        let defaults = LossConfiguration()
        capacity = try c.decodeIfPresent(Double.self, forKey: .capacity) ?? defaults.capacity
        capacitySteps = try c.decodeIfPresent(Int.self, forKey: .capacitySteps) ?? defaults.capacitySteps
        gamma = try c.decodeIfPresent(Float.self, forKey: .gamma) ?? defaults.gamma
        pairChanges = try c.decodeIfPresent(Int.self, forKey: .pairChanges)
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
    public var epochs: Int = 20
    /// Key of parameter initialisation, epoch permutations and reparameterisation noise.
    public var seed: UInt64 = 0
    /// Smoothing of the training images: by default sigma 5 px falling to sharp images at half
    /// of the run, which keeps the early code from folding (docs/analysis.md).
    public var blur = BlurSchedule(sigma: 5, annealFraction: 0.5)

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
        blur = try c.decodeIfPresent(BlurSchedule.self, forKey: .blur) ?? BlurSchedule(sigma: 0)
    }
}

extension TrainingConfiguration {
    /// What `train`, `sweep` and `bench --preset standard` start from: the struct's defaults
    /// (anti-aliased uniform discs, the box-like gen-gaussian:8 prior, blur 5 px annealed to 0
    /// at half the run, a 784-512-256 encoder, BCE) with what separates x, y and the radius
    /// into latents of their own and switches spare latents off (docs/analysis.md): the spatial
    /// broadcast decoder, beta-TCVAE with beta 6, and 40 epochs (at 20, one run in eight ends
    /// with x and y still partly rotated).
    public static var standardPreset: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.model.decoder = .spatialBroadcast(widths: ModelConfiguration.DecoderArchitecture.defaultBroadcastWidths)
        c.loss.objective = .betaTCVAE
        c.loss.beta = LossConfiguration.Objective.betaTCVAE.defaultBeta
        c.epochs = 40
        return c
    }

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
