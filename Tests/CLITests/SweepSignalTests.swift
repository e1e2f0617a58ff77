import Foundation
import XCTest

/// A sweep stopped by a signal mid-run: it saves that run, says how to go on, exits with
/// 128 + the signal, and the same command then continues that run and trains the rest, to the
/// models of runs that were never stopped.
final class SweepSignalTests: XCTestCase {
    var directory = ""
    /// About 3,800 steps of a small model per run: a few seconds, far more than the wait below.
    let flags = [
        "--images", "4096", "--batch-size", "32", "--hidden", "32", "--epochs", "30", "--threads", "1",
        "--log-every", "1",
    ]

    override func setUpWithError() throws { directory = try makeCheckpointTestDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    func testAStoppedSweepContinuesWhereItStopped() throws {
        let command = ["sweep", "--seeds", "0-1", "--out", "study"] + flags
        let child = try CheckpointCLIChild(command, directory: directory)
        let log = path("study/runs/base-seed0/checkpoint.jsonl")
        XCTAssertTrue(
            CheckpointCLIChild.waitUntil(timeout: 20) {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count >= 20
            }, "the first run did not start within 20 s")
        child.send(SIGTERM)
        XCTAssertEqual(child.wait(timeout: 20), 128 + SIGTERM, child.standardError)
        XCTAssertTrue(
            child.standardError.hasSuffix(
                "sweep: interrupted with 0 of 2 runs done; run the same command again to continue\n"),
            child.standardError)
        let stopped = try CheckpointFileSummary(path: path("study/runs/base-seed0/checkpoint.bin")).step
        XCTAssertGreaterThanOrEqual(stopped, 20)
        XCTAssertLessThan(stopped, 30 * 128)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("study/runs/base-seed1")))

        let (status, error) = try CheckpointCLIChild.run(command, in: directory, timeout: 120)
        XCTAssertEqual(status, 0, error)
        XCTAssertTrue(error.contains("0 done, 1 to continue, 1 to train or analyse"), error)
        let (straight, trainError) = try CheckpointCLIChild.run(
            ["train", "--seed", "0", "--checkpoint", "straight.bin", "--no-analysis"] + flags, in: directory,
            timeout: 120)
        XCTAssertEqual(straight, 0, trainError)
        let continued = FileManager.default.contents(atPath: path("study/runs/base-seed0/checkpoint.bin"))
        XCTAssertNotNil(continued)
        XCTAssertEqual(continued, FileManager.default.contents(atPath: path("straight.bin")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("study/study.html")))
    }
}
