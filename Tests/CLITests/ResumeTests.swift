import Foundation
import XCTest

/// `vae-mpi train --resume`, `--checkpoint-every` and checkpoint write failures, run as a user
/// would run them.
final class ResumeTests: XCTestCase {
    var directory = ""
    /// A model small enough that a run of tens of steps takes a fraction of a second.
    let small = ["--images", "512", "--batch-size", "32", "--hidden", "32", "--epochs", "5"]

    override func setUpWithError() throws { directory = try makeCheckpointTestDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func train(
        _ arguments: [String], file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (Int32, String) {
        try CheckpointCLIChild.run(
            ["train", "--no-analysis"] + arguments, in: directory, file: file, line: line)
    }

    func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: directory + "/" + name) }

    /// k steps, stop, resume, n more: the same bytes as k + n steps in one go (16 steps per
    /// epoch, so the resumed part crosses epochs).
    func testResumeIsExact() throws {
        XCTAssertEqual(try train(small + ["--steps", "20", "--checkpoint", "a.bin"]).0, 0)
        XCTAssertEqual(try CheckpointFileSummary(path: directory + "/a.bin").step, 20)
        let (status, error) = try train([
            "--resume", "a.bin", "--steps", "45", "--checkpoint",
            "b.bin",
        ])
        XCTAssertEqual(status, 0, error)
        XCTAssertTrue(error.contains("resuming a.bin at step 20"), error)
        XCTAssertEqual(try train(small + ["--steps", "45", "--checkpoint", "c.bin"]).0, 0)
        XCTAssertEqual(try CheckpointFileSummary(path: directory + "/b.bin").step, 45)
        XCTAssertNotNil(bytes("b.bin"))
        XCTAssertEqual(bytes("b.bin"), bytes("c.bin"), "resumed run differs from the straight one")
        XCTAssertNotEqual(bytes("a.bin"), bytes("b.bin"))
    }

    /// Without --checkpoint, a resumed run saves over the file it resumed, and --epochs may grow.
    func testResumeWritesBackAndMayExtendEpochs() throws {
        XCTAssertEqual(try train(small + ["--steps", "10", "--checkpoint", "a.bin"]).0, 0)
        let (status, error) = try train(["--resume", "a.bin", "--epochs", "6", "--steps", "90"])
        XCTAssertEqual(status, 0, error)
        XCTAssertEqual(try CheckpointFileSummary(path: directory + "/a.bin").step, 90)
        XCTAssertNil(bytes("checkpoint.bin"))
    }

    func testResumeRefusesFlagsThatContradictTheCheckpoint() throws {
        XCTAssertEqual(try train(small + ["--steps", "10", "--checkpoint", "a.bin"]).0, 0)
        let before = bytes("a.bin")
        let (status, error) = try train([
            "--resume", "a.bin", "--hidden", "16", "--latent-dim",
            "3", "--steps", "20",
        ])
        XCTAssertEqual(status, 1)
        XCTAssertEqual(
            error,
            "Error: --resume a.bin: --hidden 16 contradicts the checkpoint's 32; "
                + "--latent-dim 3 contradicts the checkpoint's 2; a resumed run keeps the "
                + "checkpoint's settings (only --epochs and --steps may grow)\n")
        XCTAssertEqual(bytes("a.bin"), before)

        let (again, message) = try train(["--resume", "a.bin", "--steps", "5"])
        XCTAssertEqual(again, 1)
        XCTAssertEqual(
            message,
            "Error: --resume a.bin: the checkpoint is at step 10 and the run "
                + "ends at step 5; give a larger --steps or --epochs\n")
    }

    /// A good checkpoint, and each kind of bad file made from it: (name, bytes, problem).
    func badFiles() throws -> [(String, Data, String)] {
        XCTAssertEqual(try train(small + ["--steps", "3", "--checkpoint", "good.bin"]).0, 0)
        let good = try XCTUnwrap(bytes("good.bin"))
        var flipped = good
        flipped[good.count - 100] ^= 1
        return [
            ("empty.bin", Data(), "empty file"),
            ("short.bin", good.prefix(10), "short header: 10 bytes, fewer than the 20-byte prefix"),
            (
                "magic.bin", Data("NOTACKPT".utf8) + good.dropFirst(8),
                "not a vae-mpi checkpoint (bad magic number)"
            ),
            (
                "truncated.bin", good.dropLast(1000),
                "truncated: expected \(good.count) bytes, found \(good.count - 1000)"
            ),
            (
                "trailing.bin", good + Data([0, 0]),
                "trailing bytes: expected \(good.count) bytes, found \(good.count + 2)"
            ),
            ("flipped.bin", flipped, "checksum mismatch"),
        ]
    }

