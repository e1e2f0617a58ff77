/// The separated attribute predictability (SAP) score (Kumar et al. 2018, "Variational inference
/// of disentangled latent concepts from unlabeled observations", section 3), in
/// disentanglement_lib's variant for continuous factors (`continuous_factors=True`), since the
/// circle centre's x and y are continuous:
///
///     S[j][k] = cov(z_j, v_k)^2 / (var z_j * var v_k)      (the R^2 of regressing v_k on z_j)
///     SAP     = (1/K) sum_k (S_(1)k - S_(2)k)
///
/// where S_(1)k and S_(2)k are the largest and second largest score of factor k over the
/// latents. A latent with variance <= 1e-12 scores 0 (as disentanglement_lib); with one latent
/// the second score is 0. Near 1 when each factor is predicted linearly by one latent alone; 0
/// when it is spread evenly over two (a 45-degree rotation) or absent.
public struct SAPScore: Hashable, Sendable {
    /// S[j][k]: [latent][factor], each in [0, 1].
    public let scores: [[Double]]
    /// S_(1)k - S_(2)k for each factor.
    public let gaps: [Double]
    /// The mean gap.
    public let score: Double

    /// - Parameters:
    ///   - latents: one array per latent, one value per sample.
    ///   - factors: one array per factor, same samples.
    public init(latents: [[Double]], factors: [[Double]]) {
        precondition(!factors.isEmpty, "SAP needs a factor")
        let scores = latents.map { z in
            factors.map { v in
                let (czv, vz, vv) = Self.covariance(z, v)
                return vz > 1e-12 && vv > 0 ? czv * czv / (vz * vv) : 0
            }
        }
        self.scores = scores
        gaps = factors.indices.map { k in
            let sorted = scores.map { $0[k] }.sorted(by: >)
            return (sorted.first ?? 0) - (sorted.count > 1 ? sorted[1] : 0)
        }
        score = gaps.reduce(0, +) / Double(gaps.count)
    }

    /// (cov(a, b), var a, var b) with n - 1 in the denominators (numpy's `cov`, ddof 1).
    static func covariance(_ a: [Double], _ b: [Double]) -> (Double, Double, Double) {
        precondition(a.count == b.count, "samples of different sizes")
        let n = Double(a.count)
        guard a.count >= 2 else { return (0, 0, 0) }
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in a.indices {
            let da = a[i] - ma, db = b[i] - mb
            ab += da * db
            aa += da * da
            bb += db * db
        }
        return (ab / (n - 1), aa / (n - 1), bb / (n - 1))
    }
}
