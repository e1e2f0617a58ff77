import Foundation
import VAEAnalysis
import VAECore

/// `metrics.json` and `latents.csv`: the figures' numbers, machine-readable.
enum MetricsFile {
    static func json(_ record: AnalysisRecord) -> JSON {
        let a = record.analysis, m = record.metrics, c = record.configuration
        let factorKeys = Factor.allCases
        let spare = Set(m.spareLatents)
        func byFactor(_ value: (Factor) -> Double?) -> JSON {
            .object(factorKeys.map { ($0.rawValue, .number(value($0))) })
        }
        let latents: [JSON] = (0..<m.latentCount).map { j in
            var members: [(String, JSON)] = [
                ("index", .integer(j)),
                ("standard_deviation", .number(m.latentStandardDeviation[j])),
                ("pearson", byFactor { m.pearson(j, $0) }),
                ("spearman", byFactor { m.spearman(j, $0) }),
                (
                    "mutual_information_nats",
                    .object(
                        m.factors.enumerated().map {
                            ($0.element.rawValue, .number(m.mig.information[j][$0.offset]))
                        })
                ),
                ("spare", .bool(spare.contains(j))),
                ("switched_off", .bool(m.isSwitchedOff(j))),
            ]
            if let kl = m.meanKL, let active = m.active {
                members += [("mean_kl_nats", .number(kl[j])), ("active", .bool(active[j]))]
            }
            return .object(members)
        }
        let matching: [(String, JSON)] = m.factors.map { f in
            guard let j = m.matchedLatent(for: f) else { return (f.rawValue, .null) }
            return (
                f.rawValue,
                .object([
                    ("latent", .integer(j)), ("spearman", .number(record.rho(j, f))),
                    ("pearson", .number(record.r(j, f))),
                ])
            )
        }
        var centres: [(String, JSON)] = []
        switch a.images.centres {
        case .uniform: centres = [("distribution", .string("uniform"))]
        case .normal(let sigma): centres = [("distribution", .string("normal")), ("sigma", .number(sigma))]
        }
        return .object([
            (
                "checkpoint",
                .object([
                    ("path", .string(record.checkpointPath)),
                    ("name", .string(record.name)),
                    ("model", .string(c.model.kind.rawValue)),
                    ("hidden", .array(c.model.hidden.map { .integer($0) })),
                    ("latent_dim", .integer(c.model.latentDim)),
                    ("reconstruction_loss", .string(c.loss.reconstruction.rawValue)),
                    ("kl", .string(c.loss.kl.rawValue)),
                    ("beta", .number(Double(c.loss.beta))),
                    ("step", .integer(a.model.checkpoint.step)),
                    ("training_data_seed", .string(String(c.images.seed))),
                ])
            ),
            ("factors", .array(m.factors.map { .string($0.rawValue) })),
            (
                "images",
                .object([
                    ("samples", .integer(a.sampleCount)),
                    ("seed", .string(String(a.images.seed))),
                    ("side", .integer(a.images.side)),
                    ("radius", .number(a.images.radius)),
                    ("max_radius", .number(a.images.largestRadius)),
                    ("intensity", .number(a.images.intensity)),
                    ("max_intensity", .number(a.images.intensities.upperBound)),
                    ("centres", .object(centres)),
                    ("integer_centres", .bool(a.images.integerCentres)),
                    ("antialias", .bool(a.images.antialias)),
                ])
            ),
            (
                "finding",
                .object([
                    ("verdict", .string(a.finding.verdict.rawValue)),
                    ("sentence", .string(a.finding.sentence)),
                    ("disentangled", .bool(a.finding.disentangled)),
                    ("criterion", .string(Disentanglement.criterion)),
                ])
            ),
            ("latents", .array(latents)),
            (
                "latent_correlation_pearson",
                .array(m.latentCorrelation.map { .array($0.map { JSON.number($0) }) })
            ),
            (
                "mig",
                .object([
                    ("score", .number(m.mig.score)),
                    ("factors", .array(m.factors.map { .string($0.rawValue) })),
                    (
                        "gap",
                        .object(
                            m.factors.enumerated().map {
                                ($0.element.rawValue, .number(m.mig.gaps[$0.offset]))
                            })
                    ),
                    (
                        "factor_entropy_nats",
                        .object(
                            m.factors.enumerated().map {
                                ($0.element.rawValue, .number(m.mig.factorEntropy[$0.offset]))
                            })
                    ),
                    ("bins", .integer(m.mig.bins)),
                    (
                        "estimator",
                        .string(
                            "latents and factors each cut into \(m.mig.bins) equal-width bins over their observed range; plug-in entropy and mutual information in nats (disentanglement_lib's histogram discretizer and mutual_info_score); MIG = mean over factors of (top - second mutual information) / factor entropy"
                        )
                    ),
                ])
            ),
            ("sap", sap(m)),
            ("dci", dci(m)),
            ("modularity", modularity(m)),
            ("factor_vae", factorVAE(a)),
            ("disentangled", disentangled(a.scores)),
            ("training_log", trainingLog(record.log)),
            (
                "matching",
                .object(
                    matching + [
                        (
                            "criterion",
                            .string(
                                "distinct latents for the factors maximising the sum of their |spearman|, every assignment tried"
                            )
                        )
                    ])
            ),
            (
                "reconstruction",
                .object([
                    ("loss", .string(c.loss.reconstruction.rawValue)),
                    ("loss_per_image", .number(a.reconstructionLoss)),
                    ("mse_per_pixel", .number(a.meanSquaredError)),
                ])
            ),
            (
                "kl",
                m.meanKL.map { kl in
                    .object([
                        ("mean_per_latent_nats", .array(kl.map { .number($0) })),
                        ("total_nats", .number(kl.reduce(0, +))),
                        ("active_threshold_nats", .number(LatentMetrics.activeKLThreshold)),
                    ])
                } ?? .null
            ),
        ])
    }

