import Foundation

/// How the latent values of a set of encoded circles relate to the circles' true factors and to
/// each other. Pure arithmetic on arrays: tests feed it synthetic latents with known answers.
public struct LatentMetrics: Sendable {
    /// A spare latent (one no factor is matched to) whose encoded means have at most this
    /// standard deviation is switched off: it carries nothing the decoder could use.
    public static let spareThreshold = 0.1
    /// A VAE latent whose mean KL to the prior is at least this many nats counts as active
    /// (carrying information); a collapsed latent sits at the prior with KL near 0.
    public static let activeKLThreshold = 0.1

    /// The factors the images vary, which the metrics and the matching are over (K of them):
    /// x, y, and the radius and intensity when they vary (`ImageConfiguration.factors`).
    public let factors: [Factor]
    public let latentCount: Int
    public let sampleCount: Int
    /// Pearson's r and Spearman's rho of each latent with each factor: [latent][factor in
    /// `Factor.allCases` order]; read through `pearson(_:_:)` and `spearman(_:_:)`.
    private let pearsonTable: [[Double?]]
    private let spearmanTable: [[Double?]]
    /// Pearson's r between latent values: [latent][latent].
    public let latentCorrelation: [[Double?]]
    /// MIG over the K `factors`.
    public let mig: MutualInformationGap
    /// SAP over the K `factors` (continuous factors: R^2 of each latent alone).
    public let sap: SAPScore
    /// DCI over the K `factors` with the Lasso as regressor.
    public let dci: DCIScore
    /// Modularity over the K `factors`, from MIG's binned mutual information.
    public let modularity: Modularity
    /// The assignment of distinct latents to the factors that maximises the sum of their
    /// |Spearman| (every assignment tried); `matching.latentForFactor` follows `factors`' order.
    public let matching: FactorMatching
    /// Standard deviation of each latent value over the samples (population, divide by n).
    public let latentStandardDeviation: [Double]
    /// VAE only: mean over samples of KL(N(mu, sigma^2) || N(0, 1)) for each latent,
    /// -1/2 (1 + log sigma^2 - mu^2 - sigma^2), in nats. Nil for the plain AE.
    public let meanKL: [Double]?

    /// - Parameters:
    ///   - latents: one array per latent (the encoder means), one value per sample.
    ///   - logVariances: the VAE's log-variances in the same shape, nil for the AE.
    ///   - factors: the true factors of the same samples.
    ///   - matched: the factors the images vary (x and y unless the world varies more).
    ///   - bins: bins per variable for MIG and modularity.
    public init(
        latents: [[Double]], logVariances: [[Double]]?, factors: CircleFactors,
        matched: [Factor] = [.x, .y], bins: Int = MutualInformation.defaultBins
    ) {
        precondition(!matched.isEmpty && Set(matched).count == matched.count, "distinct factors to match")
        self.factors = matched
        precondition(!latents.isEmpty, "no latents")
        let n = latents[0].count
        precondition(latents.allSatisfy { $0.count == n }, "latents of different lengths")
        precondition(
            Factor.allCases.allSatisfy { factors[$0].count == n },
            "factors and latents of different lengths")
        latentCount = latents.count
        sampleCount = n
        pearsonTable = latents.map { z in Factor.allCases.map { Correlation.pearson(z, factors[$0]) } }
        let spearman = latents.map { z in Factor.allCases.map { Correlation.spearman(z, factors[$0]) } }
        spearmanTable = spearman
        latentCorrelation = latents.map { a in latents.map { b in Correlation.pearson(a, b) } }
        let values = matched.map { factors[$0] }
        mig = MutualInformationGap(latents: latents, factors: values, bins: bins)
        sap = SAPScore(latents: latents, factors: values)
        dci = DCIScore(latents: latents, factors: values)
        modularity = Modularity(information: mig.information)
        matching = FactorMatching(
            scores: spearman.map { row in
                matched.map { row[Factor.allCases.firstIndex(of: $0)!] }
            })
        latentStandardDeviation = latents.map { z in
            let mean = z.reduce(0, +) / Double(max(1, z.count))
            return (z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, z.count))).squareRoot()
        }
        if let logVariances {
            precondition(logVariances.count == latents.count, "one log-variance per latent")
            meanKL = zip(latents, logVariances).map { mu, lv in
                var sum = 0.0
                for i in 0..<n { sum += -0.5 * (1 + lv[i] - mu[i] * mu[i] - exp(lv[i])) }
                return sum / Double(max(1, n))
            }
        } else {
            meanKL = nil
        }
    }

    /// Pearson's r of latent j with a factor; nil where undefined (a constant factor or latent).
    public func pearson(_ j: Int, _ factor: Factor) -> Double? {
        pearsonTable[j][Factor.allCases.firstIndex(of: factor)!]
    }

    /// Spearman's rho of latent j with a factor; nil where undefined.
    public func spearman(_ j: Int, _ factor: Factor) -> Double? {
        spearmanTable[j][Factor.allCases.firstIndex(of: factor)!]
    }

    /// Whether each latent is active (`activeKLThreshold`); nil for the AE.
    public var active: [Bool]? { meanKL?.map { $0 >= Self.activeKLThreshold } }

    /// The latent matched to one of `factors`, if any.
    public func matchedLatent(for factor: Factor) -> Int? {
        guard let k = factors.firstIndex(of: factor) else { return nil }
        return matching.latentForFactor[k]
    }

    /// The latents no factor is matched to, in index order.
    public var spareLatents: [Int] {
        let matched = Set(matching.latentForFactor.compactMap { $0 })
        return (0..<latentCount).filter { !matched.contains($0) }
    }

    /// Whether latent j's encoded means vary by at most `spareThreshold` (a spare latent that
    /// is switched off).
    public func isSwitchedOff(_ j: Int) -> Bool {
        latentStandardDeviation[j] <= Self.spareThreshold
    }
}
