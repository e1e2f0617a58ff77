import Foundation

/// The plain-language verdict of an analysis: which latent tracks what, judged by Spearman's rho.
public struct Finding: Sendable {
    /// |rho| at or above which a latent is said to track a factor (alone, if the other factor's
    /// |rho| is below `negligible`).
    public static let strong = 0.9
    /// |rho| below which a factor is said to be absent from a latent.
    public static let negligible = 0.3
    /// |rho| at or above which a latent is said to follow a factor loosely.
    public static let moderate = 0.5

    public enum Verdict: String, Sendable {
        /// Two distinct latents each track one of x and y, and neither tracks the other.
        case separated
        /// Two distinct latents each follow one of x and y with `moderate` <= |rho| < `strong`
        /// for at least one, and neither follows the other factor.
        case loose
        /// Some latent follows both x and y (|rho| >= `negligible` for each).
        case mixed
        /// None of these: x or y is not clearly in any latent.
        case unclear
    }

    public let verdict: Verdict
    /// Whether the run meets `Disentanglement`'s criterion (which implies `separated`), the one
    /// `sweep` counts.
    public let disentangled: Bool
    /// One sentence, e.g. "Latent 0 tracks y (Spearman -0.99) and latent 1 tracks x (0.99):
    /// x and y are separated (MIG 0.61)."
    public let sentence: String

    public init(_ metrics: LatentMetrics) {
        let rho = { (j: Int, f: Factor) -> Double in metrics.spearman(j, f) ?? 0 }
        let mig = metrics.mig.score.map { String(format: "MIG %.2f", $0) } ?? "MIG undefined"
        disentangled = Disentanglement.holds(metrics)
        if let a = metrics.matchedLatent(for: .x), let b = metrics.matchedLatent(for: .y),
            abs(rho(a, .x)) >= Self.strong, abs(rho(b, .y)) >= Self.strong,
            abs(rho(a, .y)) < Self.negligible, abs(rho(b, .x)) < Self.negligible
        {
            let (first, second) = a < b ? ((a, Factor.x), (b, Factor.y)) : ((b, Factor.y), (a, Factor.x))
            verdict = .separated
            sentence =
                "Latent \(first.0) tracks \(first.1.label) (Spearman \(Self.format(rho(first.0, first.1))))"
                + " and latent \(second.0) tracks \(second.1.label) (\(Self.format(rho(second.0, second.1))))"
                + ": x and y are separated (\(mig))"
                + (disentangled ? "; disentangled" : "; not disentangled")
                + " (\(Disentanglement.summary))."
            return
        }
        let mixes = (0..<metrics.latentCount).contains {
            abs(rho($0, .x)) >= Self.negligible && abs(rho($0, .y)) >= Self.negligible
        }
        var loose = false
        if !mixes, let a = metrics.matchedLatent(for: .x), let b = metrics.matchedLatent(for: .y) {
            loose = abs(rho(a, .x)) >= Self.moderate && abs(rho(b, .y)) >= Self.moderate
        }
        verdict = mixes ? .mixed : loose ? .loose : .unclear
        // Up to four latents are all described; beyond that, the two matched to x and y.
        let matched = [metrics.matchedLatent(for: .x), metrics.matchedLatent(for: .y)].compactMap { $0 }
        let shown = metrics.latentCount <= 4 ? Array(0..<metrics.latentCount) : Set(matched).sorted()
        let parts = shown.map { j -> String in
            let (rx, ry) = (rho(j, .x), rho(j, .y))
            switch (abs(rx) >= Self.negligible, abs(ry) >= Self.negligible) {
            case (true, true):
                return "latent \(j) mixes x (\(Self.format(rx))) and y (\(Self.format(ry)))"
            case (true, false):
                return "latent \(j) follows x (\(Self.format(rx)); y \(Self.format(ry)))"
            case (false, true):
                return "latent \(j) follows y (\(Self.format(ry)); x \(Self.format(rx)))"
            case (false, false):
                // Say what it follows instead, when a polar factor is clearly there.
                let polar = [Factor.polarRadius, .polarAngle].map { ($0, rho(j, $0)) }
                    .max { abs($0.1) < abs($1.1) }
                if let (factor, value) = polar, abs(value) >= 0.5 {
                    return
                        "latent \(j) follows neither x nor y but the \(factor.label) (\(Self.format(value)))"
                }
                return "latent \(j) follows neither x nor y"
            }
        }
        let more =
            metrics.latentCount > shown.count
            ? " (the latents matched to x and y, of \(metrics.latentCount))" : ""
        let text = parts.joined(separator: ", ")
        let conclusion: String
        switch verdict {
        case .mixed: conclusion = "x and y are mixed"
        case .loose: conclusion = "x and y are in separate latents, but loosely (|Spearman| < \(Self.strong))"
        default: conclusion = "x and y are not each held by one latent"
        }
        sentence =
            text.prefix(1).uppercased() + text.dropFirst()
            + "\(more): \(conclusion) (Spearman; \(mig))."
    }

    static func format(_ x: Double) -> String { String(format: "%.2f", x) }
}
