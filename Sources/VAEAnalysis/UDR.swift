import Foundation

/// Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised model selection for
/// variational disentangled representation learning"), as disentanglement_lib's
/// `evaluation/udr` computes it: models of one configuration trained from different seeds,
/// encoding the same inputs, are compared pairwise; a model whose latents the others reproduce
/// one to one ranks high. No factor labels are used.
///
/// For models i and j (latent means of the same n inputs):
/// 1. each latent is standardised (mean 0, population standard deviation 1; a constant latent
///    is only centred), and a latent whose mean KL is at most `klThreshold` is set to 0;
/// 2. the similarity matrix R[a][b] >= 0 between latent a of i and latent b of j: |Spearman's
///    rho|, or |w| of the Lasso (alpha `lassoAlpha`) predicting j's latent b from all of i's;
/// 3. R keeps the rows of i's and the columns of j's latents with mean KL above the threshold;
/// 4. the pair's score is the relative strength (mean over columns of max_a R[a][b]^2 /
///    sum_a R[a][b], the same over rows, then the average of the two; a 0/0 or undefined
///    entry counts 0).
/// A model's UDR is the median of the scores of the pairs (j, i) over the other models j.
///
/// Where disentanglement_lib gives NaN, for a pair in which one model has no latent above the
/// threshold (an empty matrix), here that pair scores 0: a collapsed model reproduces nothing,
/// and a NaN would make the median of every other model of the configuration undefined.
public enum UDR {
    /// Mean KL (nats) a latent needs to count: disentanglement_lib's `kl_filter_threshold`.
    public static let klThreshold = 0.01
    /// disentanglement_lib's `Lasso(alpha=0.1)`.
    public static let lassoAlpha = 0.1

    public enum Similarity: String, CaseIterable, Sendable {
        case spearman
        case lasso
    }

    /// One model's latent means on the shared inputs.
    public struct Model: Sendable {
        /// One array per latent, n values each (the same n inputs for every model).
        public let latents: [[Double]]
        /// Mean KL of each latent; nil for a model without one (the AE): every latent counts.
        public let klPerLatent: [Double]?

        public init(latents: [[Double]], klPerLatent: [Double]?) {
            precondition(klPerLatent == nil || klPerLatent?.count == latents.count)
            self.latents = latents
            self.klPerLatent = klPerLatent
        }

        /// Whether latent k counts.
        func active(_ k: Int) -> Bool { klPerLatent.map { $0[k] > UDR.klThreshold } ?? true }

        /// Standardised latents, the inactive ones zeroed (step 1).
        var prepared: [[Double]] {
            latents.indices.map { k in
                let z = latents[k]
                guard active(k), !z.isEmpty else { return [Double](repeating: 0, count: z.count) }
                let n = Double(z.count)
                let mean = z.reduce(0, +) / n
                let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
                let scale = variance > 0 ? variance.squareRoot() : 1
                return z.map { ($0 - mean) / scale }
            }
        }
    }

    /// R[a][b] between the prepared latents of two models (step 2); NaN where Spearman's rho
    /// is undefined (a constant latent).
    public static func similarity(_ a: [[Double]], _ b: [[Double]], _ kind: Similarity) -> [[Double]] {
        switch kind {
        case .spearman:
            return a.map { x in b.map { y in Correlation.spearman(x, y).map(abs) ?? .nan } }
        case .lasso:
            // One Lasso per target latent of b; its weights are column b of R.
            let weights = b.map { y in Lasso.fit(columns: a, target: y, alpha: lassoAlpha).map(abs) }
            return a.indices.map { i in b.indices.map { j in weights[j][i] } }
        }
    }

    /// The relative strength of R (step 4): 0 for an empty matrix.
    public static func relativeStrength(_ r: [[Double]]) -> Double {
        guard let columns = r.first?.count, columns > 0 else { return 0 }
        func strength(_ line: [Double]) -> Double {
            let ratio = pow(line.max() ?? .nan, 2) / line.reduce(0, +)
            return line.contains(where: \.isNaN) || !ratio.isFinite ? 0 : ratio
        }
        let byColumn = (0..<columns).map { b in strength(r.map { $0[b] }) }
        let byRow = r.map(strength)
        return (byColumn.reduce(0, +) / Double(columns) + byRow.reduce(0, +) / Double(r.count)) / 2
    }

    /// The pair's score: i's latents against j's (steps 2-4).
    static func pairScore(_ i: Model, _ pi: [[Double]], _ j: Model, _ pj: [[Double]], _ kind: Similarity)
        -> Double
    {
        let r = similarity(pi, pj, kind)
        let rows = pi.indices.filter(i.active), columns = pj.indices.filter(j.active)
        return relativeStrength(rows.map { a in columns.map { b in r[a][b] } })
    }

    /// Every pair's score, `scores[i][j]` for model i against model j (nil on the diagonal).
    public static func pairScores(_ models: [Model], _ kind: Similarity) -> [[Double?]] {
        let prepared = models.map(\.prepared)
        return models.indices.map { i in
            models.indices.map { j in
                i == j ? nil : pairScore(models[i], prepared[i], models[j], prepared[j], kind)
            }
        }
    }

    /// Each model's UDR: the median of `pairScores[j][i]` over j != i; nil with fewer than 2
    /// models.
    public static func scores(_ models: [Model], _ kind: Similarity) -> [Double?] {
        guard models.count >= 2 else { return models.map { _ in nil } }
        let pairs = pairScores(models, kind)
        return models.indices.map { i in median(models.indices.compactMap { j in pairs[j][i] }) }
    }

    static func median(_ values: [Double]) -> Double? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
