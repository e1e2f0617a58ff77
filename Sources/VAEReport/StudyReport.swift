import Foundation
import VAEAnalysis

/// One run of a study: a configuration at one seed, and what its analysis measured.
public struct StudyRun {
    public let seed: UInt64
    /// The run's directory, relative to the study's (`runs/<configuration>-seed<S>`).
    public let directory: String
    /// Its analysis's `metrics.json`, relative to the study's directory.
    public let metricsPath: String
    /// The numbers read from it; nil when the run has no analysis yet.
    public let metrics: StudyMetrics?
    /// Where and why its training stopped being finite; nil when it did not.
    public let divergence: Divergence?
    /// Its UDR among the seeds of its configuration (`StudyUDR`); nil when undefined.
    public let udr: StudyUDR.Scores?

    /// A run whose loss or gradient stopped being finite: a result, not disentangled.
    public struct Divergence: Equatable {
        public let step: Int
        public let reason: String

        public init(step: Int, reason: String) {
            self.step = step
            self.reason = reason
        }
    }

    public init(
        seed: UInt64, directory: String, metricsPath: String, metrics: StudyMetrics?,
        divergence: Divergence? = nil, udr: StudyUDR.Scores? = nil
    ) {
        self.seed = seed
        self.directory = directory
        self.metricsPath = metricsPath
        self.metrics = divergence == nil ? metrics : nil
        self.divergence = divergence
        self.udr = udr
    }

    /// Whether the run meets `Disentanglement`'s criterion (false without metrics).
    public var disentangled: Bool { metrics?.disentangled ?? false }

    /// `finished` (analysed), `diverged`, or `missing` (no analysis yet).
    public var status: String { divergence != nil ? "diverged" : metrics != nil ? "finished" : "missing" }

    /// Whether the run has a verdict: analysed, or diverged (not disentangled).
    public var counted: Bool { metrics != nil || divergence != nil }
}

/// One configuration of a study: the grid's values that define it and its runs, one per seed.
public struct StudyConfiguration {
    /// File-name-safe and unique within the study.
    public let name: String
    /// The grid's `key=value` pairs, in the grid's order (empty without a grid).
    public let axes: [(key: String, value: String)]
    public let runs: [StudyRun]

    public init(name: String, axes: [(key: String, value: String)], runs: [StudyRun]) {
        self.name = name
        self.axes = axes
        self.runs = runs
    }

    /// Runs with a verdict (analysed or diverged), and of those the disentangled ones: the k/n
    /// of the study.
    public var measured: Int { runs.filter(\.counted).count }
    public var disentangledCount: Int { runs.filter(\.disentangled).count }
    public var divergedCount: Int { runs.filter { $0.divergence != nil }.count }
}

/// The numbers of one run's `metrics.json` that a study shows. Each is one `StudyMetric`, so a
/// new metric of the analysis is one more entry in `StudyMetric.all`.
public struct StudyMetrics {
    /// `StudyMetric.key` -> value (absent where undefined).
    public let values: [String: Double]
    /// The factors the run's circles vary (x and y for files written before there were more).
    public let factors: [String]
    /// Spearman's rho of each factor's matched latent with its factor.
    public let matched: [Double?]
    /// Spearman's rho of each factor's matched latent with every other factor (i-major).
    public let cross: [Double?]
    /// The standard deviation of each spare latent's values (nan where the file lacks it).
    public let spare: [Double]

