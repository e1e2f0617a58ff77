import BinaryTesting
import Foundation
import XCTest

/// `vae-mpi train` then `vae-mpi analyze`, run as a user would, on briefly trained models.
final class AnalyzeCommandTests: XCTestCase {
    /// Checkpoints trained once for the whole class (a few seconds in all).
    struct Fixture {
        let directory: URL
        /// VAE 784-512-256-2, trained with the end-of-training analysis on.
        let vae: URL
        /// AE with 3 latents, trained with --no-analysis.
        let ae: URL
        /// The seed preset (integer, normal centres; 784-512-2; MSE), with --no-analysis.
        let seed: URL
    }

    nonisolated(unsafe) static var shared: Result<Fixture, Error>?

    static func fixture() throws -> Fixture {
        if let shared { return try shared.get() }
        let result = Result { () throws -> Fixture in
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("vae-analysis-fixture-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            func train(_ name: String, _ flags: [String]) throws -> URL {
                let path = directory.appendingPathComponent(name + ".bin")
                let r = try BinaryRunner.run(
                    ["train", "--checkpoint", path.path] + (flags.contains("--log-every") ? [] : ["--log-every", "1000"])
                        + flags)
                guard r.status == 0 else {
                    throw NSError(domain: "train \(name) failed: \(r.stderr)", code: Int(r.status))
                }
                return path
            }
            return Fixture(
                directory: directory,
                // The log where `analyze` looks by default (vae.bin -> vae.jsonl).
                vae: try train(
                    "vae",
                    [
                        "--images", "2000", "--steps", "40", "--log-every", "5",
                        "--log", directory.appendingPathComponent("vae.jsonl").path,
                    ]),
                ae: try train(
                    "ae",
                    [
                        "--model", "ae", "--latent-dim", "3", "--images", "2000", "--steps", "30",
                        "--no-analysis",
                    ]),
                seed: try train("seed", ["--preset", "seed", "--steps", "20", "--no-analysis"]))
        }
        shared = result
        return try result.get()
    }

    override class func tearDown() {
        if case .success(let f) = shared { try? FileManager.default.removeItem(at: f.directory) }
        shared = nil
        super.tearDown()
    }

    func testTrainingEndsWithTheAnalysisThatAnalyzeWouldWrite() throws {
        let f = try Self.fixture()
        let trainEnd = f.directory.appendingPathComponent("vae-analysis")
        try ReportFiles.check(trainEnd, latentDim: 2, variational: true, samples: 4000)

        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("again")
        let r = try BinaryRunner.run(["analyze", f.vae.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, out.appendingPathComponent("report.html").path + "\n")
        XCTAssertTrue(r.stderr.contains("encoding and decoding 4000 images"), "progress on stderr")
        try ReportFiles.check(out, latentDim: 2, variational: true, samples: 4000)
        let log = try XCTUnwrap(
            try ReportFiles.check(out, latentDim: 2, variational: true, samples: 4000)["training_log"]
                as? [String: Any])
        XCTAssertEqual(log["points"] as? Int, 8, "steps 5, 10, ..., 40")
        XCTAssertEqual(log["last_step"] as? Int, 40)
        for name in ["latents.csv", "metrics.json", "latent_grid.png", "training_curves.png"] {
            XCTAssertEqual(
                try Data(contentsOf: out.appendingPathComponent(name)),
                try Data(contentsOf: trainEnd.appendingPathComponent(name)), name)
        }
    }

    func testACheckpointWithoutALogGetsNoCurvesAndASentenceSayingSo() throws {
        let f = try Self.fixture()
        let copy = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("alone.bin")
        try FileManager.default.copyItem(at: f.vae, to: copy)
        let out = copy.deletingLastPathComponent().appendingPathComponent("out")
        let r = try BinaryRunner.run(["analyze", copy.path, "--out", out.path, "--samples", "200"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 2, variational: true, samples: 200)
        XCTAssertTrue(json["training_log"] is NSNull)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("No training curves: no training log was found"), html)
        XCTAssertTrue(html.contains("alone.jsonl"), "names the file it looked for")
    }

    func testALogGivenByNameWithPerLatentKLIsDrawnUpToTheCheckpointsStep() throws {
        let f = try Self.fixture()
        let dir = try BinaryRunner.temporaryDirectory(self)
        let log = dir.appendingPathComponent("other.jsonl")
        let lines = stride(from: 5, through: 60, by: 5).map { s in
            "{\"step\":\(s),\"loss\":\(100 - s),\"recon\":\(90 - s),\"kl\":\(s / 5),\"kl_latents\":[\(s / 10),\(s / 10)]}"
        }
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let r = try BinaryRunner.run([
            "analyze", f.vae.path, "--out", out.path, "--samples", "200", "--log", log.path,
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 2, variational: true, samples: 200)
        let entry = try XCTUnwrap(json["training_log"] as? [String: Any])
        XCTAssertEqual(entry["points"] as? Int, 8, "steps after the checkpoint's 40 are left out")
        XCTAssertEqual(entry["kl_per_latent"] as? Bool, true)
        XCTAssertEqual(entry["path"] as? String, log.path)
    }

    func testABadLogIsAOneLineErrorNamingTheFileAndLine() throws {
        let f = try Self.fixture()
        let dir = try BinaryRunner.temporaryDirectory(self)
        let bad = dir.appendingPathComponent("bad.jsonl")
        try "{\"step\":1,\"loss\":2,\"recon\":1,\"kl\":1}\nnot json\n".write(
            to: bad, atomically: true, encoding: .utf8)
        try assertOneLineError(
            ["analyze", f.vae.path, "--out", dir.appendingPathComponent("o").path, "--log", bad.path],
            mentions: "training log \(bad.path):2: not a JSON object")
        try assertOneLineError(
            ["analyze", f.vae.path, "--log", dir.appendingPathComponent("none.jsonl").path],
            mentions: "none.jsonl: no such file")
        try assertOneLineError(["analyze", f.vae.path, f.seed.path, "--log", bad.path], mentions: "--log takes one checkpoint")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o").path), "nothing written")
    }

    func testNoAnalysisFlagWritesNoReport() throws {
        let f = try Self.fixture()
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: f.directory.appendingPathComponent("ae-analysis").path))
    }