    /// Each kind of bad file is refused with one line naming the file and the problem.
    func testResumeFromBadFilesFailsWithOneLine() throws {
        for (name, data, problem) in try badFiles() {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: data)
            let (status, error) = try train(["--resume", name, "--steps", "10"])
            XCTAssertEqual(status, 1, name)
            XCTAssertTrue(error.hasPrefix("Error: \(name): \(problem)"), error)
            XCTAssertEqual(error.filter { $0 == "\n" }.count, 1, "one line: \(error)")
            XCTAssertEqual(bytes(name), data, "a bad checkpoint is left as it was")
        }
        let (status, error) = try train(["--resume", "absent.bin"])
        XCTAssertEqual(status, 1)
        XCTAssertEqual(error, "Error: absent.bin: cannot read: No such file or directory\n")
    }

    /// `analyze` prints the reader's own line for each bad file (its errors carry the path) and
    /// exits non-zero. Skipped while the binary has no analyze command.
    func testAnalyzeRefusesBadFilesWithOneLine() throws {
        let help = try CheckpointCLIChild(["--help"], directory: directory)
        _ = help.wait(timeout: 10)
        guard help.standardOutput.contains(" analyze ") else {
            throw XCTSkip("this build has no analyze command")
        }
        for (name, data, problem) in try badFiles() {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: data)
            let (status, error) = try CheckpointCLIChild.run(["analyze", name], in: directory)
            XCTAssertNotEqual(status, 0, name)
            XCTAssertLessThan(status, 128, "exit, not a signal: \(error)")
            XCTAssertTrue(error.hasPrefix("Error: \(name): \(problem)"), error)
            XCTAssertEqual(error.filter { $0 == "\n" }.count, 1, "one line: \(error)")
        }
    }

    /// --checkpoint-every writes between epoch ends (128 steps here): killed at any moment, the
    /// file on disk is from a step that is a multiple of it (or an epoch end).
    func testCheckpointEveryWritesOnItsCadence() throws {
        let child = try CheckpointCLIChild(
            [
                "train", "--no-analysis", "--images", "4096", "--batch-size", "32", "--hidden", "32",
                "--checkpoint-every", "5", "--checkpoint", "a.bin", "--steps", "100000",
            ],
            directory: directory)
        XCTAssertTrue(
            CheckpointCLIChild.waitUntil(timeout: 10) {
                ((try? CheckpointFileSummary(path: directory + "/a.bin").step) ?? 0) >= 20
            }, "no checkpoint at step 20 within 10 s")
        child.send(SIGKILL)
        XCTAssertEqual(child.wait(timeout: 5), 128 + SIGKILL)
        let step = try CheckpointFileSummary(path: directory + "/a.bin").step
        XCTAssertTrue(step % 5 == 0 || step % 128 == 0, "checkpoint at step \(step)")
    }

    func testUnwritableCheckpointPathIsRefusedBeforeTraining() throws {
        try FileManager.default.createDirectory(
            atPath: directory + "/sub",
            withIntermediateDirectories: false)
        for (path, problem) in [
            ("missing/x.bin", "directory missing does not exist"),
            ("sub", "is a directory"),
        ] {
            let (status, error) = try train(small + ["--checkpoint", path])
            XCTAssertEqual(status, 64, error)  // a usage error, before any work
            XCTAssertTrue(error.contains("--checkpoint \(path): \(problem)"), error)
            XCTAssertFalse(error.contains("training"), error)
        }
        // Past the flag checks, rank 0 tries the write itself before the first step: a pipe
        // where the file should be, or a temporary path that cannot be cleared, fails there.
        XCTAssertEqual(mkfifo(directory + "/pipe.bin", 0o600), 0)
        try FileManager.default.createDirectory(
            atPath: directory + "/blocked.bin.tmp/inner",
            withIntermediateDirectories: true)
        for (path, problem) in [
            ("pipe.bin", "not a regular file"),
            ("blocked.bin", "cannot write: cannot remove the leftover blocked.bin.tmp"),
        ] {
            let (status, error) = try train(small + ["--checkpoint", path])
            XCTAssertEqual(status, 1, error)
            XCTAssertTrue(error.hasPrefix("Error: \(path): \(problem)"), error)
            XCTAssertFalse(error.contains("training"), error)
        }
    }

    /// A write that fails mid-run ends the run with one line naming the file, keeps the previous
    /// checkpoint, which still resumes. Root can write anywhere, so the
    /// failure is made by putting a directory where the temporary file must go. (A write that
    /// fails part-way through, as on a full disk, is CheckpointWriteTests' file-size-limit test:
    /// a limit on the whole process would also stop MPI's start-up here.)
    func testFailedWriteKeepsThePreviousCheckpoint() throws {
        let child = try CheckpointCLIChild(
            [
                "train", "--no-analysis", "--images", "4096", "--batch-size", "32", "--hidden", "32",
                "--epochs", "1000",
                "--checkpoint-every", "3", "--checkpoint", "a.bin",
            ], directory: directory)
        let blocker = directory + "/a.bin.tmp"
        XCTAssertTrue(
            CheckpointCLIChild.waitUntil(timeout: 10) {
                FileManager.default.fileExists(atPath: directory + "/a.bin")
                    && (try? FileManager.default.createDirectory(
                        atPath: blocker + "/inner", withIntermediateDirectories: true)) != nil
            }, "no checkpoint within 10 s")
        XCTAssertEqual(child.wait(timeout: 10), 1)
        let error = child.standardError
        XCTAssertTrue(error.contains("Error: a.bin: cannot write: "), error)
        XCTAssertTrue(error.hasSuffix(" (any previous checkpoint is unchanged)\n"), error)
        let step = try CheckpointFileSummary(path: directory + "/a.bin").step
        XCTAssertTrue(step % 3 == 0 || step % 128 == 0, "checkpoint at step \(step)")
        try FileManager.default.removeItem(atPath: blocker)
        let (status, resumed) = try train(["--resume", "a.bin", "--steps", String(step + 1)])
        XCTAssertEqual(status, 0, resumed)
    }
}
