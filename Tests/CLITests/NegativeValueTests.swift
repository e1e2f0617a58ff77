import BinaryTesting
import Foundation
import XCTest

/// A negative number after a numeric option is that option's value, refused by validation like
/// any other bad value (swift-argument-parser would otherwise read `-1` as a flag and say
/// "Missing value").
final class NegativeValueTests: XCTestCase {
    /// Each command line fails before any work with exit code 64 and exactly this first line.
    private func assertRefused(
        _ arguments: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        let result = try BinaryRunner.run(arguments, in: directory)
        XCTAssertEqual(result.status, 64, "\(arguments): exit code; \(result.stderr)", file: file, line: line)
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertEqual(firstLine, "Error: \(message)", "\(arguments)", file: file, line: line)
        let written = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertEqual(written, [], "\(arguments) wrote files", file: file, line: line)
    }

    /// The flags the issue names, and every other numeric option of `train` where a negative
    /// is possible input: the message for -1 is the one for 0 (or the range's), never
    /// "Missing value".
    func testNegativeTrainingValuesGetTheMessageOfZero() throws {
        let cases: [([String], String)] = [
            (["--lr", "0"], "lr must be positive, got 0.0"),
            (["--lr", "-1"], "lr must be positive, got -1.0"),
            (["--beta", "-1"], "beta must be a non-negative number, got -1.0"),
            (["--centre-sigma", "-2"], "centre sigma must be positive, got -2.0"),
            (["--centres", "normal", "--centre-sigma", "0"], "centre sigma must be positive, got 0.0"),
            (["--centres", "normal", "--centre-sigma", "-2"], "centre sigma must be positive, got -2.0"),
            (["--radius", "-1.5"], "radius must be positive, got -1.5"),
            (["--latent-dim", "-2"], "latent-dim must be positive, got -2"),
            (["--hidden", "-3"], "hidden sizes must be positive, got -3"),
            (["--epochs", "-1"], "epochs must be positive, got -1"),
            (["--images", "-1"], "images must be positive, got -1"),
            (["--batch-size", "-128"], "batch-size must be positive, got -128"),
            (["--adam-beta1", "-0.5"], "adam-beta1 must be in [0, 1), got -0.5"),
            (["--adam-beta2", "-0.5"], "adam-beta2 must be in [0, 1), got -0.5"),
            (["--adam-epsilon", "-1e-8"], "adam-epsilon must be positive, got -1e-08"),
            (["--steps", "-5"], "steps must be positive, got -5"),
            (["--log-every", "-1"], "log-every must be positive, got -1"),
            (["--check-every", "-1"], "check-every must be positive, got -1"),
            (["--checkpoint-every", "-1"], "checkpoint-every must be positive, got -1"),
            (["--threads", "-1"], "threads must be in 1...256, got -1"),
            // Seeds are unsigned: -1 is a value the type cannot hold, said as such.
            (["--seed", "-1"], "The value '-1' is invalid for '--seed <seed>'"),
            (["--data-seed", "-1"], "The value '-1' is invalid for '--data-seed <data-seed>'"),
        ]
        for (flags, message) in cases { try assertRefused(["train"] + flags, message) }
    }

    func testNegativeBenchAndAnalyzeValuesAreRefused() throws {
        try assertRefused(["bench", "--bound-seconds", "-1"], "bound-seconds must be >= 0")
        try assertRefused(["bench", "--lr", "-1"], "lr must be positive, got -1.0")
        try assertRefused(["bench", "--threads", "-2"], "threads must be in 1...256, got -2")
        // Options are validated before the checkpoint is opened, so none is needed here.
        try assertRefused(["analyze", "c.bin", "--samples", "-5"], "samples must be in 10...1000000, got -5")
        try assertRefused(["analyze", "c.bin", "--bins", "-1"], "bins must be in 2...1000, got -1")
        try assertRefused(
            ["analyze", "c.bin", "--centre-sigma", "-2"], "centre sigma must be positive, got -2.0")
    }

    /// An option at the end of the line still lacks its value.
    func testAnOptionWithoutValueStillSaysMissing() throws {
        try assertRefused(["train", "--lr"], "Missing value for '--lr <lr>'")
    }
}
