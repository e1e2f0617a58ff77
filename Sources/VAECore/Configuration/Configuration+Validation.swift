/// A setting that cannot work, named so a user can fix it.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TrainingConfiguration {
    /// Rejects settings that cannot train, before any work starts.
    /// - Throws: `ConfigurationError` naming the first bad setting.
    public func validate(ranks: Int = 1) throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConfigurationError(message()) }
        }
        try require(
            images.side >= 4 && images.side <= 1024, "image side must be in 4...1024, got \(images.side)")
        try require(
            model.inputSize == images.pixelCount,
            "model input size \(model.inputSize) does not match \(images.side)x\(images.side) images")
        try require(
            images.radius.isFinite && images.radius > 0,
            "radius must be positive, got \(images.radius)")
        if let maxRadius = images.maxRadius {
            try require(
                maxRadius.isFinite && maxRadius >= images.radius,
                "radius range \(images.radius)-\(maxRadius) runs backwards (give MIN-MAX)")
        }
        try require(
            2 * images.largestRadius <= Double(images.side),
            "a disc of radius \(images.largestRadius) does not fit in a \(images.side)-pixel image")
        try require(
            images.intensity.isFinite && images.intensity > 0 && images.intensity <= 1,
            "intensity must be in (0, 1], got \(images.intensity)")
        if let maxIntensity = images.maxIntensity {
            try require(
                maxIntensity.isFinite && maxIntensity > 0 && maxIntensity <= 1,
                "intensity must be in (0, 1], got \(maxIntensity)")
            try require(
                maxIntensity >= images.intensity,
                "intensity range \(images.intensity)-\(maxIntensity) runs backwards (give MIN-MAX)")
        }
        if case .normal(let sigma) = images.centres {
            try require(sigma.isFinite && sigma > 0, "centre sigma must be positive, got \(sigma)")
        }
        try require(images.count > 0, "images must be positive, got \(images.count)")
        try require(images.count <= Int(Int32.max), "images must be at most \(Int32.max)")
        try require(model.latentDim > 0, "latent-dim must be positive, got \(model.latentDim)")
        try require(model.latentDim <= 4096, "latent-dim must be at most 4096, got \(model.latentDim)")
        for width in model.hidden {
            try require(width > 0, "hidden sizes must be positive, got \(width)")
            try require(width <= 65_536, "hidden sizes must be at most 65536, got \(width)")
        }
        if case .spatialBroadcast(let widths) = model.decoder {
            try require(!widths.isEmpty, "the broadcast decoder needs at least one hidden width")
            for width in widths {
                try require(width > 0 && width <= 1024, "broadcast decoder widths must be in 1...1024, got \(width)")
            }
        }
        // The parameters are one vector, summed and shared in MPI calls whose counts are ints.
        let parameters = model.parameterCount
        try require(
            parameters <= Int(Int32.max),
            "the model has \(parameters) parameters, more than the \(Int32.max) MPI's counts can hold")
        try require(
            loss.beta.isFinite && loss.beta >= 0, "beta must be a non-negative number, got \(loss.beta)")
        try require(
            loss.kl == .standard || loss.prior == .gaussian,
            "--kl seed alters the Gaussian prior's KL; it cannot be used with --prior \(loss.prior.name)")
        try require(
            loss.betaWarmupSteps >= 0, "beta-warmup must be non-negative, got \(loss.betaWarmupSteps)")
        if loss.objective != .elbo {
            let flag = "--objective \(loss.objective.rawValue)"
            try require(model.kind == .vae, "\(flag) needs a VAE (--model vae)")
            try require(
                loss.kl == .standard, "--kl seed belongs to the seed experiment's ELBO; it cannot be used with \(flag)")
        }
        try require(
            loss.pairChanges == nil || loss.objective == .adaGVAE,
            "--pair-changes applies to --objective ada-gvae")
        if loss.objective == .adaGVAE {
            let factors = images.varyingFactors
            let names = factors.map(\.rawValue).joined(separator: ", ")
            let varying = factors.isEmpty ? "no factor varies" : "only \(names) varies"
            try require(
                factors.count >= 2,
                "--objective ada-gvae needs pairs that share some factors and differ in others, but \(varying)")
            if let k = loss.pairChanges {
                try require(
                    (1..<factors.count).contains(k),
                    "--pair-changes must be in 1...\(factors.count - 1) (the factors that vary: \(names)), got \(k)"
                )
            }
            try require(
                batchSize % 2 == 0,
                "--objective ada-gvae trains on pairs of images: batch-size must be even, got \(batchSize)")
        }
        try require(
            loss.capacity.isFinite && loss.capacity >= 0,
            "capacity must be a non-negative number of nats, got \(loss.capacity)")
        try require(loss.capacitySteps >= 0, "capacity-steps must be non-negative, got \(loss.capacitySteps)")
        try require(
            loss.gamma.isFinite && loss.gamma >= 0, "gamma must be a non-negative number, got \(loss.gamma)")
        try require(
            blur.sigma.isFinite && blur.sigma >= 0 && blur.sigma <= Double(images.side),
            "blur must be in [0, \(images.side)] pixels, got \(blur.sigma)")
        try require(
            blur.annealFraction.isFinite && blur.annealFraction >= 0 && blur.annealFraction <= 1,
            "blur-anneal must be in [0, 1], got \(blur.annealFraction)")
        try require(batchSize > 0, "batch-size must be positive, got \(batchSize)")
        try require(
            batchSize <= images.count,
            "batch-size \(batchSize) is larger than the data set (\(images.count) images)")
        try require(epochs > 0, "epochs must be positive, got \(epochs)")
        let o = optimizer
        try require(
            o.learningRate.isFinite && o.learningRate > 0, "lr must be positive, got \(o.learningRate)")
        try require(o.beta1 >= 0 && o.beta1 < 1, "adam-beta1 must be in [0, 1), got \(o.beta1)")
        try require(o.beta2 >= 0 && o.beta2 < 1, "adam-beta2 must be in [0, 1), got \(o.beta2)")
        try require(o.epsilon.isFinite && o.epsilon > 0, "adam-epsilon must be positive, got \(o.epsilon)")
        try require(ranks >= 1, "need at least one process")
        try require(
            ranks <= batchSize,
            "\(ranks) processes cannot share a batch of \(batchSize): each needs at least one image")
        if loss.objective == .adaGVAE {
            try require(
                2 * ranks <= batchSize,
                "\(ranks) processes cannot share a batch of \(batchSize / 2) pairs: each needs at least one pair"
            )
        }
    }
}
