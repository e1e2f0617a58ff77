import ArgumentParser
import Foundation
import VAECore

/// The settings that define a run, shared by `train` and `bench`. Every option is optional so
/// that a `--preset` supplies the base and only the flags given override it.
///
/// Numeric options here and in the other commands take the next argument whatever it looks
/// like (`parsing: .unconditional`): otherwise `--lr -1` reads `-1` as a flag and says
/// "Missing value", where validation says what is wrong with -1.
struct TrainingOptions: ParsableArguments {
    enum Preset: String, ExpressibleByArgument, CaseIterable {
        /// Our defaults (`TrainingConfiguration.standardPreset`): anti-aliased uniform discs,
        /// a 784-512-256-2 encoder, the spatial broadcast decoder, beta-TCVAE with a box prior.
        case standard
        /// The original Keras experiment (see DESIGN.md).
        case seed
        /// The benchmark workload of shared/anchors.
        case bench
    }

    @Option(
        help:
            "Base settings that other flags override: \(Preset.allValueStrings.joined(separator: ", ")). (default: standard; bench for the bench command)"
    )
    var preset: Preset?

    @Option(help: "vae or ae (plain autoencoder). (default: vae)")
    var model: ModelConfiguration.Kind?

    @Option(parsing: .unconditional, help: "Number of latent values. (default: 2)")
    var latentDim: Int?

    @Option(
        parsing: .unconditional,
        help: "Encoder hidden widths, comma-separated; the decoder mirrors them. (default: 512,256)")
    var hidden: HiddenSizes?

    @Option(
        help:
            "Decoder: mlp (mirrors --hidden) or broadcast[:W1,W2,...] (the spatial broadcast decoder: a per-pixel MLP of these widths reading the latents and the pixel's x and y; broadcast alone is broadcast:32,32). (default: broadcast:32,32; mlp for the seed and bench presets)"
    )
    var decoder: ModelConfiguration.DecoderArchitecture?

    @Option(parsing: .unconditional, help: "Weight of the KL term, or with beta-tcvae of the total correlation. (default: 6 with beta-tcvae, else 1)")
    var beta: Float?

    @Option(help: "Reconstruction loss: bce or mse, summed over pixels. (default: bce)")
    var recon: LossConfiguration.Reconstruction?

    @Option(help: "KL term: standard, or seed (the original experiment's altered term). (default: standard)")
    var kl: LossConfiguration.KLVariant?

    @Option(
        help:
            "Prior of the VAE's latents, factorised with unit variance: gaussian, laplace or gen-gaussian[:P] (P even, 2-16; default 8). (default: gen-gaussian:8; gaussian for the seed and bench presets)"
    )
    var prior: Prior?

    @Option(
        parsing: .unconditional,
        help:
            "Warm-up: the regulariser's weight (beta, gamma, or the whole KL + TC term) rises linearly from 0 over this many steps. (default: 0, off)"
    )
    var betaWarmup: Int?

    @Option(
        help:
            "What the VAE minimises besides the reconstruction: elbo (beta KL), capacity (gamma |KL - C|, C annealed), beta-tcvae (KL + (beta - 1) TC) or ada-gvae (weakly supervised: the beta-ELBO of pairs of images sharing some factors, the latents they seem to share averaged). (default: beta-tcvae; elbo for the seed and bench presets)"
    )
    var objective: LossConfiguration.Objective?

    @Option(parsing: .unconditional, help: "--objective capacity: the target C_max in nats of KL per image. (default: 10)")
    var capacity: Double?

    @Option(
        parsing: .unconditional,
        help: "--objective capacity: steps over which C rises linearly from 0 to C_max. (default: 1000)")
    var capacitySteps: Int?

    @Option(parsing: .unconditional, help: "--objective capacity: the weight on |KL - C|. (default: 1000)")
    var gamma: Float?

    @Option(
        parsing: .unconditional,
        help:
            "--objective ada-gvae: how many of the varying factors every pair changes. (default: per pair, uniform from 1 to one less than the factors that vary)"
    )
    var pairChanges: Int?

    @Option(
        parsing: .unconditional,
        help: "Blur the training images with a Gaussian of this sigma in pixels. (default: 5; 0 for the seed and bench presets)")
    var blur: Double?

    @Option(
        parsing: .unconditional,
        help:
            "Let the blur's sigma fall linearly to 0 over this fraction of the steps (0: constant). (default: 0.5)"
    )
    var blurAnneal: Double?

    @Option(parsing: .unconditional, help: "Passes over the data set. (default: 40; 1 for the seed preset, 5 for bench)")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Images in the data set. (default: 20000)")
    var images: Int?

    @Option(parsing: .unconditional, help: "Global batch size, summed over all processes. (default: 128)")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate. (default: 0.001)")
    var lr: Float?