    func testAnAutoencoderWithThreeLatentsGetsTraversalsAndNoKL() throws {
        let f = try Self.fixture()
        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("ae")
        let r = try BinaryRunner.run([
            "analyze", f.ae.path, "--out", out.path, "--samples", "300", "--seed", "5",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 3, variational: false, samples: 300)
        XCTAssertTrue(json["kl"] is NSNull)
        XCTAssertEqual((json["images"] as? [String: Any])?["seed"] as? String, "5")
    }

    func testTheSeedPresetCheckpointIsAnalysedOnItsOwnImageSettings() throws {
        let f = try Self.fixture()
        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("seed")
        let r = try BinaryRunner.run(["analyze", f.seed.path, "--out", out.path, "--samples", "500"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 2, variational: true, samples: 500)
        let images = try XCTUnwrap(json["images"] as? [String: Any])
        XCTAssertEqual(images["integer_centres"] as? Bool, true)
        XCTAssertEqual(images["antialias"] as? Bool, false)
        XCTAssertEqual((images["centres"] as? [String: Any])?["sigma"] as? Double, 3)
        // Only the spread changes: the rest stays as trained.
        let narrow = out.deletingLastPathComponent().appendingPathComponent("narrow")
        let n = try BinaryRunner.run([
            "analyze", f.seed.path, "--out", narrow.path, "--samples", "100", "--centre-sigma", "2",
        ])
        XCTAssertEqual(n.status, 0, n.stderr)
        let narrowImages = try XCTUnwrap(
            try ReportFiles.check(narrow, latentDim: 2, variational: true, samples: 100)["images"]
                as? [String: Any])
        XCTAssertEqual((narrowImages["centres"] as? [String: Any])?["sigma"] as? Double, 2)
        XCTAssertEqual(narrowImages["integer_centres"] as? Bool, true)
        let csv = try String(contentsOf: out.appendingPathComponent("latents.csv"), encoding: .utf8)
        for row in csv.split(separator: "\n").dropFirst() {
            let x = try XCTUnwrap(Double(row.split(separator: ",")[1]))
            XCTAssertEqual(x, x.rounded(), "integer centres")
        }
    }

    func testImageSettingsCanBeOverridden() throws {
        let f = try Self.fixture()
        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("wide")
        let r = try BinaryRunner.run([
            "analyze", f.seed.path, "--out", out.path, "--samples", "200",
            "--centres", "uniform", "--radius", "4", "--no-integer-centres",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 2, variational: true, samples: 200)
        let images = try XCTUnwrap(json["images"] as? [String: Any])
        XCTAssertEqual(images["radius"] as? Double, 4)
        XCTAssertEqual(images["integer_centres"] as? Bool, false)
        XCTAssertEqual((images["centres"] as? [String: Any])?["distribution"] as? String, "uniform")
    }

    /// The world's factors can be set for the analysis too; metrics.json records them.
    func testWorldFlagsSetTheAnalysedCircles() throws {
        let f = try Self.fixture()
        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("world")
        let r = try BinaryRunner.run([
            "analyze", f.vae.path, "--out", out.path, "--samples", "200", "--radius", "2-5",
            "--intensity", "0.3-1",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try ReportFiles.check(out, latentDim: 2, variational: true, samples: 200)
        let images = try XCTUnwrap(json["images"] as? [String: Any])
        XCTAssertEqual(images["radius"] as? Double, 2)
        XCTAssertEqual(images["max_radius"] as? Double, 5)
        XCTAssertEqual(images["intensity"] as? Double, 0.3)
        XCTAssertEqual(images["max_intensity"] as? Double, 1)
    }

    func testSeveralCheckpointsShareOneReportWithARowEach() throws {
        let f = try Self.fixture()
        let out = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("compare")
        let r = try BinaryRunner.run([
            "analyze", f.vae.path, f.ae.path, f.seed.path, "--out", out.path, "--samples", "300",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (name, dim, variational) in [("vae", 2, true), ("ae", 3, false), ("seed", 2, true)] {
            try ReportFiles.check(
                out.appendingPathComponent(name), latentDim: dim, variational: variational, samples: 300)
        }
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        for reference in ReportFiles.localReferences(html) {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: out.appendingPathComponent(reference).path), reference)
        }
        let table = try XCTUnwrap(
            html.components(separatedBy: "<tbody>").dropFirst().first?.components(separatedBy: "</tbody>")
                .first)
        XCTAssertEqual(table.components(separatedBy: "<tr>").count - 1, 3, "one row per checkpoint")
        let comparison = try XCTUnwrap(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out.appendingPathComponent("comparison.json"))) as? [[String: Any]])
        XCTAssertEqual(
            comparison.compactMap { ($0["checkpoint"] as? [String: Any])?["model"] as? String },
            ["vae", "ae", "vae"])
    }

    func testDefaultDirectoryIsNamedAfterTheCheckpoint() throws {
        let f = try Self.fixture()
        let copy = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("model.v1.bin")
        try FileManager.default.copyItem(at: f.seed, to: copy)
        let r = try BinaryRunner.run(["analyze", copy.path, "--samples", "100"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = copy.deletingLastPathComponent().appendingPathComponent("model.v1-analysis")
        XCTAssertEqual(r.stdout, expected.appendingPathComponent("report.html").path + "\n")
        try ReportFiles.check(expected, latentDim: 2, variational: true, samples: 100)
    }

    // MARK: Bad input: one line, non-zero exit, no crash

    func assertOneLineError(
        _ arguments: [String], mentions text: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let r = try BinaryRunner.run(arguments)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertLessThan(r.status, 128, "exit, not a signal: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("Error: ") ?? false, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
        XCTAssertFalse(
            r.stderr.contains("Stack dump") || r.stderr.contains("Fatal error"), r.stderr, file: file,
            line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    func testAMissingCheckpointIsAOneLineError() throws {
        let dir = try BinaryRunner.temporaryDirectory(self)
        try assertOneLineError(
            ["analyze", dir.appendingPathComponent("none.bin").path], mentions: "none.bin: ")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "nothing written")
    }

    func testACorruptCheckpointIsAOneLineError() throws {
        let f = try Self.fixture()
        let dir = try BinaryRunner.temporaryDirectory(self)
        let garbage = dir.appendingPathComponent("garbage.bin")
        try Data("not a checkpoint at all".utf8).write(to: garbage)
        try assertOneLineError(["analyze", garbage.path], mentions: "not a vae-mpi checkpoint")

        var bytes = try Data(contentsOf: f.seed)
        bytes[bytes.count / 2] ^= 0xFF
        let flipped = dir.appendingPathComponent("flipped.bin")
        try bytes.write(to: flipped)
        try assertOneLineError(["analyze", flipped.path], mentions: "checksum")

        let truncated = dir.appendingPathComponent("truncated.bin")
        try bytes.prefix(bytes.count / 3).write(to: truncated)
        try assertOneLineError(["analyze", truncated.path], mentions: "truncated.bin: ")
    }

    func testBadOptionsAreRejectedBeforeAnyWork() throws {
        let f = try Self.fixture()
        try assertOneLineError(["analyze", f.seed.path, "--samples", "1"], mentions: "samples")
        try assertOneLineError(["analyze", f.seed.path, "--radius", "20"], mentions: "does not fit")
        try assertOneLineError(["analyze", f.seed.path, "--radius", "3-20"], mentions: "does not fit")
        try assertOneLineError(["analyze", f.seed.path, "--radius", "5-2"], mentions: "runs backwards")
        try assertOneLineError(["analyze", f.seed.path, "--intensity", "1.2"], mentions: "must be in (0, 1]")
        try assertOneLineError(["analyze", f.seed.path, "--out", f.seed.path], mentions: "is a file")
        try assertOneLineError(
            ["analyze", f.vae.path, "--centre-sigma", "2"], mentions: "--centre-sigma needs normal centres")
    }
}
