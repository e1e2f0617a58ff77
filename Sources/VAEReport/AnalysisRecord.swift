import Foundation
import VAEAnalysis
import VAECore

/// One analysed checkpoint as the report shows it: the analysis, a short unique name, and
/// where the checkpoint came from.
public struct AnalysisRecord {
    public let analysis: LatentAnalysis
    /// A file-name-safe name, unique within one report (the checkpoint's base name).
    public let name: String
    public let checkpointPath: String
    /// The training log whose curves the report draws; nil: no curves, and the report says so.
    public let log: TrainingLog?

    public init(analysis: LatentAnalysis, name: String, checkpointPath: String, log: TrainingLog? = nil) {
        self.analysis = analysis
        self.name = name
        self.checkpointPath = checkpointPath
        self.log = log
    }

    var configuration: TrainingConfiguration { analysis.model.configuration }
    var metrics: LatentMetrics { analysis.metrics }

    /// "VAE 784-512-256-2, bce, beta 1" and the like.
    var modelSummary: String {
        let c = configuration
        let widths = ([c.model.inputSize] + c.model.hidden + [c.model.latentDim]).map(String.init)
        var s =
            "\(c.model.kind.rawValue.uppercased()) \(widths.joined(separator: "-")), \(c.loss.reconstruction.rawValue)"
        if c.model.decoder != .mlp { s += ", \(c.model.decoder.name) decoder" }
        if c.model.kind == .vae {
            s += ", beta \(Range.label(Double(c.loss.beta)))"
            if c.loss.kl == .seed { s += ", seed KL" }
        }
        return s
    }

    /// The recipe the run was trained with, for the finding: "VAE, gen-gaussian:8 prior, elbo,
    /// blur 5 px annealed to sharp over the first 50 % of steps, 20 epochs" and the like.
    var recipe: String {
        let c = configuration
        var parts = [c.model.kind.rawValue.uppercased()]
        if c.model.decoder != .mlp { parts.append("spatial broadcast decoder (\(c.model.decoder.name))") }
        if c.model.kind == .vae {
            parts.append("\(c.loss.prior.name) prior")
            parts.append(c.loss.objective.rawValue + ", beta \(Range.label(Double(c.loss.beta)))")
            if c.loss.betaWarmupSteps > 0 { parts.append("warm-up \(c.loss.betaWarmupSteps) steps") }
        }
        if c.blur.sigma > 0 {
            parts.append(
                c.blur.annealFraction > 0
                    ? "blur \(Range.label(c.blur.sigma)) px annealed to sharp over the first "
                        + "\(Range.label(100 * c.blur.annealFraction)) % of steps"
                    : "blur \(Range.label(c.blur.sigma)) px")
        } else {
            parts.append("sharp images")
        }
        parts.append("\(c.epochs) epoch" + (c.epochs == 1 ? "" : "s"))
        return parts.joined(separator: ", ")
    }

    static func describe(_ images: ImageConfiguration) -> String {
        let centres: String
        switch images.centres {
        case .uniform: centres = "uniform centres"
        case .normal(let sigma): centres = "normal centres (sigma \(Range.label(sigma)) px)"
        }
        let range = { (r: ClosedRange<Double>) in
            r.lowerBound == r.upperBound
                ? Range.label(r.lowerBound) : "\(Range.label(r.lowerBound))-\(Range.label(r.upperBound))"
        }
        return "\(images.side)x\(images.side), radius \(range(images.radii)) px"
            + (images.intensities == 1...1 ? "" : ", intensity \(range(images.intensities))")
            + ", \(centres)"
            + (images.integerCentres ? ", integer centres" : "")
            + (images.antialias ? ", anti-aliased" : ", hard-edged")
    }

    /// Spearman's rho of latent j with a factor (nil if undefined).
    func rho(_ j: Int, _ f: Factor) -> Double? { metrics.spearman(j, f) }
    func r(_ j: Int, _ f: Factor) -> Double? { metrics.pearson(j, f) }
}

/// Turns checkpoint paths into distinct report names: the file's base name without its
/// extension, with characters other than letters, digits, '-', '_' and '.' replaced by '_',
/// and "-2", "-3", ... appended to repeats.
public func reportNames(for paths: [String]) -> [String] {
    var seen: [String: Int] = [:]
    return paths.map { path in
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var name = String(base.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        if name.isEmpty || name.hasPrefix(".") { name = "checkpoint" + name }
        seen[name, default: 0] += 1
        if let k = seen[name], k > 1 { name += "-\(k)" }
        return name
    }
}
