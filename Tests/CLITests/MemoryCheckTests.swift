import BinaryTesting
import Foundation
import XCTest

/// A run too large for the memory it may use is refused before it allocates: one line with
/// what it needs and what it may use, exit code 64, nothing written.
final class MemoryCheckTests: XCTestCase {
    private struct Refusal {
        var need: Double
        var available: Double
        var source: String
        var line: String
    }

    /// The figures of "Error: ... need(s) about X of memory ..., but may use Y (SOURCE); ...".
    private func refusal(_ stderr: String) throws -> Refusal {
        let errors = stderr.split(separator: "\n").filter { $0.contains("Error:") }
        XCTAssertEqual(errors.count, 1, "one error line: \(stderr)")
        let line = String(try XCTUnwrap(errors.first))
        let pattern =
            #"Error: .*needs? about ([0-9.]+) (bytes|KiB|MiB|GiB|TiB|PiB) of memory.*, but may use ([0-9.]+) (bytes|KiB|MiB|GiB|TiB|PiB) \((.+)\); use smaller --hidden sizes or fewer --threads \(docs/memory\.md\)$"#
        let regex = try NSRegularExpression(pattern: pattern)
        let match = try XCTUnwrap(
            regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
            "not the memory error: \(line)")
        func group(_ i: Int) -> String { String(line[Range(match.range(at: i), in: line)!]) }
        let units = ["bytes": 1.0, "KiB": 0x1p10, "MiB": 0x1p20, "GiB": 0x1p30, "TiB": 0x1p40, "PiB": 0x1p50]
        return Refusal(
            need: Double(group(1))! * units[group(2)]!, available: Double(group(3))! * units[group(4)]!,
            source: group(5), line: line)
    }