    /// The values of `values` keyed by the factors' names.
    static func byFactor<T>(_ m: LatentMetrics, _ values: [T], _ json: (T) -> JSON) -> JSON {
        .object(zip(m.factors, values).map { ($0.rawValue, json($1)) })
    }

    static func sap(_ m: LatentMetrics) -> JSON {
        .object([
            ("score", .number(m.sap.score)),
            ("r2", .array(m.sap.scores.map { row in byFactor(m, row) { .number($0) } })),
            ("gap", byFactor(m, m.sap.gaps) { .number($0) }),
            (
                "estimator",
                .string(
                    "continuous factors (disentanglement_lib's continuous_factors=True): r2[latent][factor] = cov^2 / (var latent * var factor); SAP = mean over the factors of (best - second best r2)"
                )
            ),
        ])
    }

    static func dci(_ m: LatentMetrics) -> JSON {
        let d = m.dci
        return .object([
            ("disentanglement", .number(d.disentanglement)),
            ("completeness", .number(d.completeness)),
            ("informativeness_test", .number(d.informativenessTest)),
            ("informativeness_train", .number(d.informativenessTrain)),
            ("importance", .array(d.importance.map { row in byFactor(m, row) { .number($0) } })),
            ("disentanglement_per_latent", .array(d.disentanglementPerLatent.map { .number($0) })),
            ("completeness_per_factor", d.completenessPerFactor.map { byFactor(m, $0) { .number($0) } } ?? .null),
            ("train_samples", .integer(d.trainCount)),
            ("test_samples", .integer(d.testCount)),
            ("alpha", .number(d.alpha)),
            (
                "regressor",
                .string(
                    "Lasso (alpha \(d.alpha)) per factor on latents and factors standardised with the training part's mean and std; importance = |weight|; the first n - n/3 circles train, the last n/3 test; informativeness = R^2 (1 - SSE/SST), mean over the factors"
                )
            ),
        ])
    }

