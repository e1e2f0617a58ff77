/// Modularity (Ridgeway & Mozer 2018, "Learning deep disentangled embeddings with the
/// F-statistic loss", section 3), as disentanglement_lib computes it: from the mutual
/// information m_jk between binned latent j and binned factor k (the same histogram estimate
/// as MIG's, `MutualInformationGap.information`),
///
///     delta_j = (sum_k m_jk^2 - max_k m_jk^2) / (max_k m_jk^2 * (K - 1))
///     modularity = (1/L) sum_j (1 - delta_j)
///
/// with a latent that knows nothing of any factor (max m_jk = 0) scoring 0. A latent is modular
/// when it carries information about one factor only; it says nothing about whether every
/// factor is held somewhere (MIG and completeness do).
public struct Modularity: Hashable, Sendable {
    /// 1 - delta_j for each latent.
    public let perLatent: [Double]
    /// Their mean.
    public let score: Double

    /// - Parameter information: m_jk in any unit: [latent][factor], K >= 2 factors.
    public init(information: [[Double]]) {
        precondition(!information.isEmpty, "modularity needs a latent")
        perLatent = information.map { row in
            precondition(row.count >= 2, "modularity needs two factors")
            let squared = row.map { $0 * $0 }
            let top = squared.max() ?? 0
            guard top > 0 else { return 0 }
            return 1 - (squared.reduce(0, +) - top) / (top * Double(row.count - 1))
        }
        score = perLatent.reduce(0, +) / Double(perLatent.count)
    }
}
