import Foundation
import XCTest

/// Launch/train: the mpirun flags it chooses for one machine, and a real run through it.
final class LaunchScriptTests: LaunchingTestCase {
    private var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Launch/train").path
    }

    private func dryRun(ranks: Int) throws -> [Substring] {
        let outcome = try Launcher.run(["bash", script, "--dry-run", "-np", String(ranks)], timeout: 20)
        succeed(outcome)
        return outcome.stdout.split(whereSeparator: \.isWhitespace)
    }

    func testOversubscribesOnlyWhenRanksOutnumberCores() throws {
        let one = try dryRun(ranks: 1)
        XCTAssertFalse(one.contains("--oversubscribe"))
        XCTAssertTrue(one.contains("--bind-to") && one.contains("core"))
        let many = try dryRun(ranks: 1000)
        XCTAssertTrue(many.contains("--oversubscribe"))
        XCTAssertEqual(many.contains("--allow-run-as-root"), getuid() == 0)
    }

    func testRejectsABadRankCount() throws {
        let outcome = try Launcher.run(["bash", script, "-np", "two"], timeout: 20)
        XCTAssertEqual(outcome.status, 64)
        XCTAssertEqual(outcome.stderr, "train: -np must be a positive whole number, got 'two'\n")
    }

    func testTrainsOnTwoRanks() throws {
        setenv("VAE_MPI", Launcher.binary, 1)
        defer { unsetenv("VAE_MPI") }
        let outcome = try Launcher.run(
            [
                "bash", script, "-np", "2", "--hidden", "64", "--images", "256", "--batch-size", "32",
                "--steps", "4", "--checkpoint", path("run.bin"),
            ], timeout: 60)
        succeed(outcome)
        XCTAssertTrue(outcome.stderr.contains("[2 ranks] done: 4 steps"), outcome.stderr)
        XCTAssertEqual(try parameters(path("run.bin")).isEmpty, false)
    }
}
