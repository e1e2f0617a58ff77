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

    /// Over the K factors the images vary (x and y, and the radius and intensity when they vary).
    public enum Verdict: String, Sendable {
        /// Distinct latents each track one factor, and none tracks another factor.
        case separated
        /// Distinct latents each follow one factor with `moderate` <= |rho| < `strong` for at
        /// least one, and none follows another factor.
        case loose
        /// Some latent follows two factors (|rho| >= `negligible` for each).
        case mixed
        /// None of these: some factor is not clearly in any latent.
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
        disentangled = Disentanglement.holds(metrics)
        if metrics.factors == [.x, .y] {
            (verdict, sentence) = Self.positions(metrics, disentangled: disentangled)
        } else {
            (verdict, sentence) = Self.factors(metrics, disentangled: disentangled)
        }
    }

    /// The spare latents in words ("; 2 spare latents, 1 still on (std 0.83)"), empty without any.
    static func spare(_ metrics: LatentMetrics) -> String {
        let spare = metrics.spareLatents
        guard !spare.isEmpty else { return "" }
        let on = spare.filter { !metrics.isSwitchedOff($0) }
        let count = spare.count == 1 ? "1 spare latent" : "\(spare.count) spare latents"
        if on.isEmpty { return "; \(count), switched off" }
        let spreads = on.map { "latent \($0) std \(format(metrics.latentStandardDeviation[$0]))" }
        return "; \(count), \(on.count) still on (\(spreads.joined(separator: ", ")))"
    }

    /// The verdict over x and y alone (the default world).
    static func positions(_ metrics: LatentMetrics, disentangled: Bool) -> (Verdict, String) {
        let rho = { (j: Int, f: Factor) -> Double in metrics.spearman(j, f) ?? 0 }
        let mig = metrics.mig.score.map { String(format: "MIG %.2f", $0) } ?? "MIG undefined"
        if let a = metrics.matchedLatent(for: .x), let b = metrics.matchedLatent(for: .y),
            abs(rho(a, .x)) >= Self.strong, abs(rho(b, .y)) >= Self.strong,
            abs(rho(a, .y)) < Self.negligible, abs(rho(b, .x)) < Self.negligible
        {
            let (first, second) = a < b ? ((a, Factor.x), (b, Factor.y)) : ((b, Factor.y), (a, Factor.x))
            return (
                .separated,
                "Latent \(first.0) tracks \(first.1.label) (Spearman \(Self.format(rho(first.0, first.1))))"
                    + " and latent \(second.0) tracks \(second.1.label) (\(Self.format(rho(second.0, second.1))))"
                    + ": x and y are separated (\(mig))" + spare(metrics)
                    + (disentangled ? "; disentangled" : "; not disentangled")
                    + " (\(Disentanglement.summary))."
            )
        }
        let mixes = (0..<metrics.latentCount).contains {
            abs(rho($0, .x)) >= Self.negligible && abs(rho($0, .y)) >= Self.negligible
        }
        var loose = false
        if !mixes, let a = metrics.matchedLatent(for: .x), let b = metrics.matchedLatent(for: .y) {
            loose = abs(rho(a, .x)) >= Self.moderate && abs(rho(b, .y)) >= Self.moderate
        }
        let verdict: Verdict = mixes ? .mixed : loose ? .loose : .unclear
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
        return (
            verdict,
            text.prefix(1).uppercased() + text.dropFirst()
                + "\(more): \(conclusion) (Spearman; \(mig))."
        )
    }

    /// The verdict over K factors: for each, its matched latent and the other factors that
    /// latent follows, the polar descriptors where they explain a latent better than its factor,
    /// and the spare latents.
    static func factors(_ metrics: LatentMetrics, disentangled: Bool) -> (Verdict, String) {
        let rho = { (j: Int, f: Factor) -> Double in metrics.spearman(j, f) ?? 0 }
        let mig = metrics.mig.score.map { String(format: "MIG %.2f", $0) } ?? "MIG undefined"
        let factors = metrics.factors
        let latents = factors.map { metrics.matchedLatent(for: $0) }
        let own = zip(latents, factors).map { j, f in j.map { abs(rho($0, f)) } ?? 0 }
        // The largest |rho| of each factor's latent with another factor, and that factor.
        let crossing = zip(latents, factors).map { j, f -> (Factor, Double)? in
            guard let j else { return nil }
            return factors.filter { $0 != f }.map { ($0, rho(j, $0)) }.max { abs($0.1) < abs($1.1) }
        }
        let worstCross = crossing.map { $0.map { abs($0.1) } ?? 1 }.max() ?? 0
        let mixes = (0..<metrics.latentCount).contains { j in
            factors.filter { abs(rho(j, $0)) >= negligible }.count >= 2
        }
        let verdict: Verdict
        if own.allSatisfy({ $0 >= strong }) && worstCross < negligible {
            verdict = .separated
        } else if mixes {
            verdict = .mixed
        } else if own.allSatisfy({ $0 >= moderate }) {
            verdict = .loose
        } else {
            verdict = .unclear
        }
        var parts: [String] = []
        for (k, f) in factors.enumerated() {
            guard let j = latents[k] else {
                parts.append("no latent is left for \(f.label)")
                continue
            }
            var part = "latent \(j) tracks \(f.label) (\(format(rho(j, f)))"
            if let (other, value) = crossing[k], abs(value) >= negligible {
                part += "; also \(other.label) \(format(value))"
            }
            let polar = [Factor.polarRadius, .polarAngle].map { ($0, rho(j, $0)) }.max { abs($0.1) < abs($1.1) }
            if let (descriptor, value) = polar, abs(value) >= moderate, abs(value) > abs(rho(j, f)) {
                part += "; more the \(descriptor.label) \(format(value))"
            }
            parts.append(part + ")")
        }
        let text = parts.count > 1 ? parts.dropLast().joined(separator: ", ") + " and " + parts.last! : parts[0]
        let conclusion: String
        switch verdict {
        case .separated: conclusion = "every factor has a latent of its own"
        case .mixed: conclusion = "the factors are mixed"
        case .loose: conclusion = "every factor has a latent of its own, but loosely (|Spearman| < \(strong))"
        case .unclear: conclusion = "not every factor is held by one latent"
        }
        return (
            verdict,
            text.prefix(1).uppercased() + text.dropFirst() + " (Spearman): \(conclusion) (\(mig))"
                + spare(metrics) + (disentangled ? "; disentangled" : "; not disentangled")
                + " (\(Disentanglement.summary))."
        )
    }

    static func format(_ x: Double) -> String { String(format: "%.2f", x) }
}
