import Foundation
import VAEAnalysis

/// Writes analyses to disk: per analysis `latents.csv`, `metrics.json`, the figures and
/// `report.html`; for several, each in its own subdirectory plus a comparison `report.html`
/// and `comparison.json` on top.
public enum ReportWriter {
    /// Writes one analysis into `directory` (created if missing) and returns the report's path.
    /// - Parameter progress: called with a short description before each slow step.
    @discardableResult
    public static func write(
        _ record: AnalysisRecord, to directory: String,
        progress: (String) -> Void = { _ in }
    ) throws -> String {
        let figures = try writeFiles(record, to: directory, progress: progress)
        let path = (directory as NSString).appendingPathComponent("report.html")
        try save(HTMLReport.single(record, figures: figures), to: path)
        return path
    }

    /// Writes several analyses side by side: each into `directory/<name>/`, then the comparison
    /// page `directory/report.html` and `directory/comparison.json`. Returns the page's path.
    @discardableResult
    public static func writeComparison(
        _ records: [AnalysisRecord], to directory: String,
        progress: (String) -> Void = { _ in }
    ) throws -> String {
        var allFigures: [[HTMLReport.Figure]] = []
        for record in records {
            let sub = (directory as NSString).appendingPathComponent(record.name)
            allFigures.append(try writeFiles(record, to: sub, progress: progress))
            let single = HTMLReport.single(record, figures: allFigures[allFigures.count - 1])
            try save(single, to: (sub as NSString).appendingPathComponent("report.html"))
        }
        let json = JSON.array(records.map { MetricsFile.json($0) })
        try save(json.text() + "\n", to: (directory as NSString).appendingPathComponent("comparison.json"))
        let path = (directory as NSString).appendingPathComponent("report.html")
        try save(HTMLReport.comparison(records, figures: allFigures), to: path)
        return path
    }

    /// The data files and figures of one analysis; returns the figures in report order.
    static func writeFiles(
        _ record: AnalysisRecord, to directory: String,
        progress: (String) -> Void
    ) throws -> [HTMLReport.Figure] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError("cannot create directory \(directory)")
        }
        let a = record.analysis
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        try save(MetricsFile.csv(a), to: file("latents.csv"))
        try save(MetricsFile.json(record).text() + "\n", to: file("metrics.json"))

        progress("\(record.name): drawing figures")
        var figures: [HTMLReport.Figure] = []
        func add(_ name: String, _ data: Data, _ caption: String) throws {
            try save(data, to: file(name))
            figures.append(HTMLReport.Figure(file: name, caption: caption))
        }
        for j in 0..<a.latentDim {
            let best = [Factor.x, .y].map { f in (f, record.rho(j, f) ?? 0) }.max { abs($0.1) < abs($1.1) }
            let note = best.map { " Spearman with \($0.0.label): \(HTMLReport.fmt($0.1))." } ?? ""
            try add(
                "centres_latent\(j).png", Figures.centreScatter(a, latent: j),
                "Circle centres coloured by latent \(j). A latent that tracks x changes colour left to right only; one that tracks y, top to bottom only.\(note)"
            )
        }
        if let scatter = try Figures.latentScatter(a), let (p, q) = Figures.scatterPair(a) {
            try add(
                "latent_scatter.png", scatter,
                "Latent \(p) against latent \(q) for every circle, coloured by its true x (left) and y (right). Pearson correlation \(HTMLReport.fmt(record.metrics.latentCorrelation[p][q]))."
            )
        }
        try add(
            "spearman_matrix.png", Figures.spearmanMatrix(a),
            "|Spearman| of each latent (rows) with each factor (columns) as square areas; red: the latent matched to the factor. Disentangled: one red square per factor column, nothing else in its row among the factors, and every spare latent off."
        )
        if let scatter = try Figures.factorScatter(a) {
            try add(
                "factor_scatter.png", scatter,
                "Each factor (\(a.metrics.factors.map(\.label).joined(separator: ", "))) against the latent matched to it, for every circle."
            )
        }
        try add(
            "reconstructions.png", Figures.reconstructions(a),
            "Inputs (top) and their reconstructions from the latent means (bottom). Squared error per pixel \(HTMLReport.fmt(a.meanSquaredError, digits: 4))."
        )
        if a.latentDim == 2 {
            try add(
                "latent_grid.png", Figures.latentGrid(a),
                "Decoded images on a grid over the latent plane (latent 0 to the right, latent 1 upwards).")
        }
        try add(
            "traversals.png", Figures.traversals(a),
            "Traversals: each row changes one latent (1-99 % of its encoded means), the others held at their means.")
        if let log = record.log, !log.points.isEmpty {
            let perLatent =
                log.latentCount == nil
                ? " The log has no per-latent KL (kl_latents), so only the total is drawn."
                : " A latent has switched on where its KL leaves 0."
            try add(
                "training_curves.png", Figures.trainingCurves(log),
                "Training curves from \((log.path as NSString).lastPathComponent) (\(log.points.count) logged steps): loss and reconstruction per image (left), KL (right).\(perLatent)"
            )
        }
        progress("\(record.name): animating the decoder")
        try add(
            "sweep.gif", Figures.sweep(a),
            a.latentDim == 2
                ? "The decoder as z goes round the latent plane (red dot over the encoded means)."
                : "The decoder as each latent in turn sweeps its range.")
        return figures
    }

    static func save(_ text: String, to path: String) throws {
        try save(Data(text.utf8), to: path)
    }

    static func save(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError("cannot write \(path)")
        }
    }
}
