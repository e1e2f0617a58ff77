import BinaryTesting
import Foundation
import VAEAnalysis
import VAECore
import XCTest

/// Each disentanglement metric against an independent computation of disentanglement_lib's
/// formulas (numpy, scipy, scikit-learn: `Tests/Reference/metrics_reference.py`) on the same
/// fixed inputs, which this test writes and the script reads.
final class MetricsReferenceTests: XCTestCase {
    /// One fixed input: a code for (x, y) that the test applies to the sample and to the
    /// FactorVAE batches alike.
    struct Case {
        let name: String
        let encode: (Double, Double, inout SplitMix64) -> [Double]
    }

    static let cases: [Case] = [
        Case(name: "linear mix with a weak third latent") { x, y, rng in
            [x + 0.3 * y + 0.5 * rng.nextGaussian(), 0.2 * x - y + 0.5 * rng.nextGaussian(),
             0.3 * rng.nextGaussian()]
        },
        Case(name: "polar code with a collapsed latent") { x, y, rng in
            let (dx, dy) = (x - 14, y - 14)
            return [(dx * dx + dy * dy).squareRoot(), atan2(dy, dx), 0.01 * rng.nextGaussian()]
        },
        Case(name: "rotated by 45 degrees") { x, y, rng in
            [(x + y) / 2.squareRoot() + 0.05 * rng.nextGaussian(), (x - y) / 2.squareRoot()]
        },
        Case(name: "collapsed latent first, x cubed, y") { x, y, rng in
            [0.001 * rng.nextGaussian(), pow(x - 14, 3), y + 0.2 * rng.nextGaussian()]
        },
    ]

    static let samples = 600, bins = 20, batch = 16, trainVotes = 60, evalVotes = 40

    struct Computed {
        let metrics: LatentMetrics
        let factorVAE: FactorVAEScore
        let input: [String: Any]
    }

    /// The sample, the Swift metrics and the JSON input for the reference, for each case.
    static func compute(_ c: Case, seed: UInt64) -> Computed {
        var rng = SplitMix64(seed: seed)
        let x = (0..<samples).map { _ in 3 + 22 * rng.nextUnitDouble() }
        let y = (0..<samples).map { _ in 3 + 22 * rng.nextUnitDouble() }
        let codes = zip(x, y).map { c.encode($0, $1, &rng) }
        let latents = (0..<codes[0].count).map { j in codes.map { $0[j] } }
        let factors = CircleFactors(x: x, y: y, radius: [Double](repeating: 3, count: samples), side: 28)
        let metrics = LatentMetrics(latents: latents, logVariances: nil, factors: factors, bins: bins)
        func batches(_ count: Int) -> [FactorVAEScore.Batch] {
            (0..<count).map { _ in
                let k = Int(rng.next() >> 63)
                let fixed = 3 + 22 * rng.nextUnitDouble()
                let batch = (0..<batch).map { _ -> [Double] in
                    let free = 3 + 22 * rng.nextUnitDouble()
                    return k == 0 ? c.encode(fixed, free, &rng) : c.encode(free, fixed, &rng)
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
            globalVariance: globalVariance, factorCount: 2, train: train, eval: eval)
        func encoded(_ b: [FactorVAEScore.Batch]) -> [[String: Any]] {
            b.map { ["factor": $0.factor, "latents": $0.latents] }
        }
        let input: [String: Any] = [
            "name": c.name, "latents": latents, "factors": [x, y], "bins": bins,
            "alpha": DCIScore.defaultAlpha,
            "factor_vae": [
                "global_variance": globalVariance, "prune_threshold": FactorVAEScore.Settings().pruneThreshold,
                "factor_count": 2, "train": encoded(train), "eval": encoded(eval),
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
        }
        // The cases differ where it matters: a collapsed latent is pruned, the rotation scores low.
        XCTAssertEqual(computed[1].factorVAE.active, [true, true, false])
        XCTAssertEqual(computed[3].factorVAE.active, [false, true, true])
        XCTAssertLessThan(computed[2].metrics.sap.score, 0.1)
    }

    /// UDR, Spearman and Lasso, on four models of the same 400 inputs: two that code x and y
    /// (one in the other order, with a collapsed third latent that the KL threshold drops), one
    /// that rotates them and one monotone but nonlinear. Every pair's score and every model's
    /// UDR equal the reference's.
    func testUDRMatchesDisentanglementLibsDefinitionOnFixedCodes() throws {
        var rng = SplitMix64(seed: 5)
        let n = 400
        let x = (0..<n).map { _ in rng.nextGaussian() }
        let y = (0..<n).map { _ in rng.nextGaussian() }
        func noise(_ s: Double) -> [Double] { (0..<n).map { _ in s * rng.nextGaussian() } }
        func add(_ a: [Double], _ b: [Double], _ c: Double = 1) -> [Double] { zip(a, b).map { $0 + c * $1 } }
        let models = [
            UDR.Model(latents: [add(x, noise(0.1)), add(y, noise(0.1)), noise(0.02)], klPerLatent: [3, 2.5, 0.004]),
            UDR.Model(latents: [add(y, noise(0.3), -1), x.map { 2 * $0 + 1 }, noise(1)], klPerLatent: [2, 3, 0.5]),
            UDR.Model(latents: [add(x, y), add(x, y, -1), noise(0.1)], klPerLatent: [2, 2, 0.001]),
            UDR.Model(latents: [x.map { $0 * $0 * $0 }, add(y, noise(0.5)), noise(0.1)], klPerLatent: [1, 1, 0.02]),
        ]
        let input: [String: Any] = [
            "name": "udr",
            "udr_models": models.map { m -> [String: Any] in ["latents": m.latents, "kl": m.klPerLatent ?? []] },
        ]
        let expected = try XCTUnwrap(try reference([input]).first)
        for (kind, accuracy) in [(UDR.Similarity.spearman, 1e-12), (.lasso, 1e-8)] {
            let e = try XCTUnwrap(expected["udr_\(kind.rawValue)"] as? [String: Any])
            let pairs = try XCTUnwrap(e["pairs"] as? [[Double]])
            let computed = UDR.pairScores(models, kind)
            for i in models.indices {
                for j in models.indices where i != j {
                    XCTAssertEqual(try XCTUnwrap(computed[i][j]), pairs[i][j], accuracy: accuracy, "\(kind) pair \(i), \(j)")
                }
            }
            let scores = try XCTUnwrap(e["scores"] as? [Double])
            for (a, b) in zip(UDR.scores(models, kind), scores) {
                XCTAssertEqual(try XCTUnwrap(a), b, accuracy: accuracy, "\(kind) UDR")
            }
        }
        // The models differ where it matters: the axis-aligned pair agrees (less than fully: model
        // 1's third latent is active noise), the rotation does not.
        let spearman = UDR.pairScores(models, .spearman)
        XCTAssertGreaterThan(try XCTUnwrap(spearman[0][1]), 0.7)
        XCTAssertLessThan(try XCTUnwrap(spearman[0][2]), 0.5)
    }
}