    /// - Throws: `ReportError` when `data` is not an analysis's metrics.json.
    public init(json data: Data, path: String) throws {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let latents = root["latents"] as? [[String: Any]], root["matching"] is [String: Any]
        else { throw ReportError("\(path): not an analysis's metrics.json") }
        func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
        func at(_ keys: [String]) -> Any? {
            keys.reduce(root as Any?) { ($0 as? [String: Any])?[$1] }
        }
        func latent(for factor: String) -> Int? { number(at(["matching", factor, "latent"])).map(Int.init) }
        func rho(_ j: Int?, _ factor: String) -> Double? {
            guard let j, latents.indices.contains(j) else { return nil }
            return number((latents[j]["spearman"] as? [String: Any])?[factor])
        }
        let factors = (root["factors"] as? [String]) ?? ["x", "y"]
        self.factors = factors
        let chosen = factors.map(latent(for:))
        let matched = zip(chosen, factors).map { rho($0, $1) }
        let cross = chosen.enumerated().flatMap { i, j in
            factors.enumerated().filter { $0.offset != i }.map { rho(j, $0.element) }
        }
        let taken = Set(chosen.compactMap { $0 })
        let spare = latents.indices.filter { !taken.contains($0) }.map {
            number(latents[$0]["standard_deviation"]) ?? .nan
        }
        (self.matched, self.cross, self.spare) = (matched, cross, spare)
        var values: [String: Double] = [:]
        for metric in StudyMetric.all {
            let value: Double?
            switch metric.source {
            case .json(let path): value = number(at(path))
            case .matched(let factor): value = factors.firstIndex(of: factor).flatMap { matched[$0] }.map(abs)
            case .cross:
                let all = cross.compactMap { $0 }.map(abs)
                value = all.count == cross.count ? all.max() : nil
            case .spareOn: value = Double(spare.filter { !($0 <= LatentMetrics.spareThreshold) }.count)
            }
            if let value, value.isFinite { values[metric.key] = value }
        }
        self.values = values
    }

    public var disentangled: Bool { Disentanglement.holds(matched: matched, cross: cross, spare: spare) }
}

/// A number of a run that the study tabulates: read from metrics.json, or from the matching.
public struct StudyMetric: Sendable {
    enum Source: Sendable {
        /// The number at this path of keys in metrics.json.
        case json([String])
        /// |rho| of the latent matched to this factor with it (absent where the circles do not
        /// vary the factor).
        case matched(String)
        /// The largest |rho| of a matched latent with another factor.
        case cross
        /// How many spare latents are still on.
        case spareOn
    }

    /// The column name in study.csv and the key in study.json.
    public let key: String
    /// The table's heading.
    public let label: String
    let source: Source
    /// Decimals in the study's table (0 for counts).
    var digits = 3

    public static let all: [StudyMetric] = [
        StudyMetric(key: "mig", label: "MIG", source: .json(["mig", "score"])),
        StudyMetric(key: "matched_spearman_x", label: "|rho| x", source: .matched("x")),
        StudyMetric(key: "matched_spearman_y", label: "|rho| y", source: .matched("y")),
        StudyMetric(key: "matched_spearman_radius", label: "|rho| radius", source: .matched("radius")),
        StudyMetric(key: "matched_spearman_intensity", label: "|rho| intensity", source: .matched("intensity")),
        StudyMetric(key: "cross_spearman", label: "cross |rho|", source: .cross),
        StudyMetric(key: "spare_on", label: "spare on", source: .spareOn, digits: 0),
        StudyMetric(
            key: "recon_loss", label: "recon / image", source: .json(["reconstruction", "loss_per_image"])),
        StudyMetric(key: "kl_total_nats", label: "KL (nats)", source: .json(["kl", "total_nats"])),
    ]

    /// The metrics a study shows: every one but the matched |rho| of a factor no run varies
    /// (the radius and the intensity of fixed discs).
    static func shown(_ configurations: [StudyConfiguration]) -> [StudyMetric] {
        all.filter { metric in
            guard case .matched(let factor) = metric.source, factor != "x", factor != "y" else { return true }
            return configurations.contains { c in c.runs.contains { $0.metrics?.values[metric.key] != nil } }
        }
    }
}

