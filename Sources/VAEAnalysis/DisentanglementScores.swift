/// The scalar scores of one analysis, in one place: what a study over many runs tabulates and
/// what `isDisentangled` judges. Built from `LatentAnalysis.scores`.
public struct DisentanglementScores: Hashable, Sendable {
    /// The factors, in the order of the per-factor values below.
    public let factors: [Factor]
    /// The latent matched to each factor (`LatentMetrics.matching`).
    public let latentForFactor: [Int?]
    /// Spearman's rho of each factor's latent with its factor.
    public let matched: [Double?]
    /// The largest |rho| of a factor's latent with another factor; nil unless every factor has
    /// a latent.
    public let cross: Double?
    /// The latents no factor is matched to, and how many of them are still on.
    public let spareCount: Int
    public let spareActive: Int
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
    /// `Disentanglement`'s criterion.
    public let isDisentangled: Bool

    public init(metrics m: LatentMetrics, factorVAE: FactorVAEScore) {
        factors = m.factors
        latentForFactor = m.factors.map { m.matchedLatent(for: $0) }
        let inputs = Disentanglement.inputs(m)
        matched = inputs.matched
        cross = inputs.cross.allSatisfy { $0 != nil } ? inputs.cross.compactMap { $0 }.map(abs).max() ?? 0 : nil
        spareCount = inputs.spare.count
        spareActive = m.spareLatents.filter { !m.isSwitchedOff($0) }.count
        mig = m.mig.score
        sap = m.sap.score
        dciDisentanglement = m.dci.disentanglement
        dciCompleteness = m.dci.completeness
        dciInformativeness = m.dci.informativenessTest
        modularity = m.modularity.score
        self.factorVAE = factorVAE.evalAccuracy
        verdict = Finding(m).verdict
        isDisentangled = Disentanglement.holds(matched: inputs.matched, cross: inputs.cross, spare: inputs.spare)
    }
}