    static func modularity(_ m: LatentMetrics) -> JSON {
        .object([
            ("score", .number(m.modularity.score)),
            ("per_latent", .array(m.modularity.perLatent.map { .number($0) })),
            ("bins", .integer(m.mig.bins)),
            (
                "estimator",
                .string(
                    "from MIG's binned mutual information m[latent][factor]: 1 - (sum m^2 - max m^2) / (max m^2 (K - 1)) per latent (0 when max m = 0), mean over latents"
                )
            ),
        ])
    }

    static func factorVAE(_ a: LatentAnalysis) -> JSON {
        let f = a.factorVAE, s = a.settings.factorVAE
        let names = a.metrics.factors.map(\.rawValue)
        func votes(_ v: [[Int]]) -> JSON {
            .object(zip(names, v).map { ($0, .array($1.map { .integer($0) })) })
        }
        return .object([
            ("eval_accuracy", .number(f.evalAccuracy)),
            ("train_accuracy", .number(f.trainAccuracy)),
            ("chance", .number(1 / Double(f.factorCount))),
            ("active", .array(f.active.map { .bool($0) })),
            ("classifier", .array(f.classifier.map { .string(names[$0]) })),
            ("train_votes", votes(f.trainVotes)),
            ("eval_votes", votes(f.evalVotes)),
            ("batch_size", .integer(s.batchSize)),
            ("train_batches", .integer(s.trainVotes)),
            ("eval_batches", .integer(s.evalVotes)),
            ("prune_threshold", .number(s.pruneThreshold)),
            (
                "estimator",
                .string(
                    "per batch: one of the K factors (evenly at random) fixed exactly at a drawn value, the others free; vote for the active latent with the least batch variance / full-sample variance (ddof 1); majority-vote classifier from the training batches; accuracy on fresh evaluation batches"
                )
            ),
        ])
    }

    static func disentangled(_ s: DisentanglementScores) -> JSON {
        .object([
            ("value", .bool(s.isDisentangled)),
            ("criterion", .string(Disentanglement.criterion)),
            ("match_threshold", .number(Disentanglement.matchedThreshold)),
            ("cross_threshold", .number(Disentanglement.crossThreshold)),
            ("spare_threshold", .number(LatentMetrics.spareThreshold)),
            ("matched", .object(zip(s.factors, s.matched).map { ($0.rawValue, .number($1)) })),
            ("cross", .number(s.cross)),
            (
                "cross_definition",
                .string("the largest |spearman| of a factor's matched latent with any other factor")
            ),
            ("spare_latents", .integer(s.spareCount)),
            ("spare_on", .integer(s.spareActive)),
        ])
    }

    static func trainingLog(_ log: TrainingLog?) -> JSON {
        guard let log else { return .null }
        return .object([
            ("path", .string(log.path)),
            ("points", .integer(log.points.count)),
            ("last_step", log.points.last.map { .integer($0.step) } ?? .null),
            ("kl_per_latent", .bool(log.latentCount != nil)),
        ])
    }

    /// One row per image: index, the true factors, each latent mean, and each log-variance.
    static func csv(_ a: LatentAnalysis) -> String {
        let l = a.latentDim
        var header = ["index"] + Factor.allCases.map(\.rawValue) + (0..<l).map { "z\($0)" }
        if a.logVariances != nil { header += (0..<l).map { "logvar\($0)" } }
        let factors = CircleFactors(circles: a.circles, side: a.images.side)
        var lines = [header.joined(separator: ",")]
        lines.reserveCapacity(a.sampleCount + 1)
        for i in 0..<a.sampleCount {
            var fields = [String(i)] + Factor.allCases.map { "\(factors[$0][i])" }
            fields += (0..<l).map { "\(a.means[i * l + $0])" }
            if let lv = a.logVariances { fields += (0..<l).map { "\(lv[i * l + $0])" } }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
