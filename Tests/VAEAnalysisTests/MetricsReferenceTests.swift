import BinaryTesting
import Foundation
import VAEAnalysis
import VAECore
import XCTest

/// Each disentanglement metric against an independent computation of disentanglement_lib's
/// formulas (numpy, scipy, scikit-learn: `Tests/Reference/metrics_reference.py`) on the same
/// fixed inputs, which this test writes and the script reads.
final class MetricsReferenceTests: XCTestCase {
    /// One fixed input: a code for the factors (x, y, and for four factors radius and
    /// intensity) that the test applies to the sample and to the FactorVAE batches alike.
    struct Case {
        let name: String
        var factors = 2
        let encode: ([Double], inout SplitMix64) -> [Double]
    }

    static let cases: [Case] = [
        Case(name: "linear mix with a weak third latent") { f, rng in
            let (x, y) = (f[0], f[1])
            return [x + 0.3 * y + 0.5 * rng.nextGaussian(), 0.2 * x - y + 0.5 * rng.nextGaussian(),
             0.3 * rng.nextGaussian()]
        },
        Case(name: "polar code with a collapsed latent") { f, rng in
            let (dx, dy) = (f[0] - 14, f[1] - 14)
            return [(dx * dx + dy * dy).squareRoot(), atan2(dy, dx), 0.01 * rng.nextGaussian()]
        },
        Case(name: "rotated by 45 degrees") { f, rng in
            [(f[0] + f[1]) / 2.squareRoot() + 0.05 * rng.nextGaussian(), (f[0] - f[1]) / 2.squareRoot()]
        },
        Case(name: "collapsed latent first, x cubed, y") { f, rng in
            [0.001 * rng.nextGaussian(), pow(f[0] - 14, 3), f[1] + 0.2 * rng.nextGaussian()]
        },
        Case(name: "four factors in four latents, two spare latents off", factors: 4) { f, rng in
            [0.01 * rng.nextGaussian(), f[1] + 0.1 * rng.nextGaussian(), -3 * f[3] + 0.01 * rng.nextGaussian(),
             f[0] + 0.1 * rng.nextGaussian(), 0.05 * rng.nextGaussian(), exp(f[2])]
        },
        Case(name: "radius read as the distance from the middle, a spare latent on", factors: 4) { f, rng in
            let (dx, dy) = (f[0] - 14, f[1] - 14)
            return [f[0], f[1], (dx * dx + dy * dy).squareRoot() + 0.3 * f[2], f[3], 0.8 * rng.nextGaussian()]
        },
    ]

    static let samples = 600, bins = 20, batch = 16, trainVotes = 60, evalVotes = 40

    struct Computed {
        let metrics: LatentMetrics
        let factorVAE: FactorVAEScore
        let input: [String: Any]
    }