    @Option(parsing: .unconditional, help: "Adam beta1. (default: 0.9)")
    var adamBeta1: Float?

    @Option(parsing: .unconditional, help: "Adam beta2. (default: 0.999)")
    var adamBeta2: Float?

    @Option(parsing: .unconditional, help: "Adam epsilon. (default: 1e-8)")
    var adamEpsilon: Float?

    @Option(parsing: .unconditional, help: "Seed of initialisation, shuffling and noise. (default: 0)")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Seed of the circle images. (default: 0)")
    var dataSeed: UInt64?

    @OptionGroup var imageOptions: ImageOptions

    /// The preset (or the command's default one; or `base`, a resumed checkpoint's
    /// configuration) with the given flags applied.
    /// - Throws: `ConfigurationError` for image flags that contradict each other or the base.
    func configuration(
        defaultPreset: Preset = .standard,
        base: TrainingConfiguration? = nil
    ) throws -> TrainingConfiguration {
        var c: TrainingConfiguration
        switch preset ?? defaultPreset {
        case .standard: c = .standardPreset
        case .seed: c = .seedPreset
        case .bench: c = .benchmarkPreset
        }
        if let base { c = base }
        if let model { c.model.kind = model }
        if let latentDim { c.model.latentDim = latentDim }
        if let hidden { c.model.hidden = hidden.widths }
        if let decoder { c.model.decoder = decoder }
        if let beta { c.loss.beta = beta }
        if let recon { c.loss.reconstruction = recon }
        if let kl { c.loss.kl = kl }
        if let prior { c.loss.prior = prior }
        if let betaWarmup { c.loss.betaWarmupSteps = betaWarmup }
        if let objective {
            // A new objective without --beta takes its own default beta, unless the base's beta
            // was chosen (a sweep's --beta under a grid of objectives keeps it).
            if beta == nil, c.loss.beta == c.loss.objective.defaultBeta { c.loss.beta = objective.defaultBeta }
            c.loss.objective = objective
        }
        if let capacity { c.loss.capacity = capacity }
        if let capacitySteps { c.loss.capacitySteps = capacitySteps }
        if let gamma { c.loss.gamma = gamma }
        if capacity != nil || capacitySteps != nil || gamma != nil, c.loss.objective != .capacity {
            throw ConfigurationError("--capacity, --capacity-steps and --gamma apply to --objective capacity")
        }
        // The plain autoencoder has no regulariser: the default beta-TCVAE falls back to the
        // ELBO's form (which the AE reads as the reconstruction alone) unless one is asked for.
        if c.model.kind == .ae, objective == nil, c.loss.objective != .elbo {
            if beta == nil { c.loss.beta = LossConfiguration.Objective.elbo.defaultBeta }
            c.loss.objective = .elbo
        }
        if let pairChanges { c.loss.pairChanges = pairChanges }
        if let blur { c.blur.sigma = blur }
        if let blurAnneal { c.blur.annealFraction = blurAnneal }
        if let epochs { c.epochs = epochs }
        if let images { c.images.count = images }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.optimizer.learningRate = lr }
        if let adamBeta1 { c.optimizer.beta1 = adamBeta1 }
        if let adamBeta2 { c.optimizer.beta2 = adamBeta2 }
        if let adamEpsilon { c.optimizer.epsilon = adamEpsilon }
        if let seed { c.seed = seed }
        if let dataSeed { c.images.seed = dataSeed }
        c.images = try imageOptions.apply(to: c.images)
        return c
    }

    /// `configuration(defaultPreset:)`, rejected with the first bad setting as a usage error.
    func validatedConfiguration(defaultPreset: Preset = .standard, ranks: Int = 1) throws
        -> TrainingConfiguration
    {
        do {
            let c = try configuration(defaultPreset: defaultPreset)
            try c.validate(ranks: ranks)
            return c
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

/// `--hidden 512,256`: the encoder's hidden widths. An empty list (`--hidden ""`) means none.
struct HiddenSizes: ExpressibleByArgument {
    var widths: [Int]

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if parts == [""] {
            widths = []
            return
        }
        var widths: [Int] = []
        for part in parts {
            guard let w = Int(part) else { return nil }
            widths.append(w)
        }
        self.widths = widths
    }
}

extension ModelConfiguration.Kind: ExpressibleByArgument {}
extension ModelConfiguration.DecoderArchitecture: ExpressibleByArgument {
    public var defaultValueDescription: String { name }
}
extension LossConfiguration.Reconstruction: ExpressibleByArgument {}
extension LossConfiguration.KLVariant: ExpressibleByArgument {}
extension LossConfiguration.Objective: ExpressibleByArgument {}
extension Prior: ExpressibleByArgument {
    public var defaultValueDescription: String { name }
}
