import Foundation
import VAECore
import XCTest

/// Each way a data-parallel run can go wrong ends every rank within seconds, with the message,
/// a non-zero exit and no process left behind.
final class FailureTests: LaunchingTestCase {
    /// 8 steps an epoch, so a checkpoint exists (after step 8) before the faults below.
    /// (`--blas-threads`, an alias of `--threads` that users' scripts may use, so it stays tested.)
    private let small = [
        "--hidden", "64", "--images", "256", "--batch-size", "32", "--epochs", "3",
        "--blas-threads", "1",
    ]

    func testMismatchedSettingsStopEveryRankNamingRankAndSetting() throws {
        let checkpoint = path("run.bin")
        let common = small + ["--checkpoint", checkpoint]
        let outcome = try Launcher.trainMPMD([common, common + ["--lr", "0.002"], common])
        fail(
            outcome, within: 20,
            saying: "rank 1 was started with different settings from rank 0: "
                + "training.optimizer.learningRate=0.002 where rank 0 has 0.001")
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoint))
    }

    func testStepCountMismatchIsCaughtBeforeItCanHang() throws {
        let common = small + ["--checkpoint", path("run.bin")]
        let outcome = try Launcher.trainMPMD([common + ["--steps", "5"], common + ["--steps", "6"]])
        fail(outcome, within: 20, saying: "steps=6 where rank 0 has 5")
    }

    func testNonFiniteLossOnOneRankStopsEveryRankAndKeepsLastCheckpoint() throws {
        for (ranks, culprit) in [(2, 1), (4, 3)] {
            let checkpoint = path("run\(ranks).bin")
            let outcome = try Launcher.train(
                ranks: ranks, small + ["--checkpoint", checkpoint, "--inject-fault", "nan:\(culprit):11"])
            fail(outcome, within: 20, saying: "[\(ranks) ranks] Error: non-finite loss at step 11")
            XCTAssertEqual(try CheckpointCodec.read(from: checkpoint).step, 8, "\(ranks) ranks")
        }
    }

    func testNonFiniteLossAloneStops() throws {
        let outcome = try Launcher.train(
            ranks: nil, small + ["--checkpoint", path("run.bin"), "--inject-fault", "nan:0:3"])
        fail(outcome, within: 20, saying: "Error: non-finite loss at step 3")
    }

    /// The step's allgather leaves every rank the same bytes, so a copy that differs can only
    /// come from corruption between the gather and the check: injected there, at step 8.
    func testDisagreeingParametersStopEveryRank() throws {
        let outcome = try Launcher.train(
            ranks: 2,
            small + [
                "--checkpoint", path("run.bin"), "--check-every", "4",
                "--inject-fault", "drift:1:8",
            ])
        fail(
            outcome, within: 20,
            saying:
                "[2 ranks] Error: parameters differ between ranks after step 8: rank 1 disagrees with rank 0")
    }

    func testFailureOnOneRankAbortsEveryRank() throws {
        let outcome = try Launcher.train(
            ranks: 2, small + ["--checkpoint", path("run.bin"), "--inject-fault", "fail:1:3"])
        fail(outcome, within: 20, saying: "[rank 1 of 2 ranks] Error: injected failure at step 3")
    }

    func testTooManyRanksForTheBatchIsOneLineError() throws {
        let outcome = try Launcher.train(
            ranks: 4,
            [
                "--hidden", "64", "--images", "256", "--batch-size", "3",
                "--checkpoint", path("run.bin"),
            ])
        fail(
            outcome, within: 20,
            saying: "[4 ranks] Error: 4 processes cannot share a batch of 3: each needs at least one image")
    }
}
