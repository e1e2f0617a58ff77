import Foundation

/// The count the field reports over seeds: a run is disentangled when each factor the images
/// vary has a latent of its own that follows it almost perfectly and follows no other factor,
/// and the latents left over are switched off, judged by Spearman's rho on fresh circles. The
/// analysis's finding and `sweep`'s k/n both ask this one place, so a run counted in a study is
/// one whose finding says so.
///
/// With factors f_1 ... f_K and m(i) the latent matched to f_i (`FactorMatching`):
/// - matched: |rho(z_m(i), f_i)| >= `matchedThreshold` for every i;
/// - cross: |rho(z_m(i), f_j)| <= `crossThreshold` for every i and every j != i (K (K - 1)
///   values: each matched latent against every other factor);
/// - spare: every latent no factor is matched to has encoded means with standard deviation
///   <= `LatentMetrics.spareThreshold`.
/// For x and y in two latents this is the original test: both matched >= 0.95, both cross <= 0.10.
public enum Disentanglement {
    /// |rho| of each matched latent with its own factor at or above which it holds that factor.
    public static let matchedThreshold = 0.95
    /// |rho| of each matched latent with every other factor at or below which it leaves it out.
    public static let crossThreshold = 0.10

    /// The criterion in words, with its thresholds.
    public static var criterion: String {
        "every factor's matched latent |Spearman| >= \(format(matchedThreshold)) with its factor, "
            + "cross |Spearman| <= \(format(crossThreshold)) (each matched latent against every other factor), "
            + "every spare latent switched off (standard deviation of its means <= "
            + "\(format(LatentMetrics.spareThreshold)))"
    }

    /// The criterion in a few words, for sentences: "matched |Spearman| >= 0.95, cross <= 0.10,
    /// spare latents off".
    public static var summary: String {
        "matched |Spearman| >= \(format(matchedThreshold)), cross <= \(format(crossThreshold)), spare latents off"
    }

    /// Whether the criterion holds. `matched`: rho of each factor's latent with its factor;
    /// `cross`: rho of each factor's latent with every other factor (K (K - 1) values);
    /// `spare`: the standard deviation of each spare latent's means. A missing or non-finite
    /// value (no matched latent, a constant latent) fails it.
    public static func holds(matched: [Double?], cross: [Double?], spare: [Double] = []) -> Bool {
        let k = matched.count
        guard k >= 1, cross.count == k * (k - 1) else { return false }
        let own = matched.compactMap { $0 }.filter(\.isFinite)
        let other = cross.compactMap { $0 }.filter(\.isFinite)
        return own.count == k && other.count == cross.count
            && own.allSatisfy { abs($0) >= matchedThreshold }
            && other.allSatisfy { abs($0) <= crossThreshold }
            && spare.allSatisfy { $0 <= LatentMetrics.spareThreshold }
    }

    /// The criterion's inputs from an analysis's metrics: matched rho per factor, the cross rho
    /// (factor i's latent against factor j, i-major, j != i) and the spare latents' spreads.
    public static func inputs(_ metrics: LatentMetrics) -> (matched: [Double?], cross: [Double?], spare: [Double]) {
        let f = metrics.factors
        let latents = f.map { metrics.matchedLatent(for: $0) }
        let matched = zip(latents, f).map { j, factor in j.flatMap { metrics.spearman($0, factor) } }
        var cross: [Double?] = []
        for (i, j) in latents.enumerated() {
            for (k, other) in f.enumerated() where k != i {
                cross.append(j.flatMap { metrics.spearman($0, other) })
            }
        }
        return (matched, cross, metrics.spareLatents.map { metrics.latentStandardDeviation[$0] })
    }

    /// Whether the criterion holds for an analysis's metrics.
    public static func holds(_ metrics: LatentMetrics) -> Bool {
        let i = inputs(metrics)
        return holds(matched: i.matched, cross: i.cross, spare: i.spare)
    }

    private static func format(_ x: Double) -> String { String(format: "%.2f", x) }
}
