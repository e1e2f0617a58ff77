import Foundation
import VAEAnalysis

/// UDR in a study: each run's score among the seeds of its configuration (`UDR`), and what it
/// would have chosen without labels: its rank correlation with MIG over the study's runs, and
/// how many of the configurations' best-UDR runs are disentangled.
public enum StudyUDR {
    /// A run's UDR, Spearman and Lasso variants (nil when undefined: fewer than 2 analysed
    /// seeds in its configuration).
    public struct Scores: Equatable, Sendable {
        public var spearman: Double?
        public var lasso: Double?

        public init(spearman: Double?, lasso: Double?) {
            self.spearman = spearman
            self.lasso = lasso
        }

        public subscript(kind: UDR.Similarity) -> Double? { kind == .spearman ? spearman : lasso }
    }

    /// A run's latent means and per-latent KL for UDR, from its analysis's latents.csv (columns
    /// `z0`, `z1`, ...) and metrics.json (`kl.mean_per_latent_nats`; absent for the AE).
    /// - Throws: `ReportError` naming the file when latents.csv has no latent columns or a
    ///   value that is not a number.
    public static func model(latentsCSV: Data, metricsJSON: Data, path: String) throws -> UDR.Model {
        let lines = String(decoding: latentsCSV, as: UTF8.self).split(separator: "\n")
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false) else {
            throw ReportError("\(path): empty")
        }
        var columns: [Int] = []
        while let k = header.firstIndex(of: "z\(columns.count)"[...]) { columns.append(k) }
        guard !columns.isEmpty else { throw ReportError("\(path): no latent columns z0, z1, ...") }
        var latents = [[Double]](repeating: [], count: columns.count)
        for (row, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            for (j, k) in columns.enumerated() {
                guard k < fields.count, let value = Double(fields[k]) else {
                    throw ReportError("\(path): row \(row + 1): z\(j) is not a number")
                }
                latents[j].append(value)
            }
        }
        let root = (try? JSONSerialization.jsonObject(with: metricsJSON)) as? [String: Any]
        let kl = ((root?["kl"] as? [String: Any])?["mean_per_latent_nats"] as? [Any])?.compactMap {
            ($0 as? NSNumber)?.doubleValue
        }
        return UDR.Model(latents: latents, klPerLatent: kl?.count == columns.count ? kl : nil)
    }

    /// Each run's UDR among the runs of its configuration that have a model (the others, and
    /// every run of a configuration with fewer than 2 models, get nil).
    public static func scores(_ models: [UDR.Model?]) -> [Scores?] {
        let present = models.indices.filter { models[$0] != nil }
        guard present.count >= 2 else { return models.map { _ in nil } }
        let given = present.compactMap { models[$0] }
        let spearman = UDR.scores(given, .spearman), lasso = UDR.scores(given, .lasso)
        var result = [Scores?](repeating: nil, count: models.count)
        for (k, index) in present.enumerated() {
            result[index] = Scores(spearman: spearman[k], lasso: lasso[k])
        }
        return result
    }

    /// Spearman's rho between a UDR variant and MIG over the runs with both, or nil.
    public static func correlationWithMIG(_ configurations: [StudyConfiguration], _ kind: UDR.Similarity)
        -> Double?
    {
        let pairs = configurations.flatMap(\.runs).compactMap { run -> (Double, Double)? in
            guard let u = run.udr?[kind], let mig = run.metrics?.values["mig"] else { return nil }
            return (u, mig)
        }
        guard pairs.count >= 3 else { return nil }
        return Correlation.spearman(pairs.map(\.0), pairs.map(\.1))
    }

    /// The label-free pick: per configuration with UDR, its run of highest UDR (the first seed
    /// on a tie).
    public static func picks(_ configurations: [StudyConfiguration], _ kind: UDR.Similarity) -> [StudyRun?] {
        configurations.map { c in
            c.runs.filter { $0.udr?[kind] != nil }.max { ($0.udr?[kind] ?? 0) < ($1.udr?[kind] ?? 0) }
        }
    }
}