    /// The sample, the Swift metrics and the JSON input for the reference, for each case. Two
    /// factors: centres uniform in [3, 25] (radius 3); four: centres in [5, 23], radius in
    /// [2, 5], intensity in [0.3, 1] (the world `--radius 2-5 --intensity 0.3-1`).
    static func compute(_ c: Case, seed: UInt64) -> Computed {
        var rng = SplitMix64(seed: seed)
        let ranges: [ClosedRange<Double>] =
            c.factors == 2 ? [3...25, 3...25] : [5...23, 5...23, 2...5, 0.3...1]
        func draw(_ k: Int) -> Double {
            ranges[k].lowerBound + (ranges[k].upperBound - ranges[k].lowerBound) * rng.nextUnitDouble()
        }
        let values = (0..<c.factors).map { k in (0..<samples).map { _ in draw(k) } }
        let codes = (0..<samples).map { i in c.encode(values.map { $0[i] }, &rng) }
        let latents = (0..<codes[0].count).map { j in codes.map { $0[j] } }
        let factors = CircleFactors(
            x: values[0], y: values[1], radius: c.factors == 4 ? values[2] : [Double](repeating: 3, count: samples),
            intensity: c.factors == 4 ? values[3] : nil, side: 28)
        let matched: [Factor] = c.factors == 4 ? [.x, .y, .radius, .intensity] : [.x, .y]
        let metrics = LatentMetrics(
            latents: latents, logVariances: nil, factors: factors, matched: matched, bins: bins)
        func batches(_ count: Int) -> [FactorVAEScore.Batch] {
            (0..<count).map { _ in
                // As the analysis picks it: floor(u K / 2^64), the top bit for two factors.
                let k = Int(rng.next().multipliedFullWidth(by: UInt64(c.factors)).high)
                let fixed = draw(k)
                let batch = (0..<batch).map { _ -> [Double] in
                    var f = (0..<c.factors).map(draw)
                    f[k] = fixed
                    return c.encode(f, &rng)
                }
                return FactorVAEScore.Batch(
                    factor: k, latents: latents.indices.map { j in batch.map { $0[j] } })
            }
        }
        let globalVariance = latents.map { z -> Double in
            let mean = z.reduce(0, +) / Double(z.count)
            return z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(z.count - 1)
        }
        let train = batches(trainVotes), eval = batches(evalVotes)
        let factorVAE = FactorVAEScore(
            globalVariance: globalVariance, factorCount: c.factors, train: train, eval: eval)
        func encoded(_ b: [FactorVAEScore.Batch]) -> [[String: Any]] {
            b.map { ["factor": $0.factor, "latents": $0.latents] }
        }
        let input: [String: Any] = [
            "name": c.name, "latents": latents, "factors": values, "bins": bins,
            "alpha": DCIScore.defaultAlpha,
            "factor_vae": [
                "global_variance": globalVariance, "prune_threshold": FactorVAEScore.Settings().pruneThreshold,
                "factor_count": c.factors, "train": encoded(train), "eval": encoded(eval),
            ],
            "thresholds": [
                "matched": Disentanglement.matchedThreshold, "cross": Disentanglement.crossThreshold,
                "spare": LatentMetrics.spareThreshold,
            ],
        ]
        return Computed(metrics: metrics, factorVAE: factorVAE, input: input)
    }