    private func assertNothingWritten(_ directory: URL, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path), [], file: file, line: line)
    }

    /// 784-30000-30000-2 (mirrored MLP decoder) on 64 threads wants about a terabyte: far more than any test machine
    /// has, and refused by the figures, not by a crash.
    func testAbsurdModelIsRefusedInOneLineWithBothFigures() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        let result = try BinaryRunner.run(
            ["train", "--hidden", "30000,30000", "--decoder", "mlp", "--threads", "64"], in: directory, timeout: 60)
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        let refused = try refusal(result.stderr)
        XCTAssertTrue(refused.line.hasPrefix("Error: this run needs about "), refused.line)
        XCTAssertGreaterThan(refused.need, 0x1p40 * 0.5, "about a terabyte")
        XCTAssertGreaterThan(refused.need, refused.available)
        try assertNothingWritten(directory)
    }

    /// Under `ulimit -v` the address-space limit is read: a model that fits the machine but
    /// not the limit is refused naming RLIMIT_AS, with less than the limit available (the
    /// address space already mapped is counted), and a small model still trains.
    func testAddressSpaceLimitIsRead() throws {
        let limitKiB = 1_500_000
        func underLimit(_ arguments: [String], in directory: URL) throws -> BinaryRunner.Result {
            try BinaryRunner.run(
                ["-c", "ulimit -v \(limitKiB) && exec \"$0\" \"$@\"", BinaryRunner.binary.path] + arguments,
                executable: URL(fileURLWithPath: "/bin/bash"), in: directory, timeout: 60)
        }
        let directory = try BinaryRunner.temporaryDirectory(self)
        // 784-4096-4096-2 with 2 threads: about 1.6 GB (40 million parameters).
        let large = try underLimit(
            ["train", "--hidden", "4096,4096", "--decoder", "mlp", "--threads", "2", "--steps", "1", "--no-analysis"],
            in: directory)
        XCTAssertEqual(large.status, 64, large.stderr)
        let refused = try refusal(large.stderr)
        XCTAssertEqual(refused.source, "RLIMIT_AS (ulimit -v) less the address space in use")
        XCTAssertLessThan(refused.available, Double(limitKiB) * 1024)
        XCTAssertGreaterThan(refused.need, refused.available)
        try assertNothingWritten(directory)

        let small = try underLimit(
            [
                "train", "--hidden", "64", "--threads", "1", "--images", "256", "--steps", "2",
                "--no-analysis",
                "--checkpoint", "small.bin",
            ], in: directory)
        XCTAssertEqual(small.status, 0, small.stderr)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("small.bin").path))
    }

    /// Two ranks on this machine draw on its memory together: one line, from one rank, with
    /// the sum, and every rank exits with 64.
    func testRanksOnOneMachineAreRefusedTogether() throws {
        let mpirun = URL(fileURLWithPath: "/usr/bin/mpirun")
        guard FileManager.default.isExecutableFile(atPath: mpirun.path) else {
            throw XCTSkip("no /usr/bin/mpirun (Launch/setup installs openmpi-bin)")
        }
        let directory = try BinaryRunner.temporaryDirectory(self)
        let result = try BinaryRunner.run(
            [
                "--allow-run-as-root", "--oversubscribe", "--mca", "pml", "ob1", "--mca", "btl", "self,vader",
                "-np", "2", BinaryRunner.binary.path, "train", "--hidden", "30000,30000", "--decoder", "mlp", "--threads", "64",
            ], executable: mpirun, in: directory, timeout: 90)
        XCTAssertEqual(result.status, 64, result.stderr)
        let refused = try refusal(result.stderr)
        XCTAssertTrue(
            refused.line.hasPrefix("[rank 0 of 2 ranks] Error: 2 processes on this machine need about "),
            refused.line)
        XCTAssertGreaterThan(refused.need, refused.available)
        try assertNothingWritten(directory)
    }

    /// A model whose parameters overflow MPI's int counts is refused by validation, before
    /// any estimate (it used to trap in the block partition).
    func testModelBeyondMPICountsIsRefused() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        let result = try BinaryRunner.run(["train", "--hidden", "65536,65536", "--decoder", "mlp"], in: directory)
        XCTAssertEqual(result.status, 64, result.stderr)
        let w = 65_536
        let p = (784 + 1) * w + (w + 1) * w + (w + 1) * 4 + (2 + 1) * w + (w + 1) * w + (w + 1) * 784
        XCTAssertEqual(
            result.stderr.split(separator: "\n").first.map(String.init),
            "Error: the model has \(p) parameters, more than the 2147483647 MPI's counts can hold")
        try assertNothingWritten(directory)
    }

    /// `bench` prints the estimate, and its JSON summary carries the figure of docs/memory.md's
    /// formula.
    func testBenchPrintsTheEstimate() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        let result = try BinaryRunner.run(
            [
                "bench", "--images", "1024", "--epochs", "1", "--hidden", "64", "--bound-seconds", "0",
                "--threads", "1",
            ],
            in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let memory = try XCTUnwrap(lines.first { $0.hasPrefix("memory: about ") }, result.stdout)
        for part in [
            "parameter and gradient buffers", "Adam moments", "workspaces", "permutation", "checkpoint",
        ] {
            XCTAssertTrue(memory.contains(part), memory)
        }
        XCTAssertTrue(memory.contains("; may use "), memory)
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(lines.last).utf8)) as? [String: Any])
        // docs/memory.md for 784-64-2 (VAE), batch 128 on one thread, 1024 images:
        let p = (784 + 1) * 64 + (64 + 1) * 4 + (2 + 1) * 64 + (64 + 1) * 784
        let perSample = 2 * 64 + 2 * 4 + 2 * 784 + 5 * 2 + 2 * 784 + 1
        let perWorker = 784 + 1 + 2 * 2
        let floats = 2 * p + 2 * p + 128 * perSample + perWorker + 1024 + 4 * p
        XCTAssertEqual(summary["memory_estimate_bytes"] as? Int, 4 * floats)
    }
}
