import Foundation

/// Histogram estimates of entropy and mutual information, and the mutual information gap (MIG),
/// as disentanglement_lib computes them (`_histogram_discretize` with `num_bins = 20`, then
/// scikit-learn's `mutual_info_score`).
public enum MutualInformation {
    /// The bin count disentanglement_lib uses for MIG.
    public static let defaultBins = 20

    /// Equal-width binning over the observed range: [min, max] is cut into `bins` bins of width
    /// w = (max - min) / bins, and value v goes to bin min(floor((v - min) / w), bins - 1), so the
    /// maximum lands in the last bin (numpy's `digitize` against `histogram(v, bins)[1][:-1]`).
    /// A constant sample goes entirely to bin 0.
    public static func discretize(_ values: [Double], bins: Int) -> [Int] {
        precondition(bins > 0, "bins must be positive")
        guard let lo = values.min(), let hi = values.max(), hi > lo else {
            return [Int](repeating: 0, count: values.count)
        }
        let width = (hi - lo) / Double(bins)
        return values.map { v in min(bins - 1, max(0, Int(((v - lo) / width).rounded(.down)))) }
    }

    /// Plug-in entropy H = -sum_k p_k ln p_k of bin indices (non-negative), p_k = n_k / n, in
    /// nats. Sums run in bin order, so equal inputs give bit-identical results.
    public static func entropy(_ codes: [Int]) -> Double {
        guard !codes.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: (codes.max() ?? 0) + 1)
        for c in codes { counts[c] += 1 }
        let n = Double(codes.count)
        return -counts.reduce(0) { sum, k in
            guard k > 0 else { return sum }
            let p = Double(k) / n
            return sum + p * log(p)
        }
    }

    /// Plug-in mutual information of two binned samples, in nats:
    /// I(a; b) = sum_{j,k} p_jk ln(p_jk / (p_j p_k)), with p from the joint contingency table.
    /// It is >= 0, equals H(a) when b determines a, and is biased upwards for independent
    /// samples by roughly (bins_a - 1)(bins_b - 1) / (2n). Codes must be non-negative (bin
    /// indices); sums run in bin order, so equal inputs give bit-identical results.
    public static func mutualInformation(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "samples of different sizes: \(a.count) and \(b.count)")
        guard !a.isEmpty else { return 0 }
        let rows = (a.max() ?? 0) + 1, columns = (b.max() ?? 0) + 1
        var joint = [Int](repeating: 0, count: rows * columns)
        var countA = [Int](repeating: 0, count: rows)
        var countB = [Int](repeating: 0, count: columns)
        for (x, y) in zip(a, b) {
            joint[x * columns + y] += 1
            countA[x] += 1
            countB[y] += 1
        }
        let n = Double(a.count)
        var mi = 0.0
        for x in 0..<rows {
            for y in 0..<columns where joint[x * columns + y] > 0 {
                let p = Double(joint[x * columns + y]) / n
                mi += p * log(p * n * n / (Double(countA[x]) * Double(countB[y])))
            }
        }
        return max(0, mi)
    }
}

/// The mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement"):
/// for each factor v_k, the gap between the two latents that know most about it, relative to
/// its entropy, averaged over factors:
///
///     MIG = (1/K) sum_k (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k)
///
/// where z_(1), z_(2) are the latents with the largest and second largest I(z_j; v_k). Latents
/// and factors are both binned (`MutualInformation.discretize`, `bins` equal-width bins over the
/// observed range). MIG is near 1 when each factor lives in exactly one latent, and near 0 when
/// a factor is spread over several latents or absent. With one latent, the second-best
/// information is 0. A constant factor (H = 0) has no gap and is left out of the mean.
public struct MutualInformationGap: Hashable, Sendable {
    /// Bins per latent and per factor.
    public let bins: Int
    /// I(z_j; v_k) in nats: [latent][factor].
    public let information: [[Double]]
    /// H(v_k) in nats.
    public let factorEntropy: [Double]
    /// The normalised gap of each factor, nil for a constant factor.
    public let gaps: [Double?]
    /// The mean of the defined gaps, nil when none is defined.
    public let score: Double?

    /// - Parameters:
    ///   - latents: one array per latent, each with one value per sample.
    ///   - factors: one array per factor, each with one value per sample.
    public init(latents: [[Double]], factors: [[Double]], bins: Int = MutualInformation.defaultBins) {
        self.bins = bins
        let latentCodes = latents.map { MutualInformation.discretize($0, bins: bins) }
        let factorCodes = factors.map { MutualInformation.discretize($0, bins: bins) }
        information = latentCodes.map { z in
            factorCodes.map { v in MutualInformation.mutualInformation(z, v) }
        }
        factorEntropy = factorCodes.map(MutualInformation.entropy)
        var gaps: [Double?] = []
        for k in factors.indices {
            let h = factorEntropy[k]
            guard h > 0 else { gaps.append(nil); continue }
            let sorted = information.map { $0[k] }.sorted(by: >)
            let first = sorted.first ?? 0
            let second = sorted.count > 1 ? sorted[1] : 0
            gaps.append((first - second) / h)
        }
        self.gaps = gaps
        let defined = gaps.compactMap { $0 }
        score = defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
    }
}
