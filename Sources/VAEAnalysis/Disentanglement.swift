import Foundation

/// The count the field reports over seeds: a run is disentangled when the latents matched to x
/// and y each follow their own factor almost perfectly and the other factor hardly at all,
/// judged by Spearman's rho on fresh circles. The analysis's finding and `sweep`'s k/n both ask
/// this one place, so a run counted in a study is one whose finding says so.
public enum Disentanglement {
    /// |rho| of each matched latent with its own factor at or above which it holds that factor.
    public static let matchedThreshold = 0.95
    /// |rho| of each matched latent with the other factor at or below which it leaves it out.
    public static let crossThreshold = 0.10

    /// The criterion in words, with its thresholds.
    public static var criterion: String {
        "both matched latents |Spearman| >= \(format(matchedThreshold)) with their factor, "
            + "cross |Spearman| <= \(format(crossThreshold))"
    }

    /// The criterion in a few words, for sentences: "matched |Spearman| >= 0.95, cross <= 0.10".
    public static var summary: String {
        "matched |Spearman| >= \(format(matchedThreshold)), cross <= \(format(crossThreshold))"
    }

    /// Whether the criterion holds. `matched`: rho of x's latent with x and of y's latent with
    /// y; `cross`: rho of x's latent with y and of y's latent with x. A missing or non-finite
    /// value (no matched latent, a constant latent) fails it.
    public static func holds(matched: [Double?], cross: [Double?]) -> Bool {
        guard matched.count == 2, cross.count == 2 else { return false }
        let own = matched.compactMap { $0 }.filter(\.isFinite)
        let other = cross.compactMap { $0 }.filter(\.isFinite)
        return own.count == 2 && other.count == 2
            && own.allSatisfy { abs($0) >= matchedThreshold }
            && other.allSatisfy { abs($0) <= crossThreshold }
    }

    /// Whether the criterion holds for an analysis's metrics.
    public static func holds(_ metrics: LatentMetrics) -> Bool {
        guard let a = metrics.matchedLatent(for: .x), let b = metrics.matchedLatent(for: .y) else {
            return false
        }
        return holds(
            matched: [metrics.spearman(a, .x), metrics.spearman(b, .y)],
            cross: [metrics.spearman(a, .y), metrics.spearman(b, .x)])
    }

    private static func format(_ x: Double) -> String { String(format: "%.2f", x) }
}
