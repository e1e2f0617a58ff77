/// The scalar scores of one analysis, in one place: what a study over many runs tabulates and
/// what `isDisentangled` judges. Built from `LatentAnalysis.scores`.
public struct DisentanglementScores: Hashable, Sendable {
    /// The criterion: both matched latents |Spearman| >= 0.95 with their factor...
    public static let disentangledMatch = 0.95
    /// ... and neither matched latent |Spearman| > 0.10 with the other factor.
    public static let disentangledCross = 0.10

    /// The latents matched to x and to y (`LatentMetrics.matching`).
    public let latentForX: Int?
    public let latentForY: Int?
    /// Spearman's rho of the x-latent with x and of the y-latent with y.
    public let spearmanX: Double?
    public let spearmanY: Double?
    /// max(|rho(x-latent, y)|, |rho(y-latent, x)|); nil without two matched latents.
    public let cross: Double?
    public let mig: Double?
    public let sap: Double
    public let dciDisentanglement: Double
    public let dciCompleteness: Double?
    /// The DCI Lasso's test R^2.
    public let dciInformativeness: Double
    public let modularity: Double
    /// The FactorVAE score's evaluation accuracy.
    public let factorVAE: Double
    public let verdict: Finding.Verdict

    public init(metrics m: LatentMetrics, factorVAE: FactorVAEScore) {
        latentForX = m.matchedLatent(for: .x)
        latentForY = m.matchedLatent(for: .y)
        spearmanX = latentForX.flatMap { m.spearman($0, .x) }
        spearmanY = latentForY.flatMap { m.spearman($0, .y) }
        if let a = latentForX, let b = latentForY {
            cross = max(abs(m.spearman(a, .y) ?? 0), abs(m.spearman(b, .x) ?? 0))
        } else {
            cross = nil
        }
        mig = m.mig.score
        sap = m.sap.score
        dciDisentanglement = m.dci.disentanglement
        dciCompleteness = m.dci.completeness
        dciInformativeness = m.dci.informativenessTest
        modularity = m.modularity.score
        self.factorVAE = factorVAE.evalAccuracy
        verdict = Finding(m).verdict
    }

    /// Whether x and y sit in separate latents by the criterion
    /// (`disentangledMatch`, `disentangledCross`).
    public var isDisentangled: Bool {
        guard let rx = spearmanX, let ry = spearmanY, let cross else { return false }
        return abs(rx) >= Self.disentangledMatch && abs(ry) >= Self.disentangledMatch
            && cross <= Self.disentangledCross
    }
}
