import Foundation
import VAEAnalysis
import VAECore
import XCTest

/// The metrics on inputs whose answers are known exactly or statistically, so the numbers are
/// trusted before they describe a model.
final class MetricsTests: XCTestCase {
    // MARK: Correlation

    func testPearsonIsPlusOrMinusOneForLinearRelationsAndNilForConstants() throws {
        let a: [Double] = [1, 4, 2, 8, 5, 7]
        XCTAssertEqual(try XCTUnwrap(Correlation.pearson(a, a.map { 3 * $0 + 1e6 })), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Correlation.pearson(a, a.map { -0.5 * $0 })), -1, accuracy: 1e-12)
        XCTAssertNil(Correlation.pearson(a, [Double](repeating: 3, count: a.count)))
        XCTAssertNil(Correlation.pearson([1], [2]))
        XCTAssertNil(Correlation.spearman(a, a.map { $0 == 2 ? .nan : $0 }))
    }

    func testPearsonMatchesTheDefinitionOnAHandWorkedExample() throws {
        // means 2 and 3; deviations (-1, 0, 1) and (-2, 1, 1): r = 3 / sqrt(2 * 6).
        let r = try XCTUnwrap(Correlation.pearson([1, 2, 3], [1, 4, 4]))
        XCTAssertEqual(r, 3 / (12.0).squareRoot(), accuracy: 1e-12)
    }

    func testRanksShareTheMeanRankOfTies() {
        XCTAssertEqual(Correlation.ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
        XCTAssertEqual(Correlation.ranks([5, 5, 5]), [2, 2, 2])
        XCTAssertEqual(Correlation.ranks([3, -1, 2]), [3, 1, 2])
    }

    func testSpearmanIsOneForAnyIncreasingFunctionWherePearsonIsNot() throws {
        let x = (0..<200).map { Double($0) / 20 }
        let y = x.map { exp($0) }
        XCTAssertEqual(try XCTUnwrap(Correlation.spearman(x, y)), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Correlation.spearman(x, y.map { -$0 })), -1, accuracy: 1e-12)
        XCTAssertLessThan(try XCTUnwrap(Correlation.pearson(x, y)), 0.8)
    }

    func testSpearmanWithTiesIsPearsonOfAverageRanks() throws {
        // ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4): r = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
        let rho = try XCTUnwrap(Correlation.spearman([1, 2, 2, 3], [10, 20, 30, 40]))
        XCTAssertEqual(rho, 3 / (10.0).squareRoot(), accuracy: 1e-12)
    }

    // MARK: Histogram information

    func testDiscretizeUsesEqualWidthBinsWithTheMaximumInTheLastBin() {
        // [0, 10] in 5 bins of width 2: numpy.digitize(v, histogram(v, 5)[1][:-1]) - 1.
        XCTAssertEqual(
            MutualInformation.discretize((0...10).map(Double.init), bins: 5),
            [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
        XCTAssertEqual(MutualInformation.discretize([7, 7, 7], bins: 20), [0, 0, 0])
    }

    func testEntropyOfEquallyFilledBinsIsLogOfTheBinCount() {
        let codes = MutualInformation.discretize((0..<200).map(Double.init), bins: 20)
        XCTAssertEqual(MutualInformation.entropy(codes), log(20), accuracy: 1e-12)
        XCTAssertEqual(MutualInformation.entropy([4, 4, 4]), 0)
    }

    func testMutualInformationIsTheEntropyForACopyAndZeroForAProductGrid() {
        let i = Array(0..<100)
        let a = i.map { $0 % 10 }, b = i.map { $0 / 10 }
        XCTAssertEqual(MutualInformation.mutualInformation(a, a), log(10), accuracy: 1e-12)
        XCTAssertEqual(MutualInformation.mutualInformation(a, b), 0, accuracy: 1e-12)
        // b determines c = b / 2 (5 equal groups): I = H(c) = ln 5.
        XCTAssertEqual(MutualInformation.mutualInformation(b, b.map { $0 / 2 }), log(5), accuracy: 1e-12)
    }

    func testGapOfASingleLatentComparesWithZeroAndConstantFactorsAreLeftOut() throws {
        let x = (0..<400).map { Double($0 % 40) }
        let gap = MutualInformationGap(latents: [x], factors: [x, [Double](repeating: 1, count: 400)])
        XCTAssertEqual(try XCTUnwrap(gap.gaps[0]), 1, accuracy: 1e-12)
        XCTAssertNil(gap.gaps[1])
        XCTAssertEqual(try XCTUnwrap(gap.score), 1, accuracy: 1e-12)
    }

    // MARK: Matching

    func testMatchingMaximisesTheTotalNotTheFirstPick() {
        // Greedy would give x to latent 0 (0.9) and y to latent 1 (0.1): total 1.0.
        // The best is x -> latent 1 (0.85), y -> latent 0 (0.8): total 1.65.
        let m = FactorMatching(scores: [[0.9, -0.8], [-0.85, 0.1]])
        XCTAssertEqual(m.latentForFactor, [1, 0])
        XCTAssertEqual(m.total, 1.65, accuracy: 1e-12)
    }

    func testMatchingWithFewerLatentsThanFactorsLeavesOneOut() {
        XCTAssertEqual(FactorMatching(scores: [[0.2, 0.7]]).latentForFactor, [nil, 0])
        XCTAssertEqual(FactorMatching(scores: [[0.9, 0.2]]).latentForFactor, [0, nil])
    }

    /// The pruned search finds what trying every assignment finds, ties and missing scores
    /// included, and a wide latent space (512 latents, four factors) is matched at once.
    func testMatchingEqualsTheExhaustiveSearch() {
        func exhaustive(_ scores: [[Double?]]) -> [Int?] {
            let factors = scores[0].count
            var best: [Int?] = [], bestTotal = -1.0, current: [Int?] = []
            func search(_ k: Int, _ total: Double) {
                if k == factors {
                    if total > bestTotal { (bestTotal, best) = (total, current) }
                    return
                }
                for j in scores.indices where !current.contains(j) {
                    current.append(j)
                    search(k + 1, total + abs(scores[j][k] ?? 0))
                    current.removeLast()
                }
                current.append(nil)
                search(k + 1, total)
                current.removeLast()
            }
            search(0, 0)
            return best
        }
        var rng = SplitMix64(seed: 21)
        for trial in 0..<200 {
            let latents = 1 + trial % 7, factors = 1 + trial % 4
            // Values on a coarse grid so that ties happen; some undefined.
            let scores: [[Double?]] = (0..<latents).map { _ in
                (0..<factors).map { _ in
                    rng.next() % 9 == 0 ? nil : Double(Int(rng.next() % 21) - 10) / 10
                }
            }
            XCTAssertEqual(FactorMatching(scores: scores).latentForFactor, exhaustive(scores), "\(scores)")
        }
        let wide: [[Double?]] = (0..<512).map { _ in (0..<4).map { _ in 2 * rng.nextUnitDouble() - 1 } }
        let matched = FactorMatching(scores: wide).latentForFactor.compactMap { $0 }
        XCTAssertEqual(Set(matched).count, 4)
        for (k, j) in matched.enumerated() {
            XCTAssertEqual(abs(wide[j][k] ?? 0), wide.map { abs($0[k] ?? 0) }.max(), "each factor's best latent")
        }
    }

    // MARK: Synthetic latents

    /// n circles with x, y independent and uniform on [3, 25] (the default data's range).
    static func uniformFactors(_ n: Int = 4000, seed: UInt64 = 7) -> CircleFactors {
        var rng = SplitMix64(seed: seed)
        let x = (0..<n).map { _ in 3 + 22 * rng.nextUnitDouble() }
        let y = (0..<n).map { _ in 3 + 22 * rng.nextUnitDouble() }
        return CircleFactors(x: x, y: y, radius: [Double](repeating: 3, count: n), side: 28)
    }

    func testALatentThatIsExactlyXAndOneThatIsYAreSeparated() throws {
        let f = Self.uniformFactors()
        let m = LatentMetrics(latents: [f[.x], f[.y]], logVariances: nil, factors: f)
        XCTAssertEqual(try XCTUnwrap(m.pearson(0, .x)), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(m.spearman(1, .y)), 1, accuracy: 1e-12)
        XCTAssertLessThan(abs(try XCTUnwrap(m.spearman(0, .y))), 0.05)
        // The latent equal to x knows all of x's binned entropy ...
        XCTAssertEqual(m.mig.information[0][0], m.mig.factorEntropy[0], accuracy: 1e-12)
        XCTAssertEqual(m.mig.factorEntropy[0], log(20), accuracy: 0.01)
        // ... and the other only the plug-in bias of ~ 19^2 / (2n) nats: the gap is near 1.
        XCTAssertLessThan(m.mig.information[1][0], 0.1)
        XCTAssertGreaterThan(try XCTUnwrap(m.mig.score), 0.95)
        XCTAssertEqual(m.matching.latentForFactor, [0, 1])
        XCTAssertNil(m.pearson(0, .radius), "the radius is constant")
        let finding = Finding(m)
        XCTAssertEqual(finding.verdict, .separated)
        XCTAssertTrue(
            finding.sentence.hasPrefix("Latent 0 tracks x (Spearman 1.00) and latent 1 tracks y (1.00)"),
            finding.sentence)
    }

    /// Latents beyond the factors are spare: exact x and y with a spare latent that is off are
    /// disentangled; with one that still varies they are not, and the finding says which.
    func testSpareLatentsMustBeSwitchedOff() throws {
        let f = Self.uniformFactors()
        var rng = SplitMix64(seed: 3)
        let off = f[.x].map { _ in 0.05 * rng.nextGaussian() }
        let on = f[.x].map { _ in 0.8 * rng.nextGaussian() }
        let quiet = LatentMetrics(latents: [off, f[.x], f[.y]], logVariances: nil, factors: f)
        XCTAssertEqual(quiet.spareLatents, [0])
        XCTAssertTrue(quiet.isSwitchedOff(0))
        XCTAssertTrue(Disentanglement.holds(quiet))
        XCTAssertTrue(Finding(quiet).sentence.contains("; 1 spare latent, switched off; disentangled"), Finding(quiet).sentence)
        let busy = LatentMetrics(latents: [f[.x], on, f[.y], off], logVariances: nil, factors: f)
        XCTAssertEqual(busy.spareLatents, [1, 3])
        XCTAssertFalse(Disentanglement.holds(busy))
        XCTAssertEqual(Finding(busy).verdict, .separated, "x and y themselves are separated")
        XCTAssertTrue(Finding(busy).sentence.contains("2 spare latents, 1 still on (latent 1 std 0."), Finding(busy).sentence)
    }

    /// Four factors: each matched to a distinct latent; a latent that codes the distance from
    /// the middle instead of the radius fails the matched test, which x and y alone cannot see.
    func testFourFactorsAreMatchedAndJudgedTogether() throws {
        var rng = SplitMix64(seed: 11)
        let n = 3000
        let x = (0..<n).map { _ in 5 + 18 * rng.nextUnitDouble() }
        let y = (0..<n).map { _ in 5 + 18 * rng.nextUnitDouble() }
        let radius = (0..<n).map { _ in 2 + 3 * rng.nextUnitDouble() }
        let intensity = (0..<n).map { _ in 0.3 + 0.7 * rng.nextUnitDouble() }
        let f = CircleFactors(x: x, y: y, radius: radius, intensity: intensity, side: 28)
        let all: [Factor] = [.x, .y, .radius, .intensity]
        let clean = LatentMetrics(
            latents: [intensity.map { -$0 }, y, radius, x], logVariances: nil, factors: f, matched: all)
        XCTAssertEqual(clean.matching.latentForFactor, [3, 1, 2, 0])
        XCTAssertTrue(Disentanglement.holds(clean))
        XCTAssertEqual(clean.mig.gaps.count, 4, "MIG over four factors")
        let finding = Finding(clean)
        XCTAssertEqual(finding.verdict, .separated)
        XCTAssertTrue(
            finding.sentence.hasPrefix(
                "Latent 3 tracks x (1.00), latent 1 tracks y (1.00), latent 2 tracks radius (1.00) and latent 0 tracks intensity (-1.00)"),
            finding.sentence)
        let distance = f[.polarRadius]
        let polar = LatentMetrics(
            latents: [x, y, distance, intensity], logVariances: nil, factors: f, matched: all)
        XCTAssertFalse(Disentanglement.holds(polar))
        XCTAssertTrue(Finding(polar).sentence.contains("more the polar r"), Finding(polar).sentence)
        XCTAssertEqual(polar.sap.scores[0].count, 4, "SAP over four factors")
        XCTAssertEqual(polar.dci.importance[0].count, 4, "DCI over four factors")
    }

    func testSwappedRescaledLatentsAreMatchedToTheRightFactors() throws {
        let f = Self.uniformFactors()
        let m = LatentMetrics(
            latents: [f[.y].map { 5 - 3 * $0 }, f[.x].map { 2 * $0 }],
            logVariances: nil, factors: f)
        XCTAssertEqual(m.matching.latentForFactor, [1, 0])
        XCTAssertEqual(try XCTUnwrap(m.spearman(0, .y)), -1, accuracy: 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(m.mig.score), 0.95)
        let finding = Finding(m)
        XCTAssertTrue(
            finding.sentence.hasPrefix("Latent 0 tracks y (Spearman -1.00) and latent 1 tracks x (1.00)"),
            finding.sentence)
    }

    func testARotationOfXAndYMixesThemThoughTheLatentsAreUncorrelated() throws {
        let f = Self.uniformFactors()
        let c = 14.0, s = 0.5.squareRoot()
        let z0 = zip(f[.x], f[.y]).map { s * (($0 - c) + ($1 - c)) }
        let z1 = zip(f[.x], f[.y]).map { s * (($0 - c) - ($1 - c)) }
        let m = LatentMetrics(latents: [z0, z1], logVariances: nil, factors: f)
        // x and y are independent with equal variance: corr(z0, x) = corr(z0, y) = 1 / sqrt 2.
        for (j, factor) in [(0, Factor.x), (0, .y), (1, .x)] {
            XCTAssertEqual(abs(try XCTUnwrap(m.pearson(j, factor))), s, accuracy: 0.03)
        }
        XCTAssertEqual(try XCTUnwrap(m.pearson(1, .y)), -s, accuracy: 0.03)
        // A rotation keeps the latents uncorrelated, so only the factor view shows the mixing.
        XCTAssertLessThan(abs(try XCTUnwrap(m.latentCorrelation[0][1])), 0.05)
        XCTAssertLessThan(try XCTUnwrap(m.mig.score), 0.1)
        XCTAssertEqual(Finding(m).verdict, .mixed)
    }

    func testPureNoiseTracksNothing() throws {
        let f = Self.uniformFactors()
        var rng = SplitMix64(seed: 99)
        let noise = (0..<2).map { _ in (0..<4000).map { _ in rng.nextGaussian() } }
        let m = LatentMetrics(latents: noise, logVariances: nil, factors: f)
        // Under independence r is about N(0, 1/n): 4 standard errors is 0.063.
        for j in 0..<2 {
            for factor in [Factor.x, .y, .polarRadius, .polarAngle] {
                XCTAssertLessThan(abs(try XCTUnwrap(m.spearman(j, factor))), 0.063)
            }
        }
        XCTAssertLessThan(try XCTUnwrap(m.mig.score), 0.05)
        XCTAssertEqual(Finding(m).verdict, .unclear)
    }

    func testNoisyCopiesOfXAndYAreLooselySeparated() {
        let f = Self.uniformFactors()
        var rng = SplitMix64(seed: 5)
        // x plus noise of its own spread (about 6.4 px): Pearson r = 1 / sqrt 2, about 0.71.
        let z0 = f[.x].map { $0 + 6.4 * rng.nextGaussian() }
        let z1 = f[.y].map { $0 + 6.4 * rng.nextGaussian() }
        let finding = Finding(LatentMetrics(latents: [z0, z1], logVariances: nil, factors: f))
        XCTAssertEqual(finding.verdict, .loose)
        XCTAssertTrue(
            finding.sentence.contains("x and y are in separate latents, but loosely"), finding.sentence)
    }

    func testWithManyLatentsTheSentenceDescribesTheOnesMatchedToXAndY() {
        let f = Self.uniformFactors()
        var rng = SplitMix64(seed: 11)
        var latents = (0..<6).map { _ in (0..<4000).map { _ in rng.nextGaussian() } }
        latents[4] = f[.y]
        latents[2] = f[.x]
        let finding = Finding(LatentMetrics(latents: latents, logVariances: nil, factors: f))
        XCTAssertEqual(finding.verdict, .separated)
        XCTAssertTrue(
            finding.sentence.hasPrefix("Latent 2 tracks x (Spearman 1.00) and latent 4 tracks y (1.00)"),
            finding.sentence)

        latents[4] = zip(f[.x], f[.y]).map { $0 + $1 }
        let mixed = Finding(LatentMetrics(latents: latents, logVariances: nil, factors: f))
        XCTAssertEqual(mixed.verdict, .mixed)
        XCTAssertTrue(mixed.sentence.hasPrefix("Latent 2 follows x (1.00; y "), mixed.sentence)
        XCTAssertTrue(mixed.sentence.contains("(the latents matched to x and y, of 6)"), mixed.sentence)
    }

    func testALatentThatFollowsThePolarRadiusIsNamedAsSuch() {
        let f = Self.uniformFactors()
        var rng = SplitMix64(seed: 3)
        let m = LatentMetrics(
            latents: [f[.polarRadius], (0..<4000).map { _ in rng.nextGaussian() }],
            logVariances: nil, factors: f)
        let sentence = Finding(m).sentence
        XCTAssertTrue(
            sentence.hasPrefix(
                "Latent 0 follows neither x nor y but the polar r (1.00), latent 1 follows neither x nor y:"),
            sentence)
    }

    func testPolarFactorsAreDistanceAndAngleAroundTheMiddle() throws {
        let f = CircleFactors(x: [17, 14], y: [14, 10], radius: [3, 3], side: 28)
        XCTAssertEqual(f[Factor.polarRadius], [3, 4])
        XCTAssertEqual(f[Factor.polarAngle][0], 0, accuracy: 1e-12)
        XCTAssertEqual(f[Factor.polarAngle][1], -Double.pi / 2, accuracy: 1e-12, "y grows downwards")
    }

    func testMeanKLIsZeroAtThePriorAndHalfMuSquaredForShiftedMeans() throws {
        let f = Self.uniformFactors(4)
        let m = LatentMetrics(
            latents: [[0, 0, 0, 0], [1, -1, 1, -1]],
            logVariances: [[0, 0, 0, 0], [0, 0, 0, 0]], factors: f)
        let kl = try XCTUnwrap(m.meanKL)
        XCTAssertEqual(kl[0], 0, accuracy: 1e-12)
        XCTAssertEqual(kl[1], 0.5, accuracy: 1e-12)
        XCTAssertEqual(m.active, [false, true])
        XCTAssertNil(LatentMetrics(latents: [[0, 1, 2, 3]], logVariances: nil, factors: f).meanKL)
    }
    // MARK: SAP, DCI, modularity and FactorVAE: known answers

    /// (perfect code, 45-degree rotation, pure noise) for the uniform factors.
    static func knownCodes() -> (perfect: LatentMetrics, rotated: LatentMetrics, noise: LatentMetrics) {
        let f = uniformFactors()
        let c = 14.0, s = 0.5.squareRoot()
        let z0 = zip(f[.x], f[.y]).map { s * (($0 - c) + ($1 - c)) }
        let z1 = zip(f[.x], f[.y]).map { s * (($0 - c) - ($1 - c)) }
        var rng = SplitMix64(seed: 99)
        let noise = (0..<2).map { _ in (0..<4000).map { _ in rng.nextGaussian() } }
        return (
            LatentMetrics(latents: [f[.x], f[.y]], logVariances: nil, factors: f),
            LatentMetrics(latents: [z0, z1], logVariances: nil, factors: f),
            LatentMetrics(latents: noise, logVariances: nil, factors: f)
        )
    }

    func testSAPIsOneForAPerfectCodeAndNearZeroForARotationOrNoise() {
        let (perfect, rotated, noise) = Self.knownCodes()
        XCTAssertGreaterThan(perfect.sap.score, 0.99)
        XCTAssertEqual(perfect.sap.scores[0][0], 1, accuracy: 1e-12, "R^2 of x on itself")
        XCTAssertLessThan(rotated.sap.score, 0.05, "half of each factor in each latent")
        XCTAssertEqual(rotated.sap.scores[0][0], 0.5, accuracy: 0.03)
        XCTAssertLessThan(noise.sap.score, 0.01)
        // One latent: the second best is 0, so the gap is the R^2 itself.
        let f = Self.uniformFactors()
        XCTAssertEqual(SAPScore(latents: [f[.x]], factors: [f[.x], f[.y]]).gaps[0], 1, accuracy: 1e-12)
    }

    func testDCIIsOneForAPerfectCodeNearZeroForARotationAndUninformativeForNoise() throws {
        let (perfect, rotated, noise) = Self.knownCodes()
        XCTAssertGreaterThan(perfect.dci.disentanglement, 0.99)
        XCTAssertGreaterThan(try XCTUnwrap(perfect.dci.completeness), 0.99)
        XCTAssertEqual(perfect.dci.informativenessTest, 1, accuracy: 1e-3)
        XCTAssertEqual(perfect.dci.importance[1][0], 0, "the Lasso sets the unused latent to 0")
        XCTAssertLessThan(rotated.dci.disentanglement, 0.05)
        XCTAssertLessThan(try XCTUnwrap(rotated.dci.completeness), 0.05)
        XCTAssertEqual(rotated.dci.informativenessTest, 1, accuracy: 1e-3, "a rotation loses nothing")
        // Noise: nothing predicts anything. D and C compare importances with each other, so they
        // only mean something next to the informativeness; the importances themselves are tiny.
        XCTAssertLessThan(noise.dci.informativenessTest, 0.01)
        XCTAssertLessThan(noise.dci.importance.joined().max() ?? 1, 0.02)
        XCTAssertEqual(perfect.dci.trainCount, 2667)
        XCTAssertEqual(perfect.dci.testCount, 1333)
    }

    func testTheLassoSoftThresholdsAnOrthonormalDesign() {
        // Orthonormal columns (|x_j|^2 / n = 1): w_j = soft(x_j . y / n, alpha) exactly.
        let a: [Double] = [1, -1, 1, -1], b: [Double] = [1, 1, -1, -1]
        let y = zip(a, b).map { 0.5 * $0 + 0.05 * $1 }
        let w = Lasso.fit(columns: [a, b], target: y, alpha: 0.1)
        XCTAssertEqual(w[0], 0.4, accuracy: 1e-12)
        XCTAssertEqual(w[1], 0, "below alpha: exactly zero")
    }

    func testModularityIsOneWhenEachLatentKnowsOneFactor() {
        XCTAssertEqual(Modularity(information: [[2, 0], [0, 1]]).score, 1)
        XCTAssertEqual(Modularity(information: [[1, 1], [0, 0]]).perLatent, [0, 0])
        // delta = 1 / 4 for (2, 1): modularity 0.75.
        XCTAssertEqual(Modularity(information: [[2, 1]]).score, 0.75, accuracy: 1e-12)
        let (perfect, rotated, _) = Self.knownCodes()
        XCTAssertGreaterThan(perfect.modularity.score, 0.99)
        XCTAssertLessThan(rotated.modularity.score, 0.3)
    }

    func testFactorVAEIsOneWhenFixingAFactorFreezesItsLatentAndChanceForARotation() {
        var rng = SplitMix64(seed: 21)
        func batches(_ count: Int, code: (Double, Double) -> [Double]) -> [FactorVAEScore.Batch] {
            (0..<count).map { v in
                let k = v % 2, fixed = 3 + 22 * rng.nextUnitDouble()
                let codes = (0..<64).map { _ -> [Double] in
                    let free = 3 + 22 * rng.nextUnitDouble()
                    return k == 0 ? code(fixed, free) : code(free, fixed)
                }
                return FactorVAEScore.Batch(factor: k, latents: (0..<2).map { j in codes.map { $0[j] } })
            }
        }
        let variance = 22.0 * 22 / 12
        let perfect = FactorVAEScore(
            globalVariance: [variance, variance], factorCount: 2,
            train: batches(100) { [$0, $1] }, eval: batches(100) { [$0, $1] })
        XCTAssertEqual(perfect.evalAccuracy, 1)
        XCTAssertEqual(perfect.classifier, [0, 1])
        let s = 0.5.squareRoot()
        let rotate = { (x: Double, y: Double) in [s * (x + y), s * (x - y)] }
        let rotated = FactorVAEScore(
            globalVariance: [variance, variance], factorCount: 2,
            train: batches(400, code: rotate), eval: batches(400, code: rotate))
        XCTAssertEqual(rotated.evalAccuracy, 0.5, accuracy: 0.1, "chance is 1/2 with two factors")
        // Collapsed latents are left out; with none active the score is 0.
        let collapsed = FactorVAEScore(
            globalVariance: [1e-4, 1e-4], factorCount: 2, train: batches(10) { [$0, $1] },
            eval: batches(10) { [$0, $1] })
        XCTAssertEqual(collapsed.active, [false, false])
        XCTAssertEqual(collapsed.evalAccuracy, 0)
    }
}