/// The report of a study: study.csv (a row per run), study.json (per configuration, its runs
/// and k/n) and study.html (the counts, a table and the strip plot `study.png`).
public enum StudyReport {
    /// Writes the study's files into `directory` and returns the page's path.
    @discardableResult
    public static func write(_ configurations: [StudyConfiguration], to directory: String) throws -> String {
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        try ReportWriter.save(csv(configurations), to: file("study.csv"))
        try ReportWriter.save(json(configurations).text() + "\n", to: file("study.json"))
        try ReportWriter.save(try StudyFigure.strips(configurations), to: file("study.png"))
        let path = file("study.html")
        try ReportWriter.save(html(configurations), to: path)
        return path
    }

    /// "beta=4 epochs=2", or "(the sweep's flags)" without a grid.
    public static func describe(_ c: StudyConfiguration) -> String {
        c.axes.isEmpty ? "(the sweep's flags)" : c.axes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    static func csv(_ configurations: [StudyConfiguration]) -> String {
        let keys = axisKeys(configurations)
        let metrics = StudyMetric.shown(configurations)
        var lines = [
            (["configuration"] + keys + ["seed", "measured", "disentangled"] + metrics.map(\.key)
                + ["udr_spearman", "udr_lasso", "status", "diverged_step", "diverged_reason"])
                .joined(separator: ",")
        ]
        for c in configurations {
            let values = Dictionary(c.axes.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            for run in c.runs {
                var fields = [c.name] + keys.map { values[$0] ?? "" }
                fields += [String(run.seed), run.metrics == nil ? "false" : "true", String(run.disentangled)]
                fields += metrics.map { m in run.metrics?.values[m.key].map { "\($0)" } ?? "" }
                fields += UDR.Similarity.allCases.map { k in run.udr?[k].map { "\($0)" } ?? "" }
                fields += [run.status, run.divergence.map { String($0.step) } ?? "", run.divergence?.reason ?? ""]
                lines.append(fields.map(csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ configurations: [StudyConfiguration]) -> JSON {
        .object([
            (
                "criterion",
                .object([
                    ("text", .string(Disentanglement.criterion)),
                    ("matched_spearman_at_least", .number(Disentanglement.matchedThreshold)),
                    ("cross_spearman_at_most", .number(Disentanglement.crossThreshold)),
                    ("spare_standard_deviation_at_most", .number(LatentMetrics.spareThreshold)),
                ])
            ),
            ("udr", udrJSON(configurations)),
            (
                "configurations",
                .array(
                    configurations.map { c in
                        .object([
                            ("name", .string(c.name)),
                            ("grid", .object(c.axes.map { ($0.key, .string($0.value)) })),
                            ("disentangled", .integer(c.disentangledCount)),
                            ("measured", .integer(c.measured)),
                            ("runs", .array(c.runs.map(runJSON))),
                        ])
                    })
            ),
        ])
    }

    private static func runJSON(_ run: StudyRun) -> JSON {
        .object([
            ("seed", .string(String(run.seed))),
            ("directory", .string(run.directory)),
            ("metrics_file", .string(run.metricsPath)),
            ("measured", .bool(run.metrics != nil)),
            ("disentangled", .bool(run.disentangled)),
            ("metrics", .object(StudyMetric.all.map { ($0.key, .number(run.metrics?.values[$0.key])) })),
            ("udr", .object(UDR.Similarity.allCases.map { ($0.rawValue, .number(run.udr?[$0])) })),
            ("status", .string(run.status)),
            (
                "diverged",
                run.divergence.map { .object([("step", .integer($0.step)), ("reason", .string($0.reason))]) }
                    ?? .null
            ),
        ])
    }

    /// The study's UDR: its settings, its rank correlation with MIG, and the label-free pick.
    private static func udrJSON(_ configurations: [StudyConfiguration]) -> JSON {
        .object([
            ("kl_threshold_nats", .number(UDR.klThreshold)),
            ("lasso_alpha", .number(UDR.lassoAlpha)),
            (
                "spearman_with_mig",
                .object(UDR.Similarity.allCases.map { ($0.rawValue, .number(StudyUDR.correlationWithMIG(configurations, $0))) })
            ),
            (
                "best_udr_pick",
                .object(
                    UDR.Similarity.allCases.map { kind in
                        let picks = StudyUDR.picks(configurations, kind)
                        return (
                            kind.rawValue,
                            .object([
                                ("configurations", .integer(picks.compactMap { $0 }.count)),
                                ("disentangled", .integer(picks.filter { $0?.disentangled ?? false }.count)),
                                (
                                    "configurations_with_a_disentangled_run",
                                    .integer(
                                        zip(configurations, picks).filter { $1 != nil && $0.disentangledCount > 0 }.count)
                                ),
                                ("seeds", .array(picks.map { $0.map { .string(String($0.seed)) } ?? .null })),
                            ])
                        )
                    })
            ),
        ])
    }

    /// The page's paragraph on UDR, or nothing when no run has one.
    private static func udrHTML(_ configurations: [StudyConfiguration]) -> String {
        guard configurations.contains(where: { $0.runs.contains { $0.udr != nil } }) else {
            return "<p class=\"note\">UDR needs at least 2 analysed seeds per configuration.</p>\n"
        }
        var text = "<h2>Choosing without labels: UDR</h2>\n<p>"
        text +=
            "UDR (Duan et al. 2020, as disentanglement_lib computes it) scores a run by how well the other seeds "
            + "of its configuration reproduce its latents one to one (latents with mean KL at most "
            + "\(HTMLReport.fmt(UDR.klThreshold, digits: 2)) nats left out), from the latent means alone. "
        for kind in UDR.Similarity.allCases {
            let picks = StudyUDR.picks(configurations, kind)
            let chosen = picks.compactMap { $0 }.count
            let good = picks.filter { $0?.disentangled ?? false }.count
            let possible = zip(configurations, picks).filter { $1 != nil && $0.disentangledCount > 0 }.count
            text +=
                "<br><b>\(kind == .spearman ? "Spearman" : "Lasso")</b>: Spearman's rho with MIG over the runs "
                + "\(HTMLReport.fmt(StudyUDR.correlationWithMIG(configurations, kind), digits: 2)); "
                + "the best-UDR run of each configuration is disentangled in \(good) of \(chosen) configurations "
                + "(\(possible) of them have a disentangled run)."
        }
        return text + "</p>\n"
    }

    static func html(_ configurations: [StudyConfiguration]) -> String {
        let runs = configurations.reduce(0) { $0 + $1.runs.count }
        var body =
            "<h1>Study: \(configurations.count) configuration\(configurations.count == 1 ? "" : "s"), \(runs) runs</h1>\n"
        body +=
            "<p class=\"finding\">"
            + configurations.map {
                HTMLReport.escape("\(describe($0)): \($0.disentangledCount)/\($0.measured) disentangled")
            }.joined(separator: "<br>") + "</p>\n"
        body +=
            "<p class=\"note\">Disentangled: \(HTMLReport.escape(Disentanglement.criterion)), on the fresh circles "
            + "of each run's analysis; the latents matched to the factors are the distinct latents maximising "
            + "the sum of their |rho|; spare on: latents no factor is matched to whose values still vary. "
            + "k/n counts the runs with an analysis.</p>\n"
        let diverged = configurations.reduce(0) { $0 + $1.divergedCount }
        if diverged > 0 {
            body +=
                "<p class=\"note\">\(diverged) run\(diverged == 1 ? "" : "s") diverged (loss or gradient no longer "
                + "finite): counted in n as not disentangled, marked diverged in the runs table with the step and the reason.</p>\n"
        }
        let missing = configurations.reduce(0) { $0 + $1.runs.count - $1.measured }
        if missing > 0 {
            body +=
                "<p class=\"note\">\(missing) run\(missing == 1 ? " has" : "s have") no analysis yet (shown as –).</p>\n"
        }
        body +=
            "<figure><img src=\"study.png\" alt=\"MIG and matched |Spearman| of every seed, per configuration\">"
            + "<figcaption>Each dot is one seed: MIG (top) and the matched latents' |Spearman| with "
            + StudyFigure.factors(configurations).joined(separator: ", ") + " (bottom), "
            + "filled when the run is disentangled; the bar is the median, the dashed line the "
            + "\(HTMLReport.fmt(Disentanglement.matchedThreshold, digits: 2)) threshold.</figcaption></figure>\n"

        body += "<h2>Configurations</h2>\n<table>\n<thead><tr><th>#</th><th class=\"text\">configuration</th>"
        body +=
            "<th>disentangled</th><th>MIG median</th><th>MIG range</th><th>min |rho| median</th></tr></thead>\n<tbody>\n"
        for (k, c) in configurations.enumerated() {
            let mig = c.runs.compactMap { $0.metrics?.values["mig"] }.sorted()
            let rho = c.runs.compactMap { r -> Double? in
                guard let m = r.metrics, m.matched.allSatisfy({ $0 != nil }) else { return nil }
                return m.matched.compactMap { $0 }.map(abs).min()
            }.sorted()
            let range = mig.isEmpty ? "–" : "\(HTMLReport.fmt(mig.first))–\(HTMLReport.fmt(mig.last))"
            body +=
                "<tr><td>\(k + 1)</td><td class=\"text\">\(HTMLReport.escape(describe(c)))</td>"
                + "<td>\(c.disentangledCount)/\(c.measured)</td><td>\(HTMLReport.fmt(median(mig)))</td>"
                + "<td>\(range)</td><td>\(HTMLReport.fmt(median(rho)))</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"

        body += udrHTML(configurations)
        body += "<h2>Runs</h2>\n<table>\n<thead><tr><th class=\"text\">configuration</th><th>seed</th>"
        let metrics = StudyMetric.shown(configurations)
        body += metrics.map { "<th>\(HTMLReport.escape($0.label))</th>" }.joined()
        body += "<th>UDR Spearman</th><th>UDR Lasso</th>"
        body += "<th class=\"text\">disentangled</th></tr></thead>\n<tbody>\n"
        for c in configurations {
            for run in c.runs {
                let report = (run.metricsPath as NSString).deletingLastPathComponent + "/report.html"
                body +=
                    "<tr><td class=\"text\">\(HTMLReport.escape(describe(c)))</td>"
                    + "<td><a href=\"\(HTMLReport.attribute(report))\">\(run.seed)</a></td>"
                    + metrics.map { "<td>\(HTMLReport.fmt(run.metrics?.values[$0.key], digits: $0.digits))</td>" }
                    .joined()
                    + UDR.Similarity.allCases.map { "<td>\(HTMLReport.fmt(run.udr?[$0]))</td>" }.joined()
                    + "<td class=\"text\">\(verdict(run))</td></tr>\n"
            }
        }
        body += "</tbody>\n</table>\n"
        body +=
            "<p class=\"note\">Numbers: <a href=\"study.csv\">study.csv</a> (a row per run), "
            + "<a href=\"study.json\">study.json</a>; each seed links to its run's analysis.</p>\n"
        return HTMLReport.page(title: "Study", body: body)
    }

    /// The runs table's last cell: yes, no, diverged with its step and reason, or – without analysis.
    private static func verdict(_ run: StudyRun) -> String {
        if let d = run.divergence {
            return HTMLReport.escape("diverged: \(d.reason)")
        }
        return run.metrics == nil ? "–" : run.disentangled ? "yes" : "no"
    }

    /// Every grid key, in first-seen order.
    private static func axisKeys(_ configurations: [StudyConfiguration]) -> [String] {
        var keys: [String] = []
        for c in configurations {
            for axis in c.axes where !keys.contains(axis.key) { keys.append(axis.key) }
        }
        return keys
    }

    static func median(_ sorted: [Double]) -> Double? {
        sorted.isEmpty ? nil : Range.quantile(sorted, 0.5)
    }

    private static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
