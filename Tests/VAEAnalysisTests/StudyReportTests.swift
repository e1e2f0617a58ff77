import Foundation
import VAEAnalysis
import XCTest

@testable import VAEReport

/// The criterion a study counts by, and the study's files built from hand-made metrics.json.
final class StudyReportTests: XCTestCase {
    func testDisentanglementThresholdsAreInclusiveAndNeedEveryValue() {
        XCTAssertEqual(Disentanglement.matchedThreshold, 0.95)
        XCTAssertEqual(Disentanglement.crossThreshold, 0.10)
        XCTAssertTrue(Disentanglement.holds(matched: [0.95, -0.95], cross: [0.10, -0.10]), "edges count")
        XCTAssertFalse(Disentanglement.holds(matched: [0.9499, 0.99], cross: [0, 0]))
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, -0.9499], cross: [0, 0]))
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, 0.99], cross: [0.1001, 0]))
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, 0.99], cross: [0, -0.1001]))
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, nil], cross: [0, 0]), "no matched latent")
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, .nan], cross: [0, 0]))
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, 0.99], cross: [0, .nan]))
        XCTAssertTrue(Disentanglement.criterion.contains(">= 0.95"), Disentanglement.criterion)
        XCTAssertTrue(Disentanglement.criterion.contains("<= 0.10"), Disentanglement.criterion)
    }

    /// Over K factors: K matched values, K (K - 1) cross values (each matched latent against
    /// every other factor), and every spare latent's spread at most 0.1.
    func testTheCriterionOverKFactorsNeedsEveryCrossAndEverySpareLatentOff() {
        let matched: [Double?] = [0.99, -0.97, 0.96]
        let cross: [Double?] = [0.01, -0.02, 0.1, 0.03, -0.05, 0.0]
        XCTAssertTrue(Disentanglement.holds(matched: matched, cross: cross, spare: [0.1, 0.02]), "edges count")
        XCTAssertFalse(Disentanglement.holds(matched: matched, cross: cross, spare: [0.1001]), "a spare latent on")
        XCTAssertFalse(Disentanglement.holds(matched: matched, cross: cross, spare: [.nan]), "an unknown spread")
        XCTAssertFalse(Disentanglement.holds(matched: matched, cross: Array(cross.prefix(2))), "every cross needed")
        var leaky = cross
        leaky[5] = 0.11
        XCTAssertFalse(Disentanglement.holds(matched: matched, cross: leaky), "the last factor's latent")
        XCTAssertFalse(Disentanglement.holds(matched: [0.99, 0.99, 0.9499], cross: cross))
        XCTAssertTrue(Disentanglement.criterion.contains("every spare latent switched off"), Disentanglement.criterion)
    }

    /// A latent that is x and one that is y meet the criterion, and the finding says so; a
    /// latent that is x with a fifth of y mixed in is still "separated" by the finding's looser
    /// thresholds, but not disentangled, and the finding says that too.
    func testTheFindingAgreesWithTheCriterion() throws {
        let f = MetricsTests.uniformFactors()
        let exact = LatentMetrics(latents: [f[.x], f[.y]], logVariances: nil, factors: f)
        XCTAssertTrue(Disentanglement.holds(exact))
        XCTAssertTrue(Finding(exact).disentangled)
        XCTAssertTrue(Finding(exact).sentence.contains("; disentangled (matched |Spearman| >= 0.95"))

        let leaky = LatentMetrics(
            latents: [zip(f[.x], f[.y]).map { $0 + 0.2 * $1 }, f[.y]], logVariances: nil, factors: f)
        let cross = abs(try XCTUnwrap(leaky.spearman(0, .y)))
        XCTAssertGreaterThan(cross, Disentanglement.crossThreshold)
        XCTAssertLessThan(cross, Finding.negligible)
        let finding = Finding(leaky)
        XCTAssertEqual(finding.verdict, .separated)
        XCTAssertFalse(finding.disentangled)
        XCTAssertFalse(Disentanglement.holds(leaky))
        XCTAssertTrue(finding.sentence.contains("; not disentangled"), finding.sentence)
    }

    /// A metrics.json as the analysis writes it, reduced to what the study reads: latent `a`
    /// matched to x, latent `b` to y, with the given Spearman values.
    private func metrics(
        mig: Double, x: (latent: Int, own: Double, cross: Double),
        y: (latent: Int, own: Double, cross: Double)
    ) throws -> StudyMetrics {
        var spearman = [[String: Double]](repeating: [:], count: 2)
        spearman[x.latent] = ["x": x.own, "y": x.cross]
        spearman[y.latent] = ["y": y.own, "x": y.cross]
        let object: [String: Any] = [
            "latents": spearman.map { ["spearman": $0] },
            "matching": ["x": ["latent": x.latent], "y": ["latent": y.latent]],
            "mig": ["score": mig],
            "reconstruction": ["loss_per_image": 100.5],
        ]
        return try StudyMetrics(json: try JSONSerialization.data(withJSONObject: object), path: "m.json")
    }

    /// The strip plot draws a strip for every factor the runs measured: x and y always, the
    /// radius where a run's circles varied it (its matched |rho| in metrics.json), in the order
    /// the factors are named; a study of x and y alone draws two.
    func testTheStudyFigureDrawsEveryMeasuredFactor() throws {
        let object: [String: Any] = [
            "factors": ["x", "y", "radius"],
            "latents": [
                ["spearman": ["x": 0.99, "y": 0.01, "radius": 0.02]],
                ["spearman": ["x": 0.0, "y": -0.98, "radius": 0.03]],
                ["spearman": ["x": 0.01, "y": 0.02, "radius": 0.97]],
            ],
            "matching": ["radius": ["latent": 2], "x": ["latent": 0], "y": ["latent": 1]],
            "mig": ["score": 0.6],
        ]
        let withRadius = try StudyMetrics(json: try JSONSerialization.data(withJSONObject: object), path: "m.json")
        XCTAssertEqual(withRadius.values["matched_spearman_radius"], 0.97)
        let xy = try metrics(mig: 0.7, x: (1, -0.99, 0.02), y: (0, 0.97, -0.08))
        func study(_ m: StudyMetrics?...) -> [StudyConfiguration] {
            [StudyConfiguration(
                name: "base", axes: [],
                runs: m.enumerated().map {
                    StudyRun(seed: UInt64($0.offset), directory: "r\($0.offset)", metricsPath: "r/m.json", metrics: $0.element)
                })]
        }
        XCTAssertEqual(StudyFigure.factors(study(xy, nil)), ["x", "y"])
        XCTAssertEqual(StudyFigure.factors(study(nil, withRadius, xy)), ["x", "y", "radius"])
        XCTAssertEqual(StudyFigure.factors(study(nil)), [], "no run measured")
        let png = try StudyFigure.strips(study(withRadius, xy))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    func testTheStudyCountsEachConfigurationsDisentangledRunsAndWritesItsFiles() throws {
        let good = try metrics(mig: 0.7, x: (1, -0.99, 0.02), y: (0, 0.97, -0.08))
        let leaky = try metrics(mig: 0.5, x: (0, 0.99, 0.12), y: (1, 0.98, 0.01))
        let loose = try metrics(mig: 0.4, x: (0, 0.93, 0.0), y: (1, 0.99, 0.0))
        XCTAssertEqual(good.values["matched_spearman_x"], 0.99, "absolute value")
        XCTAssertEqual(
            try XCTUnwrap(good.values["cross_spearman"]), 0.08, accuracy: 1e-12, "the larger cross")
        XCTAssertNil(good.values["kl_total_nats"], "absent from this file")
        func run(_ seed: UInt64, _ m: StudyMetrics?) -> StudyRun {
            StudyRun(
                seed: seed, directory: "runs/c-seed\(seed)", metricsPath: "runs/c-seed\(seed)/a/metrics.json",
                metrics: m)
        }
        let study = [
            StudyConfiguration(
                name: "beta=1", axes: [("beta", "1")], runs: [run(0, good), run(1, leaky), run(2, good)]),
            StudyConfiguration(name: "beta=4", axes: [("beta", "4")], runs: [run(0, loose), run(1, nil)]),
        ]
        XCTAssertEqual(study.map(\.disentangledCount), [2, 0])
        XCTAssertEqual(study.map(\.measured), [3, 1])

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let page = try StudyReport.write(study, to: directory)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("beta=1: 2/3 disentangled"), html)
        XCTAssertTrue(html.contains("beta=4: 0/1 disentangled"), html)
        XCTAssertTrue(html.contains("1 run has no analysis yet"), html)
        XCTAssertTrue(html.contains("href=\"runs/c-seed2/a/report.html\""), html)

        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: directory + "/study.json"))) as? [String: Any])
        let criterion = try XCTUnwrap(json["criterion"] as? [String: Any])
        XCTAssertEqual(criterion["matched_spearman_at_least"] as? Double, 0.95)
        XCTAssertEqual(criterion["cross_spearman_at_most"] as? Double, 0.1)
        let configurations = try XCTUnwrap(json["configurations"] as? [[String: Any]])
        XCTAssertEqual(configurations.map { $0["disentangled"] as? Int }, [2, 0])
        XCTAssertEqual(configurations.map { $0["measured"] as? Int }, [3, 1])
        let runs = try XCTUnwrap(configurations[0]["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["disentangled"] as? Bool }, [true, false, true])
        XCTAssertEqual((runs[1]["metrics"] as? [String: Any])?["mig"] as? Double, 0.5)

        let csv = try String(contentsOfFile: directory + "/study.csv", encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(
            csv[0].prefix(6).map(String.init),
            ["configuration", "beta", "seed", "measured", "disentangled", "mig"])
        XCTAssertEqual(csv.count, 1 + 5, "a row per run")
        XCTAssertEqual(csv.dropFirst().map { String($0[4]) }, ["true", "false", "true", "false", "false"])
        XCTAssertEqual(csv[5].map(String.init)[3], "false", "the run without metrics")
        XCTAssertEqual(csv[5].map(String.init)[5], "", "no MIG")

        let png = try Data(contentsOf: URL(fileURLWithPath: directory + "/study.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    /// A diverged run counts in n as not disentangled and shows its step and reason; each run's
    /// UDR reaches study.csv, study.json and the page, with the study's rank correlation with MIG
    /// and the best-UDR pick of each configuration.
    func testDivergedRunsAndUDRReachEveryFileOfTheStudy() throws {
        let good = try metrics(mig: 0.7, x: (1, -0.99, 0.02), y: (0, 0.97, -0.08))
        let weak = try metrics(mig: 0.2, x: (0, 0.6, 0.3), y: (1, 0.5, 0.2))
        let weaker = try metrics(mig: 0.1, x: (0, 0.4, 0.3), y: (1, 0.5, 0.2))
        func run(_ seed: UInt64, _ m: StudyMetrics?, udr: Double? = nil, diverged: Bool = false) -> StudyRun {
            StudyRun(
                seed: seed, directory: "runs/c-seed\(seed)", metricsPath: "runs/c-seed\(seed)/a/metrics.json",
                metrics: m, divergence: diverged ? .init(step: 2, reason: "non-finite loss at step 2") : nil,
                udr: udr.map { StudyUDR.Scores(spearman: $0, lasso: $0 / 2) })
        }
        let study = [
            StudyConfiguration(
                name: "lr=0.001", axes: [("lr", "0.001")],
                runs: [run(0, good, udr: 0.9), run(1, weak, udr: 0.5), run(2, weaker, udr: 0.3)]),
            StudyConfiguration(
                name: "lr=100", axes: [("lr", "100")], runs: [run(0, nil, diverged: true), run(1, nil, diverged: true)]),
        ]
        XCTAssertEqual(study.map(\.measured), [3, 2], "diverged runs count in n")
        XCTAssertEqual(study.map(\.disentangledCount), [1, 0])
        XCTAssertEqual(StudyUDR.correlationWithMIG(study, .spearman), 1, "UDR and MIG in the same order")
        XCTAssertEqual(StudyUDR.picks(study, .lasso).map { $0?.seed }, [0, nil])

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let html = try String(contentsOfFile: try StudyReport.write(study, to: directory), encoding: .utf8)
        XCTAssertTrue(html.contains("lr=100: 0/2 disentangled"), html)
        XCTAssertTrue(html.contains("2 runs diverged"), html)
        XCTAssertEqual(html.components(separatedBy: "diverged: non-finite loss at step 2").count, 3)
        XCTAssertTrue(html.contains("Spearman's rho with MIG over the runs 1.00"), html)
        XCTAssertTrue(html.contains("disentangled in 1 of 1 configurations (1 of them have a disentangled run)"), html)
        XCTAssertTrue(html.contains("<td>0.900</td><td>0.450</td>"), "seed 0's UDRs in the runs table")

        let rows = try String(contentsOfFile: directory + "/study.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        func column(_ name: String) throws -> [String] {
            let k = try XCTUnwrap(header.firstIndex(of: name), name)
            return rows.dropFirst().map { $0[k] }
        }
        XCTAssertEqual(try column("udr_spearman"), ["0.9", "0.5", "0.3", "", ""])
        XCTAssertEqual(try column("udr_lasso"), ["0.45", "0.25", "0.15", "", ""])
        XCTAssertEqual(try column("status"), ["finished", "finished", "finished", "diverged", "diverged"])
        XCTAssertEqual(try column("diverged_step"), ["", "", "", "2", "2"])
        XCTAssertEqual(try column("disentangled"), ["true", "false", "false", "false", "false"])

        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: directory + "/study.json"))) as? [String: Any])
        let udr = try XCTUnwrap(json["udr"] as? [String: Any])
        XCTAssertEqual((udr["spearman_with_mig"] as? [String: Any])?["lasso"] as? Double, 1)
        let pick = try XCTUnwrap((udr["best_udr_pick"] as? [String: Any])?["spearman"] as? [String: Any])
        XCTAssertEqual(pick["disentangled"] as? Int, 1)
        XCTAssertEqual(pick["configurations"] as? Int, 1)
        let configurations = try XCTUnwrap(json["configurations"] as? [[String: Any]])
        let first = try XCTUnwrap((configurations[0]["runs"] as? [[String: Any]])?.first)
        XCTAssertEqual((first["udr"] as? [String: Any])?["spearman"] as? Double, 0.9)
        let diverged = try XCTUnwrap((configurations[1]["runs"] as? [[String: Any]])?.first)
        XCTAssertEqual(diverged["status"] as? String, "diverged")
        XCTAssertEqual((diverged["diverged"] as? [String: Any])?["reason"] as? String, "non-finite loss at step 2")
    }

    /// A metrics.json over four factors: the study reads each factor's matched latent, every
    /// cross value and the spare latents' spreads from it, as the analysis judged them.
    func testTheStudyReadsEveryFactorAndTheSpareLatents() throws {
        let factors = ["x", "y", "radius", "intensity"]
        // Latent k holds factor k (rho 0.99 with it, 0.02 with the others); latent 4 is spare.
        var latents: [[String: Any]] = (0..<4).map { k in
            [
                "spearman": Dictionary(uniqueKeysWithValues: factors.enumerated().map { ($1, $0 == k ? 0.99 : 0.02) }),
                "standard_deviation": 1.0,
            ]
        }
        latents.append(["spearman": [String: Double](), "standard_deviation": 0.05])
        func metrics(_ latents: [[String: Any]]) throws -> StudyMetrics {
            let object: [String: Any] = [
                "factors": factors, "latents": latents,
                "matching": Dictionary(uniqueKeysWithValues: factors.enumerated().map { ($1, ["latent": $0]) }),
                "mig": ["score": 0.5],
            ]
            return try StudyMetrics(json: try JSONSerialization.data(withJSONObject: object), path: "m.json")
        }
        let good = try metrics(latents)
        XCTAssertTrue(good.disentangled)
        XCTAssertEqual(good.cross.count, 12)
        XCTAssertEqual(good.values["matched_spearman_intensity"], 0.99)
        XCTAssertEqual(good.values["spare_on"], 0)
        latents[4]["standard_deviation"] = 0.5
        let spareOn = try metrics(latents)
        XCTAssertFalse(spareOn.disentangled, "a spare latent is on")
        XCTAssertEqual(spareOn.values["spare_on"], 1)
        latents[4]["standard_deviation"] = 0.05
        latents[2]["spearman"] = ["x": 0.02, "y": 0.02, "radius": 0.99, "intensity": 0.2]
        let crossing = try metrics(latents)
        XCTAssertFalse(crossing.disentangled, "radius's latent follows the intensity")
        XCTAssertEqual(crossing.values["cross_spearman"], 0.2)

        let study = [
            StudyConfiguration(
                name: "radius=2-5", axes: [("radius", "2-5")],
                runs: [StudyRun(seed: 0, directory: "runs/r", metricsPath: "runs/r/a/metrics.json", metrics: good)])
        ]
        let header = StudyReport.csv(study).split(separator: "\n")[0]
        XCTAssertTrue(header.contains("matched_spearman_radius,matched_spearman_intensity"), String(header))
        XCTAssertTrue(StudyReport.html(study).contains("|rho| intensity"))
    }

    func testAFileThatIsNotAnAnalysisIsRefusedByName() {
        XCTAssertThrowsError(try StudyMetrics(json: Data("{\"a\": 1}".utf8), path: "x/metrics.json")) {
            XCTAssertEqual("\($0)", "x/metrics.json: not an analysis's metrics.json")
        }
    }
}
