import Foundation
import XCTest

/// The determinism contract (DESIGN.md): with the same seed and global batch, any rank count
/// trains the same model up to floating-point summation order, and the same run twice at the
/// same rank count gives the same bytes.
final class DeterminismTests: LaunchingTestCase {
    /// A short run of the default recipe (784-512-256-2 encoder, spatial broadcast decoder,
    /// beta-TCVAE). Batch 50 splits unevenly over 4 ranks
    /// (13, 13, 12, 12); one thread per rank keeps 4 oversubscribed ranks quick.
    private let fewSteps = [
        "--images", "1000", "--batch-size", "50", "--steps", "8",
        "--log-every", "1", "--threads", "1",
    ]

    /// A few hundred steps of a small model: 325 steps (5 epochs of 65), batch 63 (16, 16, 16,
    /// 15 over 4 ranks).
    private let manySteps = [
        "--hidden", "64", "--images", "4096", "--batch-size", "63",
        "--epochs", "5", "--log-every", "10", "--threads", "1",
    ]

    /// Runs `arguments` on each rank count (nil: alone, without mpirun); returns each run's loss
    /// trace and final parameters.
    private func train(_ arguments: [String], ranks: [Int?], name: String = "run") throws -> [(
        losses: [Double], parameters: [Float]
    )] {
        try ranks.enumerated().map { k, count in
            let log = path("\(name)\(k).jsonl")
            let checkpoint = path("\(name)\(k).bin")
            let outcome = try Launcher.train(
                ranks: count, arguments + ["--log", log, "--checkpoint", checkpoint])
            succeed(outcome)
            return (try losses(log), try parameters(checkpoint))
        }
    }

    /// Same lengths, every loss within `lossTolerance` relative and every parameter within
    /// `parameterTolerance`; prints the largest differences found.
    private func assertClose(
        _ run: (losses: [Double], parameters: [Float]), to reference: (losses: [Double], parameters: [Float]),
        lossTolerance: Double, parameterTolerance: Float, _ label: String
    ) {
        XCTAssertEqual(run.losses.count, reference.losses.count, label)
        XCTAssertEqual(run.parameters.count, reference.parameters.count, label)
        let lossDifference = Self.largestRelativeDifference(run.losses, reference.losses)
        let parameterDifference = Self.largestDifference(run.parameters, reference.parameters)
        print(
            "\(label): loss relative difference \(lossDifference), parameter difference \(parameterDifference)"
        )
        XCTAssertLessThanOrEqual(lossDifference, lossTolerance, label)
        XCTAssertLessThanOrEqual(parameterDifference, parameterTolerance, label)
    }

