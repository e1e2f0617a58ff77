import Foundation

/// Disentanglement, completeness and informativeness (Eastwood & Williams 2018, "A framework
/// for the quantitative evaluation of disentangled representations"), with the Lasso as the
/// regressor (one of the paper's two) instead of disentanglement_lib's gradient-boosted trees:
///
/// - The samples are split in order: the first `n - n/3` train, the last `n/3` test.
/// - Latents and factors are standardised with the training part's mean and standard
///   deviation (divide by n; a constant latent becomes 0).
/// - For each factor k, a Lasso (`alpha`) predicts v_k from all latents; the importance of
///   latent j for factor k is R[j][k] = |w_jk|.
/// - Disentanglement of latent j: D_j = 1 - H_K(P_j.) with P_jk = R_jk / sum_k R_jk, entropy in
///   base K (the factor count), after adding 1e-11 to every R_jk (scipy's `entropy` as
///   disentanglement_lib calls it). D = sum_j rho_j D_j with rho_j = sum_k R_jk / sum R (all
///   weights equal when R is all zeros).
/// - Completeness of factor k: C_k = 1 - H_L(R_.k) in base L (the latent count), likewise
///   weighted; undefined (nil) with a single latent.
/// - Informativeness: the R^2 of the Lasso's predictions, 1 - SSE / SST, on the training and on
///   the test part, averaged over factors (disentanglement_lib reports a classifier's accuracy
///   there; R^2 is its regression counterpart: 1 predicts perfectly, 0 no better than the mean).
///
/// D and C compare the importances with each other, whatever their size: for latents that
/// predict nothing (informativeness near 0) a single tiny weight can still give D = 1. And a
/// linear regressor sees linear structure only: a latent that holds x through a fold (the polar
/// radius, say) gets a small weight. So read D and C together with the informativeness.
public struct DCIScore: Hashable, Sendable {
    /// The Lasso's penalty on standardised data: it zeroes latents whose correlation with the
    /// factor (given the others) is below about 0.02, the noise level of |r| at n ~ 2700.
    public static let defaultAlpha = 0.02

    public let alpha: Double
    /// R[j][k] = |w_jk|: [latent][factor].
    public let importance: [[Double]]
    /// D_j for each latent.
    public let disentanglementPerLatent: [Double]
    public let disentanglement: Double
    /// C_k for each factor; nil with one latent.
    public let completenessPerFactor: [Double]?
    public let completeness: Double?
    /// Mean R^2 over factors on the training and the test part.
    public let informativenessTrain: Double
    public let informativenessTest: Double
    public let trainCount: Int
    public let testCount: Int

    /// - Parameters:
    ///   - latents: one array per latent, n values each (n >= 3).
    ///   - factors: one array per factor, same samples.
    public init(latents: [[Double]], factors: [[Double]], alpha: Double = DCIScore.defaultAlpha) {
        let n = latents.first?.count ?? 0
        precondition(n >= 3 && !factors.isEmpty, "DCI needs three samples and a factor")
        self.alpha = alpha
        testCount = n / 3
        trainCount = n - testCount
        let train = 0..<trainCount, test = trainCount..<n
        func standardise(_ v: [Double]) -> [Double] {
            let part = v[train]
            let mean = part.reduce(0, +) / Double(part.count)
            let sd = (part.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(part.count)).squareRoot()
            return v.map { sd > 0 ? ($0 - mean) / sd : 0 }
        }
        let z = latents.map(standardise)
        let zTrain = z.map { Array($0[train]) }
        var importance = [[Double]](
            repeating: [Double](repeating: 0, count: factors.count), count: latents.count)
        var r2Train: [Double] = [], r2Test: [Double] = []
        for (k, factor) in factors.enumerated() {
            let v = standardise(factor)
            let w = Lasso.fit(columns: zTrain, target: Array(v[train]), alpha: alpha)
            for j in w.indices { importance[j][k] = abs(w[j]) }
            let predicted = (0..<n).map { i in w.indices.reduce(0) { $0 + w[$1] * z[$1][i] } }
            r2Train.append(Self.rSquared(Array(v[train]), Array(predicted[train])))
            r2Test.append(Self.rSquared(Array(v[test]), Array(predicted[test])))
        }
        self.importance = importance
        informativenessTrain = r2Train.reduce(0, +) / Double(r2Train.count)
        informativenessTest = r2Test.reduce(0, +) / Double(r2Test.count)

        let total = importance.joined().reduce(0, +)
        let weights = total > 0 ? importance : importance.map { $0.map { _ in 1.0 } }
        let weightTotal = weights.joined().reduce(0, +)
        disentanglementPerLatent = importance.map { 1 - Self.entropy($0, base: factors.count) }
        disentanglement = zip(disentanglementPerLatent, weights).reduce(0) {
            $0 + $1.0 * $1.1.reduce(0, +) / weightTotal
        }
        if latents.count > 1 {
            let perFactor = factors.indices.map { k in
                1 - Self.entropy(importance.map { $0[k] }, base: latents.count)
            }
            completenessPerFactor = perFactor
            completeness = perFactor.indices.reduce(0) { sum, k in
                sum + perFactor[k] * weights.reduce(0) { $0 + $1[k] } / weightTotal
            }
        } else {
            completenessPerFactor = nil
            completeness = nil
        }
    }

    /// Entropy of the distribution proportional to `weights + 1e-11`, in base `base` (so 1 for
    /// equal weights and about 0 for one non-zero weight).
    static func entropy(_ weights: [Double], base: Int) -> Double {
        let shifted = weights.map { $0 + 1e-11 }
        let total = shifted.reduce(0, +)
        let h = shifted.reduce(0) { sum, w in
            let p = w / total
            return sum - p * log(p)
        }
        return h / log(Double(base))
    }

    /// 1 - sum (y - p)^2 / sum (y - mean y)^2 (scikit-learn's `r2_score`); 0 for a constant y.
    static func rSquared(_ y: [Double], _ p: [Double]) -> Double {
        let mean = y.reduce(0, +) / Double(max(1, y.count))
        var sse = 0.0, sst = 0.0
        for i in y.indices {
            sse += (y[i] - p[i]) * (y[i] - p[i])
            sst += (y[i] - mean) * (y[i] - mean)
        }
        return sst > 0 ? 1 - sse / sst : 0
    }
}