    /// Runs the reference on `inputs`; fails under CI=true and skips elsewhere when it cannot run.
    func reference(_ inputs: [[String: Any]]) throws -> [[String: Any]] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/metrics_reference.py")
        let directory = try BinaryRunner.temporaryDirectory(self)
        let input = directory.appendingPathComponent("cases.json")
        let output = directory.appendingPathComponent("scores.json")
        try JSONSerialization.data(withJSONObject: inputs).write(to: input)
        let result = try BinaryRunner.run(
            ["python3", script.path, input.path, output.path],
            executable: URL(fileURLWithPath: "/usr/bin/env"), timeout: 300)
        guard result.status == 0 else {
            let reason =
                "the reference \(script.lastPathComponent) did not run (exit \(result.status)): "
                + (result.stderr.split(separator: "\n").last.map(String.init) ?? "no output")
                + "; Launch/test installs numpy and scikit-learn"
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail(reason)
                throw XCTSkip("failed: \(reason)")
            }
            throw XCTSkip(reason)
        }
        return try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [[String: Any]])
    }

    func testEveryMetricMatchesDisentanglementLibsFormulasOnFixedInputs() throws {
        let computed = Self.cases.enumerated().map { Self.compute($0.element, seed: 100 + UInt64($0.offset)) }
        let expected = try reference(computed.map(\.input))
        XCTAssertEqual(expected.count, computed.count)
        for (c, e) in zip(computed, expected) {
            let name = try XCTUnwrap(e["name"] as? String)
            let m = c.metrics
            func number(_ value: Any?, _ what: String) throws -> Double {
                try XCTUnwrap(value as? Double, "\(name): \(what)")
            }
            func matrix(_ value: Any?, _ what: String) throws -> [[Double]] {
                try XCTUnwrap(value as? [[Double]], "\(name): \(what)")
            }
            // MIG and modularity share the binned mutual information.
            let information = try matrix(e["mutual_information"], "MI")
            for j in information.indices {
                for k in information[j].indices {
                    XCTAssertEqual(m.mig.information[j][k], information[j][k], accuracy: 1e-12, "\(name) MI")
                }
            }
            XCTAssertEqual(try XCTUnwrap(m.mig.score), try number(e["mig"], "MIG"), accuracy: 1e-12, name)
            XCTAssertEqual(m.modularity.score, try number(e["modularity"], "modularity"), accuracy: 1e-12, name)
            let perLatent = try XCTUnwrap(e["modularity_per_latent"] as? [Double])
            for (a, b) in zip(m.modularity.perLatent, perLatent) { XCTAssertEqual(a, b, accuracy: 1e-12, name) }
            // SAP (continuous factors).
            XCTAssertEqual(m.sap.score, try number(e["sap"], "SAP"), accuracy: 1e-12, name)
            let sap = try matrix(e["sap_matrix"], "SAP matrix")
            for j in sap.indices {
                for k in sap[j].indices { XCTAssertEqual(m.sap.scores[j][k], sap[j][k], accuracy: 1e-12, name) }
            }
            // DCI with the Lasso: the optimum of a convex objective, reached by two solvers.
            let dci = try XCTUnwrap(e["dci"] as? [String: Any])
            let importance = try matrix(dci["importance"], "importance")
            for j in importance.indices {
                for k in importance[j].indices {
                    XCTAssertEqual(m.dci.importance[j][k], importance[j][k], accuracy: 1e-8, "\(name) R[\(j)][\(k)]")
                }
            }
            XCTAssertEqual(m.dci.disentanglement, try number(dci["disentanglement"], "D"), accuracy: 1e-6, name)
            XCTAssertEqual(
                try XCTUnwrap(m.dci.completeness), try number(dci["completeness"], "C"), accuracy: 1e-6, name)
            XCTAssertEqual(
                m.dci.informativenessTrain, try number(dci["informativeness_train"], "I train"), accuracy: 1e-8,
                name)
            XCTAssertEqual(
                m.dci.informativenessTest, try number(dci["informativeness_test"], "I test"), accuracy: 1e-8,
                name)
            // FactorVAE: votes are integers, so they agree exactly.
            let fvae = try XCTUnwrap(e["factor_vae"] as? [String: Any])
            XCTAssertEqual(c.factorVAE.trainAccuracy, try number(fvae["train_accuracy"], "train"), accuracy: 1e-12)
            XCTAssertEqual(c.factorVAE.evalAccuracy, try number(fvae["eval_accuracy"], "eval"), accuracy: 1e-12)
            XCTAssertEqual(c.factorVAE.trainVotes, fvae["train_votes"] as? [[Int]], name)
            XCTAssertEqual(c.factorVAE.evalVotes, fvae["eval_votes"] as? [[Int]], name)
            // Spearman, the matching (every assignment tried) and the K-factor criterion.
            let criterion = try XCTUnwrap(e["criterion"] as? [String: Any])
            let rho = try matrix(criterion["spearman"], "Spearman")
            for j in rho.indices {
                for (k, f) in m.factors.enumerated() {
                    XCTAssertEqual(try XCTUnwrap(m.spearman(j, f)), rho[j][k], accuracy: 1e-12, "\(name) rho")
                }
            }
            XCTAssertEqual(m.matching.latentForFactor, try XCTUnwrap(criterion["matching"] as? [Int]), name)
            let spare = try XCTUnwrap(criterion["spare_std"] as? [Double])
            XCTAssertEqual(m.spareLatents.count, spare.count, name)
            for (j, sd) in zip(m.spareLatents, spare) {
                XCTAssertEqual(m.latentStandardDeviation[j], sd, accuracy: 1e-12, name)
            }
            XCTAssertEqual(Disentanglement.holds(m), criterion["disentangled"] as? Bool, name)
        }
        // The cases differ where it matters: a collapsed latent is pruned, the rotation scores low.
        XCTAssertEqual(computed[1].factorVAE.active, [true, true, false])
        XCTAssertEqual(computed[3].factorVAE.active, [false, true, true])
        XCTAssertLessThan(computed[2].metrics.sap.score, 0.1)
        // Four factors: the clean code passes the criterion, the distance-from-the-middle code
        // and its active spare latent do not.
        XCTAssertEqual(computed[4].metrics.matching.latentForFactor, [3, 1, 5, 2])
        XCTAssertTrue(Disentanglement.holds(computed[4].metrics))
        XCTAssertFalse(Disentanglement.holds(computed[5].metrics))
        XCTAssertEqual(computed[5].metrics.spareLatents, [4])
    }
}