    private static func largestRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-12) }.max() ?? .infinity
    }

    private static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    /// After 8 steps, 2 and 4 ranks agree with the binary alone to summation-order noise: the
    /// loss within 1e-5 relative at every step, and all but a handful of the 535,525
    /// parameters within 1e-5, none beyond 1e-3 (measured with oneDNN, 5 Dec 2026: losses
    /// 1.6e-7, parameters 9.4e-6, none beyond 1e-5; the MLP ELBO's 1,068,820 had one parameter
    /// at 9.4e-5). The handful: Adam's first steps move a parameter by about the
    /// learning rate (1e-3) times the sign of its gradient, so where a gradient is a sum that
    /// nearly cancels, summation order alone can change its step by a fraction of 1e-3. And
    /// mpirun's one rank is the binary alone, bit for bit.
    func testRankCountsAgreeTightlyAfterFewSteps() throws {
        let runs = try train(fewSteps, ranks: [nil, 1, 2, 4])
        let reference = runs[0]
        XCTAssertEqual(reference.losses.count, 8)
        XCTAssertEqual(runs[1].losses, reference.losses)
        XCTAssertEqual(runs[1].parameters.map(\.bitPattern), reference.parameters.map(\.bitPattern))
        for (k, run) in runs.enumerated().dropFirst(2) {
            assertClose(run, to: reference, lossTolerance: 1e-5, parameterTolerance: 1e-3, "run \(k)")
            let outliers = zip(run.parameters, reference.parameters).filter { abs($0 - $1) > 1e-5 }
            print("run \(k): \(outliers.count) parameters differ by more than 1e-5")
            XCTAssertLessThanOrEqual(outliers.count, 10, "run \(k): parameters beyond 1e-5")
        }
    }

    /// One process with two worker threads, two ranks summing in shared memory and two ranks
    /// exchanging by message split the batch into the same two pieces, and a sum of two is the
    /// same in any order: all three train bit-identical models.
    func testThreadsAndBothExchangesAgreeBitForBit() throws {
        let common = Array(fewSteps.dropLast(2))  // without --threads 1
        let threads = try train(common + ["--threads", "2"], ranks: [nil], name: "threads")[0]
        let shared = try train(common + ["--threads", "1"], ranks: [2], name: "shared")[0]
        let messages = try train(
            common + ["--threads", "1", "--no-shared-memory"], ranks: [2], name: "messages")[0]
        XCTAssertEqual(threads.losses.count, 8)
        for (name, run) in [("2 ranks, shared memory", shared), ("2 ranks, by message", messages)] {
            XCTAssertEqual(run.losses, threads.losses, name)
            XCTAssertEqual(run.parameters.map(\.bitPattern), threads.parameters.map(\.bitPattern), name)
        }
    }

    /// The spatial broadcast decoder keeps the contract: -np 1, 2 and 4 agree with the binary
    /// alone to the few-step tolerances, and two threads, two ranks in shared memory and two by
    /// message train bit-identical models.
    func testBroadcastDecoderAgreesAcrossRankCountsAndExchanges() throws {
        let flags = ["--decoder", "broadcast:16,16", "--latent-dim", "3"]
        let runs = try train(fewSteps + flags, ranks: [nil, 2, 4], name: "broadcast")
        XCTAssertEqual(runs[0].losses.count, 8)
        for (k, run) in runs.enumerated().dropFirst() {
            assertClose(run, to: runs[0], lossTolerance: 1e-5, parameterTolerance: 1e-3, "broadcast run \(k)")
            let outliers = zip(run.parameters, runs[0].parameters).filter { abs($0 - $1) > 1e-5 }
            XCTAssertLessThanOrEqual(outliers.count, 10, "broadcast run \(k): parameters beyond 1e-5")
        }
        let common = Array(fewSteps.dropLast(2)) + flags
        let threads = try train(common + ["--threads", "2"], ranks: [nil], name: "bthreads")[0]
        let shared = try train(common + ["--threads", "1"], ranks: [2], name: "bshared")[0]
        let messages = try train(
            common + ["--threads", "1", "--no-shared-memory"], ranks: [2], name: "bmessages")[0]
        for (name, run) in [("2 ranks, shared memory", shared), ("2 ranks, by message", messages)] {
            XCTAssertEqual(run.losses, threads.losses, name)
            XCTAssertEqual(run.parameters.map(\.bitPattern), threads.parameters.map(\.bitPattern), name)
        }
    }

    /// Ada-GVAE keeps the contract: the ranks and threads split the batch between pairs (25
    /// pairs: 7, 6, 6, 6 over 4 ranks), so -np 1, 2 and 4 agree with the binary alone to the
    /// few-step tolerances, and two threads, two ranks in shared memory and two by message
    /// train bit-identical models.
    func testAdaGVAEAgreesAcrossRankCountsAndExchanges() throws {
        let flags = [
            "--objective", "ada-gvae", "--radius", "2-5", "--intensity", "0.3-1", "--latent-dim", "4",
        ]
        let runs = try train(fewSteps + flags, ranks: [nil, 2, 4], name: "adagvae")
        XCTAssertEqual(runs[0].losses.count, 8)
        for (k, run) in runs.enumerated().dropFirst() {
            assertClose(run, to: runs[0], lossTolerance: 1e-5, parameterTolerance: 1e-3, "ada-gvae run \(k)")
            let outliers = zip(run.parameters, runs[0].parameters).filter { abs($0 - $1) > 1e-5 }
            XCTAssertLessThanOrEqual(outliers.count, 10, "ada-gvae run \(k): parameters beyond 1e-5")
        }
        let common = Array(fewSteps.dropLast(2)) + flags
        let threads = try train(common + ["--threads", "2"], ranks: [nil], name: "athreads")[0]
        let shared = try train(common + ["--threads", "1"], ranks: [2], name: "ashared")[0]
        let messages = try train(
            common + ["--threads", "1", "--no-shared-memory"], ranks: [2], name: "amessages")[0]
        for (name, run) in [("2 ranks, shared memory", shared), ("2 ranks, by message", messages)] {
            XCTAssertEqual(run.losses, threads.losses, name)
            XCTAssertEqual(run.parameters.map(\.bitPattern), threads.parameters.map(\.bitPattern), name)
        }
    }

    /// After 325 steps the rank counts still train the same model, to a looser tolerance that
    /// leaves room for Adam to amplify summation-order noise: every logged loss within 1e-4
    /// relative; every parameter within 1e-3 for the MLP ELBO (measured: 1.8e-7 and 8.3e-7), and
    /// within 1e-2 for the default recipe (broadcast decoder, beta-TCVAE; measured 5 Dec 2026:
    /// losses 1.1e-6, the largest parameter difference 1.9e-3), whose batch-coupled TC term
    /// gives the noise more to feed on.
    func testRankCountsAgreeLooselyAfterHundredsOfSteps() throws {
        let recipes: [(String, [String], Float)] = [
            ("mlp-elbo", ["--decoder", "mlp", "--objective", "elbo"], 1e-3),
            ("default", [], 1e-2),
        ]
        for (name, flags, parameterTolerance) in recipes {
            let runs = try train(manySteps + flags, ranks: [1, 2, 4], name: name)
            let reference = runs[0]
            XCTAssertGreaterThanOrEqual(reference.losses.count, 325 / 10)
            for (k, run) in runs.enumerated().dropFirst() {
                assertClose(
                    run, to: reference, lossTolerance: 1e-4, parameterTolerance: parameterTolerance, "\(name) run \(k)")
            }
        }
    }

    /// The objectives that couple the samples of a batch (DESIGN.md) keep the contract: -np 1, 2
    /// and 4 train the same model to the few-step tolerances, and log the same total correlation.
    /// Capacity gathers the batch's KL before the backward pass (C rising over the 8 steps),
    /// beta-TCVAE the batch's (mean, log-variance, z) rows.
    func testCoupledObjectivesAgreeAcrossRankCounts() throws {
        let objectives = [
            ("capacity", ["--objective", "capacity", "--capacity", "3", "--capacity-steps", "6", "--gamma", "100"]),
            // With the MLP decoder: the default recipe's beta-TCVAE is the few-step test's own run.
            ("tcvae", ["--objective", "beta-tcvae", "--beta", "6", "--decoder", "mlp"]),
        ]
        for (name, flags) in objectives {
            let runs = try train(fewSteps + flags, ranks: [1, 2, 4], name: name)
            let tcs = try (0..<3).map { try totalCorrelations(path("\(name)\($0).jsonl")) }
            XCTAssertEqual(tcs[0].count, name == "tcvae" ? 8 : 0, "\(name): tc in every log line, or none")
            for (k, run) in runs.enumerated().dropFirst() {
                assertClose(run, to: runs[0], lossTolerance: 1e-5, parameterTolerance: 1e-3, "\(name) run \(k)")
                XCTAssertEqual(tcs[k].count, tcs[0].count, "\(name) run \(k): tc lines")
                // Only beta-TCVAE logs a total correlation; the capacity runs have none to compare.
                if !tcs[0].isEmpty {
                    XCTAssertLessThanOrEqual(
                        Self.largestRelativeDifference(tcs[k], tcs[0]), 1e-5, "\(name) run \(k): tc")
                }
            }
        }
    }

    /// beta-TCVAE split into the same two pieces by two threads, two ranks in shared memory and
    /// two ranks by message: every worker evaluates the same gathered batch, so all three train
    /// bit-identical models.
    func testBetaTCVAEThreadsAndBothExchangesAgreeBitForBit() throws {
        let common = Array(fewSteps.dropLast(2)) + ["--objective", "beta-tcvae", "--beta", "6"]
        let threads = try train(common + ["--threads", "2"], ranks: [nil], name: "tcthreads")[0]
        let shared = try train(common + ["--threads", "1"], ranks: [2], name: "tcshared")[0]
        let messages = try train(
            common + ["--threads", "1", "--no-shared-memory"], ranks: [2], name: "tcmessages")[0]
        for (name, run) in [("2 ranks, shared memory", shared), ("2 ranks, by message", messages)] {
            XCTAssertEqual(run.losses, threads.losses, name)
            XCTAssertEqual(run.parameters.map(\.bitPattern), threads.parameters.map(\.bitPattern), name)
        }
    }

    /// The `tc` of every line of a training log that has one.
    private func totalCorrelations(_ logPath: String) throws -> [Double] {
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["tc"] as? Double
        }
    }

    /// The same run twice on 4 ranks, where the allreduce's summation order matters, gives the
    /// same loss trace and bit-identical parameters.
    func testSameRunTwiceGivesIdenticalParameters() throws {
        let runs = try train(fewSteps, ranks: [4, 4])
        XCTAssertEqual(runs[0].losses, runs[1].losses)
        XCTAssertEqual(runs[0].parameters.map(\.bitPattern), runs[1].parameters.map(\.bitPattern))
    }
}
