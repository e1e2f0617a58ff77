import Foundation
import VAEAnalysis

/// The report page: one analysis in full, or several side by side after a comparison table.
/// Figures are referenced by relative paths, so a report directory can be moved as a whole.
enum HTMLReport {
    /// The figures of one analysis, by file name, as `ReportWriter` writes them.
    struct Figure {
        let file: String
        let caption: String
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1320px; padding: 0 1em; color: #222; }
        .finding { font-size: 1.2em; font-weight: 600; background: #f3f6fa; border-left: 4px solid #3b6ea8; padding: .6em 1em; }
        table { border-collapse: collapse; margin: .8em 0 1.4em; font-variant-numeric: tabular-nums; }
        th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
        th:first-child, td:first-child, .text { text-align: left; }
        thead th { background: #f0f0f0; }
        figure { display: inline-block; margin: .5em 1em 1em 0; vertical-align: top; }
        figcaption { font-size: .9em; color: #555; max-width: 600px; }
        img { max-width: 100%; height: auto; border: 1px solid #eee; }
        .note { color: #555; font-size: .9em; }
        code { background: #f5f5f5; padding: 0 .2em; }
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    /// The full page of one analysis.
    static func single(_ record: AnalysisRecord, figures: [Figure]) -> String {
        page(
            title: "Latent analysis: \(record.name)",
            body: "<h1>Latent analysis: \(escape(record.name))</h1>\n"
                + section(record, figures: figures, prefix: ""))
    }

    /// One page comparing several analyses; each one's figures live in its own subdirectory.
    static func comparison(_ records: [AnalysisRecord], figures: [[Figure]]) -> String {
        var body = "<h1>Latent analysis: \(records.count) checkpoints compared</h1>\n"
        body +=
            "<p class=\"note\">Spearman's rho of the latent matched to each factor (best one-to-one matching by |rho|); "
            + "cross: the largest |rho| of a factor's matched latent with another factor (0 when separated); "
            + "other factors: the radius and intensity where the circles vary them; "
            + "MIG with \(records.first?.metrics.mig.bins ?? MutualInformation.defaultBins) bins; SAP (continuous factors), DCI (Lasso; D, C and test R^2), modularity and FactorVAE (evaluation accuracy, chance 1/K for K factors) as in each report. Verdict: separated (|rho| >= \(Range.label(Finding.strong)) for each, cross < \(Range.label(Finding.negligible))), "
            + "loose (|rho| >= \(Range.label(Finding.moderate)) for each, cross < \(Range.label(Finding.negligible))), "
            + "mixed (some latent with |rho| >= \(Range.label(Finding.negligible)) for two factors), unclear (none of these). "
            + "Each checkpoint's full report is linked by name.</p>\n"
        body +=
            "<table>\n<thead><tr><th>checkpoint</th><th class=\"text\">model</th><th>steps</th><th>x: latent (rho)</th><th>y: latent (rho)</th>"
            + "<th class=\"text\">other factors</th><th>cross |rho|</th><th>spare on</th><th>latent corr 0-1</th><th>MIG</th><th>SAP</th><th>DCI D</th><th>DCI C</th><th>DCI I</th>"
            + "<th>modularity</th><th>FactorVAE</th><th>recon loss / image</th><th>MSE / pixel</th><th class=\"text\">verdict</th></tr></thead>\n<tbody>\n"
        for r in records {
            let m = r.metrics
            func matched(_ f: Factor) -> String {
                guard let j = m.matchedLatent(for: f) else { return "–" }
                return "\(j) (\(fmt(r.rho(j, f))))"
            }
            let scores = r.analysis.scores
            let cross = fmt(scores.cross)
            let others = m.factors.filter { $0 != .x && $0 != .y }.map { "\($0.label) \(matched($0))" }
            let spare = scores.spareCount == 0 ? "–" : "\(scores.spareActive)/\(scores.spareCount)"
            let corr = m.latentCount >= 2 ? fmt(m.latentCorrelation[0][1]) : "–"
            body +=
                "<tr><td><a href=\"\(attribute(r.name))/report.html\">\(escape(r.name))</a></td><td class=\"text\">\(escape(r.modelSummary))</td>"
                + "<td>\(r.analysis.model.checkpoint.step)</td><td>\(matched(.x))</td><td>\(matched(.y))</td>"
                + "<td class=\"text\">\(others.isEmpty ? "–" : others.joined(separator: ", "))</td><td>\(cross)</td><td>\(spare)</td>"
                + "<td>\(corr)</td><td>\(fmt(m.mig.score))</td><td>\(fmt(m.sap.score))</td><td>\(fmt(m.dci.disentanglement))</td>"
                + "<td>\(fmt(m.dci.completeness))</td><td>\(fmt(m.dci.informativenessTest))</td><td>\(fmt(m.modularity.score))</td>"
                + "<td>\(fmt(r.analysis.factorVAE.evalAccuracy))</td><td>\(fmt(r.analysis.reconstructionLoss, digits: 2))</td>"
                + "<td>\(fmt(r.analysis.meanSquaredError, digits: 4))</td><td class=\"text\">\(r.analysis.finding.verdict.rawValue)</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"
        for (r, f) in zip(records, figures) {
            body += "<h2>\(escape(r.name))</h2>\n" + section(r, figures: f, prefix: r.name + "/")
        }
        return page(title: "Latent analysis comparison", body: body)
    }

    /// The finding, the numbers and the figures of one analysis.
    static func section(_ r: AnalysisRecord, figures: [Figure], prefix: String) -> String {
        let a = r.analysis, m = r.metrics
        var s = "<p class=\"finding\">\(escape(a.finding.sentence)) Recipe: \(escape(r.recipe)).</p>\n"
        s +=
            "<p>Checkpoint <code>\(escape(r.checkpointPath))</code>: \(escape(r.modelSummary)), step \(a.model.checkpoint.step), "
            + "trained on \(escape(AnalysisRecord.describe(r.configuration.images))).<br>"
            + "Analysed on \(a.sampleCount) fresh circles (data seed \(a.images.seed)): \(escape(AnalysisRecord.describe(a.images))). "
            + "Latent values are the encoder's \(a.model.isVariational ? "means" : "outputs").</p>\n"

        let shown = Factor.allCases.filter { f in (0..<m.latentCount).contains { m.pearson($0, f) != nil } }
        s +=
            "<h3>Latents against the circles</h3>\n<table>\n<thead><tr><th>latent</th><th class=\"text\">coefficient</th>"
        s += shown.map { "<th>\($0.label)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for j in 0..<m.latentCount {
            s +=
                "<tr><td>\(j)</td><td class=\"text\">Pearson</td>"
                + shown.map { "<td>\(fmt(r.r(j, $0)))</td>" }.joined() + "</tr>\n"
            s +=
                "<tr><td>\(j)</td><td class=\"text\">Spearman</td>"
                + shown.map { "<td>\(fmt(r.rho(j, $0)))</td>" }.joined() + "</tr>\n"
        }
        s += "</tbody>\n</table>\n"
        let missing = Factor.allCases.filter { !shown.contains($0) }
        if !missing.isEmpty {
            s +=
                "<p class=\"note\">No correlation with \(missing.map(\.label).joined(separator: ", ")): constant over these circles.</p>\n"
        }
        let factors = m.factors.indices
        let spare = Set(m.spareLatents)
        s +=
            "<table>\n<thead><tr><th>latent</th>" + m.factors.map { "<th>MI with \($0.label) (nats)</th>" }.joined()
            + "<th>modularity</th>" + m.factors.map { "<th>R^2 with \($0.label)</th>" }.joined()
            + m.factors.map { "<th>Lasso |w| for \($0.label)</th>" }.joined()
            + "<th>FactorVAE class</th><th>std of values</th><th class=\"text\">spare</th>"
        if m.meanKL != nil { s += "<th>mean KL (nats)</th><th>active</th>" }
        s += "</tr></thead>\n<tbody>\n"
        for j in 0..<m.latentCount {
            s +=
                "<tr><td>\(j)</td>" + factors.map { "<td>\(fmt(m.mig.information[j][$0]))</td>" }.joined()
                + "<td>\(fmt(m.modularity.perLatent[j]))</td>" + factors.map { "<td>\(fmt(m.sap.scores[j][$0]))</td>" }.joined()
                + factors.map { "<td>\(fmt(m.dci.importance[j][$0]))</td>" }.joined()
                + "<td>\(factorVAEClass(a.factorVAE, m.factors, j))</td><td>\(fmt(m.latentStandardDeviation[j]))</td>"
                + "<td class=\"text\">\(spare.contains(j) ? (m.isSwitchedOff(j) ? "off" : "on") : "–")</td>"
            if let kl = m.meanKL, let active = m.active {
                s += "<td>\(fmt(kl[j]))</td><td>\(active[j] ? "yes" : "no")</td>"
            }
            s += "</tr>\n"
        }
        s += "</tbody>\n</table>\n"
        s +=
            "<p class=\"note\">Polar r and angle are the centre's distance from and angle around the image middle; "
            + "the angle wraps at ±pi, which caps its correlations. "
            + "A spare latent (no factor matched to it) is off when the standard deviation of its values is at most "
            + "\(Range.label(LatentMetrics.spareThreshold)). "
            + (m.meanKL != nil
                ? "A latent is active when its mean KL to the prior is at least \(Range.label(LatentMetrics.activeKLThreshold)) nats. "
                : "")
            + "</p>\n"

        s += "<h3>Summary</h3>\n<table>\n<tbody>\n"
        s +=
            "<tr><td>MIG (\(m.factors.map(\.label).joined(separator: ", ")); \(m.mig.bins) bins)</td><td>\(fmt(m.mig.score))</td></tr>\n"
        for (k, f) in m.factors.enumerated() {
            s +=
                "<tr><td>MIG gap for \(f.label) (H = \(fmt(m.mig.factorEntropy[k])) nats)</td><td>\(fmt(m.mig.gaps[k]))</td></tr>\n"
        }
        s += scoreRows(r)
        for f in m.factors {
            let value =
                m.matchedLatent(for: f).map {
                    "latent \($0): Spearman \(fmt(r.rho($0, f))), Pearson \(fmt(r.r($0, f)))"
                } ?? "none"
            s += "<tr><td>best match for \(f.label)</td><td>\(value)</td></tr>\n"
        }
        s +=
            "<tr><td>reconstruction loss per image (\(r.configuration.loss.reconstruction.rawValue), z = mean)</td><td>\(fmt(a.reconstructionLoss, digits: 3))</td></tr>\n"
        s += "<tr><td>mean squared error per pixel</td><td>\(fmt(a.meanSquaredError, digits: 5))</td></tr>\n"
        if let kl = m.meanKL {
            s += "<tr><td>total mean KL (nats)</td><td>\(fmt(kl.reduce(0, +)))</td></tr>\n"
        }
        s += "</tbody>\n</table>\n"

        if m.latentCount >= 2 {
            s += "<h3>Latent-latent correlation (Pearson)</h3>\n<table>\n<thead><tr><th></th>"
            s += (0..<m.latentCount).map { "<th>latent \($0)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
            for i in 0..<m.latentCount {
                s +=
                    "<tr><td>latent \(i)</td>"
                    + (0..<m.latentCount).map { "<td>\(fmt(m.latentCorrelation[i][$0]))</td>" }.joined()
                    + "</tr>\n"
            }
            s += "</tbody>\n</table>\n"
        }

        s += "<h3>Figures</h3>\n"
        if let log = r.log {
            if log.points.isEmpty {
                s +=
                    "<p class=\"note\">No training curves: the log <code>\(escape(log.path))</code> has no step up to this checkpoint's step \(a.model.checkpoint.step).</p>\n"
            }
        } else {
            s +=
                "<p class=\"note\">No training curves: no training log was found (<code>train</code> writes it next to the checkpoint as <code>\(escape((TrainingLog.defaultPath(forCheckpoint: r.checkpointPath) as NSString).lastPathComponent))</code>; <code>analyze --log FILE</code> names another).</p>\n"
        }
        for f in figures {
            s +=
                "<figure><img src=\"\(attribute(prefix + f.file))\" alt=\"\(attribute(f.caption))\">"
                + "<figcaption>\(escape(f.caption))</figcaption></figure>\n"
        }
        s +=
            "<p class=\"note\">Numbers: <a href=\"\(attribute(prefix))metrics.json\">metrics.json</a>, "
            + "per image: <a href=\"\(attribute(prefix))latents.csv\">latents.csv</a>.</p>\n"
        return s
    }

    /// The summary rows of the disentanglement scores beyond MIG.
    static func scoreRows(_ r: AnalysisRecord) -> String {
        let m = r.metrics, fvae = r.analysis.factorVAE, scores = r.analysis.scores
        let settings = r.analysis.settings.factorVAE
        var s = "<tr><td>SAP (continuous factors: R^2 of the best latent minus the second, mean over the factors)</td><td>\(fmt(m.sap.score))</td></tr>\n"
        s +=
            "<tr><td>DCI disentanglement (Lasso, alpha \(Range.label(m.dci.alpha)), on standardised values)</td><td>\(fmt(m.dci.disentanglement))</td></tr>\n"
        s += "<tr><td>DCI completeness</td><td>\(fmt(m.dci.completeness))</td></tr>\n"
        s +=
            "<tr><td>DCI informativeness (Lasso R^2 on \(m.dci.testCount) test circles; \(fmt(m.dci.informativenessTrain)) on \(m.dci.trainCount) training circles)</td><td>\(fmt(m.dci.informativenessTest))</td></tr>\n"
        s += "<tr><td>modularity (\(m.mig.bins) bins)</td><td>\(fmt(m.modularity.score))</td></tr>\n"
        s +=
            "<tr><td>FactorVAE score (\(settings.evalVotes) evaluation batches of \(settings.batchSize), chance \(fmt(1 / Double(fvae.factorCount), digits: 2)); training accuracy \(fmt(fvae.trainAccuracy)); \(fvae.active.filter { $0 }.count) of \(fvae.active.count) latents active)</td><td>\(fmt(fvae.evalAccuracy))</td></tr>\n"
        s +=
            "<tr><td>spare latents still on (of \(scores.spareCount))</td><td>\(scores.spareActive)</td></tr>\n"
        s +=
            "<tr><td>disentangled: \(escape(Disentanglement.criterion))</td><td>\(scores.isDisentangled ? "yes" : "no")</td></tr>\n"
        return s
    }

    /// The factor the FactorVAE classifier assigns latent j, or "–" for a pruned latent or one
    /// with no votes.
    static func factorVAEClass(_ score: FactorVAEScore, _ factors: [Factor], _ j: Int) -> String {
        guard score.active[j], score.trainVotes.contains(where: { $0[j] > 0 }) else { return "–" }
        return factors[score.classifier[j]].label
    }

    static func fmt(_ x: Double?, digits: Int = 3) -> String {
        guard let x, x.isFinite else { return "–" }
        return String(format: "%.\(digits)f", x)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func attribute(_ s: String) -> String {
        escape(s).replacingOccurrences(of: "\"", with: "&quot;")
    }
}
