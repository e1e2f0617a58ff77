import BinaryTesting
import Foundation
import XCTest

final class CommandLineTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vae-mpi-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The configuration recorded in the checkpoint at `path`.
    private func recordedConfiguration(_ path: String) throws -> [String: Any] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = Int(bytes[12..<20].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        let header = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: bytes[20..<(20 + length)]) as? [String: Any])
        return try XCTUnwrap(header["configuration"] as? [String: Any])
    }

    /// Each bad flag fails before any work: exit code 64 (usage), one line naming the problem,
    /// and no checkpoint written.
    func testBadFlagsAreRejectedWithTheirMessage() throws {
        let cases: [([String], String)] = [
            (["--latent-dim", "0"], "latent-dim must be positive, got 0"),
            (["--hidden", "512,-3"], "hidden sizes must be positive, got -3"),
            (["--hidden", "512,abc"], "The value '512,abc' is invalid for '--hidden <hidden>'"),
            (["--batch-size", "0"], "batch-size must be positive, got 0"),
            (
                ["--images", "100", "--batch-size", "128"],
                "batch-size 128 is larger than the data set (100 images)"
            ),
            (
                ["--model", "gan"],
                "The value 'gan' is invalid for '--model <model>'. Please provide one of 'vae' and 'ae'."
            ),
            (
                ["--recon", "l1"],
                "The value 'l1' is invalid for '--recon <recon>'. Please provide one of 'bce' and 'mse'."
            ),
            (["--epochs=-1"], "epochs must be positive, got -1"),
            (["--lr", "0"], "lr must be positive, got 0.0"),
            (["--steps", "0"], "steps must be positive, got 0"),
            (
                ["--checkpoint", "/nonexistent-dir/c.bin"],
                "--checkpoint /nonexistent-dir/c.bin: directory /nonexistent-dir does not exist"
            ),
            (["--checkpoint", "/tmp"], "--checkpoint /tmp: is a directory"),
            (["--threads", "0"], "threads must be in 1...256, got 0"),
            (["--radius", "5-2"], "--radius 5-2: the range runs backwards (give MIN-MAX)"),
            (["--radius", "2-15"], "a disc of radius 15.0 does not fit in a 28-pixel image"),
            (["--radius", "2-x"], "The value '2-x' is invalid for '--radius <radius>'"),
            (["--intensity", "0"], "--intensity 0: the grey level must be in (0, 1]"),
            (["--intensity", "0.3-1.5"], "--intensity 0.3-1.5: the grey level must be in (0, 1]"),
            (["--intensity", "1-0.3"], "--intensity 1-0.3: the range runs backwards (give MIN-MAX)"),
            (["--objective", "ada-gvae", "--model", "ae"], "--objective ada-gvae needs a VAE (--model vae)"),
            (["--pair-changes", "1"], "--pair-changes applies to --objective ada-gvae"),
            (
                ["--objective", "ada-gvae", "--radius", "2-5", "--pair-changes", "3"],
                "--pair-changes must be in 1...2 (the factors that vary: x, y, radius), got 3"
            ),
        ]
        for (flags, message) in cases {
            let result = try BinaryRunner.run(["train"] + flags, in: directory)
            XCTAssertEqual(result.status, 64, "\(flags): exit code")
            let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertEqual(firstLine, "Error: \(message)", "\(flags)")
            XCTAssertFalse(
                FileManager.default.fileExists(
                    atPath: directory.appendingPathComponent("checkpoint.bin").path))
        }
    }

    /// An Ada-GVAE run records its objective and k under their optional keys, ends with the
    /// analysis of single images like any run, and a resume refuses another k.
    func testAdaGVAERunIsRecordedAndAnalysed() throws {
        let path = directory.appendingPathComponent("pairs.bin").path
        let flags = [
            "--objective", "ada-gvae", "--pair-changes", "2", "--radius", "2-5", "--latent-dim", "3",
            "--hidden", "16", "--images", "256", "--batch-size", "64", "--epochs", "1",
        ]
        var result = try BinaryRunner.run(["train", "--checkpoint", path] + flags, in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        let loss = try XCTUnwrap(try recordedConfiguration(path)["loss"] as? [String: Any])
        XCTAssertEqual(loss["objective"] as? String, "ada-gvae")
        XCTAssertEqual(loss["pairChanges"] as? Int, 2)
        let metrics = directory.appendingPathComponent("pairs-analysis/metrics.json").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: metrics), result.stderr)

        result = try BinaryRunner.run(
            [
                "train", "--resume", path, "--objective", "ada-gvae", "--pair-changes", "1", "--epochs", "2",
                "--checkpoint", path, "--no-analysis",
            ],
            in: directory)
        XCTAssertEqual(result.status, 1, "as every resumed run that contradicts its checkpoint")
        XCTAssertTrue(
            result.stderr.contains("--pair-changes 1 contradicts the checkpoint's 2"), result.stderr)
    }

    /// With no flags, `train` runs the standard recipe (broadcast decoder, beta-TCVAE with beta 6,
    /// gen-gaussian:8, blur 5 annealed over half the run, 40 epochs); another objective without --beta
    /// brings its own beta, a given --beta stays, and so does a sweep's --beta under a grid of
    /// objectives; the plain AE, which has no regulariser, records the ELBO.
    func testDefaultsAreTheStandardRecipeAndAnObjectiveBringsItsBeta() throws {
        let tiny = ["--images", "256", "--batch-size", "64", "--no-analysis"]
        let cases: [([String], decoder: String, objective: String, beta: Double, prior: String)] = [
            ([], "broadcast:32,32", "beta-tcvae", 6, "gen-gaussian:8"),
            (["--objective", "elbo"], "broadcast:32,32", "elbo", 1, "gen-gaussian:8"),
            (["--objective", "elbo", "--beta", "3"], "broadcast:32,32", "elbo", 3, "gen-gaussian:8"),
            (["--preset", "bench", "--objective", "beta-tcvae"], "mlp", "beta-tcvae", 6, "gaussian"),
            (["--preset", "seed"], "mlp", "elbo", 1, "gaussian"),
            (["--model", "ae"], "broadcast:32,32", "elbo", 1, "gen-gaussian:8"),
        ]
        for (index, (flags, decoder, objective, beta, prior)) in cases.enumerated() {
            let path = directory.appendingPathComponent("defaults\(index).bin").path
            let result = try BinaryRunner.run(["train", "--checkpoint", path] + tiny + flags, in: directory)
            XCTAssertEqual(result.status, 0, result.stderr)
            let configuration = try recordedConfiguration(path)
            let model = try XCTUnwrap(configuration["model"] as? [String: Any])
            let loss = try XCTUnwrap(configuration["loss"] as? [String: Any])
            XCTAssertEqual(model["decoder"] as? String, decoder, "\(flags)")
            XCTAssertEqual(loss["objective"] as? String, objective, "\(flags)")
            XCTAssertEqual(loss["beta"] as? Double, beta, "\(flags)")
            XCTAssertEqual(loss["prior"] as? String, prior, "\(flags)")
            if flags.isEmpty {
                let blur = try XCTUnwrap(configuration["blur"] as? [String: Any])
                XCTAssertEqual(blur["sigma"] as? Double, 5)
                XCTAssertEqual(blur["annealFraction"] as? Double, 0.5)
                XCTAssertEqual(model["hidden"] as? [Int], [512, 256])
                XCTAssertEqual(configuration["epochs"] as? Int, 40)
            }
        }

        let out = directory.appendingPathComponent("study").path
        let result = try BinaryRunner.run(
            ["sweep", "--seeds", "0", "--beta", "4", "--grid", "objective=elbo,beta-tcvae", "--out", out, "--hidden", "16"]
                + tiny.filter { $0 != "--no-analysis" },
            in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        for objective in ["elbo", "beta-tcvae"] {
            let configuration = try recordedConfiguration("\(out)/runs/objective=\(objective)-seed0/checkpoint.bin")
            let loss = try XCTUnwrap(configuration["loss"] as? [String: Any])
            XCTAssertEqual(loss["objective"] as? String, objective)
            XCTAssertEqual(loss["beta"] as? Double, 4, "the sweep's --beta, under \(objective)")
        }
    }

    /// The world's flags reach the checkpoint: a radius and an intensity range are recorded
    /// under their optional keys, a single number stays a fixed radius, and a resumed run
    /// refuses another world.
    func testWorldFlagsAreRecordedInTheCheckpoint() throws {
        let tiny = ["--hidden", "16", "--images", "256", "--batch-size", "64", "--epochs", "1", "--no-analysis"]
        func images(_ path: String) throws -> [String: Any] {
            try XCTUnwrap(try recordedConfiguration(path)["images"] as? [String: Any])
        }
        let ranged = directory.appendingPathComponent("ranged.bin").path
        var result = try BinaryRunner.run(
            ["train", "--radius", "2-5", "--intensity", "0.3-1", "--checkpoint", ranged] + tiny, in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        var recorded = try images(ranged)
        XCTAssertEqual(recorded["radius"] as? Double, 2)
        XCTAssertEqual(recorded["maxRadius"] as? Double, 5)
        XCTAssertEqual(recorded["intensity"] as? Double, 0.3)
        XCTAssertEqual(recorded["maxIntensity"] as? Double, 1)

        let fixed = directory.appendingPathComponent("fixed.bin").path
        result = try BinaryRunner.run(["train", "--radius", "4", "--checkpoint", fixed] + tiny, in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        recorded = try images(fixed)
        XCTAssertEqual(recorded["radius"] as? Double, 4)
        for key in ["maxRadius", "intensity", "maxIntensity"] { XCTAssertNil(recorded[key], key) }

        result = try BinaryRunner.run(
            ["train", "--resume", ranged, "--radius", "2-6", "--epochs", "2", "--checkpoint", ranged, "--no-analysis"],
            in: directory)
        XCTAssertEqual(result.status, 1, "as every resumed run that contradicts its checkpoint")
        XCTAssertTrue(result.stderr.contains("--radius 2.0-6.0 contradicts the checkpoint's 2.0-5.0"), result.stderr)
    }

    /// A short run writes its checkpoint and a JSON-lines log with the documented fields.
    func testShortRunWritesCheckpointAndLog() throws {
        let result = try BinaryRunner.run(
            [
                "train", "--steps", "30", "--images", "2048", "--hidden", "64",
                "--log", "log.jsonl", "--log-every", "10",
            ], in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint.bin").path))
        let log = try String(contentsOf: directory.appendingPathComponent("log.jsonl"), encoding: .utf8)
        let lines = log.split(separator: "\n")
        var steps: [Int] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            for key in ["step", "epoch", "loss", "recon", "kl", "samples_per_s"] {
                XCTAssertNotNil(object?[key], "\(key) missing in \(line)")
            }
            steps.append(object?["step"] as? Int ?? -1)
        }
        // Every 10 steps, at the end of epoch 1 (2048 / 128 = 16 steps) and at the last step.
        XCTAssertEqual(steps, [10, 16, 20, 30])
        XCTAssertTrue(result.stderr.contains("done: 30 steps"), result.stderr)
    }

    /// `bench` on a tiny workload: per-epoch lines, one JSON summary with the split, and a
    /// baseline comparison that names what differs between the two set-ups; a file that is
    /// not a summary is refused before any work.
    func testBenchSummaryAndBaseline() throws {
        let tiny = [
            "bench", "--images", "1024", "--epochs", "2", "--hidden", "64", "--bound-seconds", "0.05",
        ]
        let first = try BinaryRunner.run(
            tiny + ["--threads", "1", "--save-baseline", "base.json"], in: directory)
        XCTAssertEqual(first.status, 0, first.stderr)
        let lines = first.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("epoch ") }.count, 2, first.stdout)
        let summary = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any]
        XCTAssertEqual(summary?["threads_per_rank"] as? Int, 1)
        XCTAssertGreaterThan(summary?["samples_per_s"] as? Double ?? 0, 0)
        let shares = summary?["time_share"] as? [String: Double] ?? [:]
        XCTAssertEqual(
            Set(shares.keys), ["render", "forward", "backward", "allreduce", "optimizer", "communication"])

        let second = try BinaryRunner.run(
            tiny + ["--threads", "2", "--baseline", "base.json"], in: directory)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(
            second.stdout.contains("(not comparable: threads_per_rank 1 there, 2 here)"), second.stdout)

        try Data("{}".utf8).write(to: directory.appendingPathComponent("bad.json"))
        let bad = try BinaryRunner.run(tiny + ["--baseline", "bad.json"], in: directory)
        XCTAssertEqual(bad.status, 64)
        XCTAssertEqual(
            bad.stderr.split(separator: "\n").first.map(String.init),
            "Error: --baseline bad.json: not a bench summary (no samples_per_s)")
    }

    /// `bench --preset standard` runs the default recipe's whole schedule (here 3 short epochs,
    /// the blur annealed over the first half) and reports the whole run and its slowest epoch
    /// against its fastest, the figures that matter on the path users run.
    func testBenchOfTheDefaultRecipeReportsTheWholeRun() throws {
        let result = try BinaryRunner.run(
            [
                "bench", "--preset", "standard", "--images", "1024", "--epochs", "3", "--hidden", "64",
                "--bound-seconds", "0", "--threads", "1",
            ], in: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("epoch ") }.count, 3, result.stdout)
        XCTAssertEqual(lines.filter { $0.hasPrefix("whole run: ") }.count, 1, result.stdout)
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
        XCTAssertEqual(summary["epochs"] as? Int, 3)
        let whole = try XCTUnwrap(summary["whole_run_samples_per_s"] as? Double)
        let seconds = try XCTUnwrap(summary["whole_run_seconds"] as? Double)
        // 3 epochs of 1024 / 128 = 8 steps of 128 samples.
        XCTAssertEqual(whole, 3 * 8 * 128 / seconds, accuracy: 0.02 * whole)
        let ratio = try XCTUnwrap(summary["slowest_epoch_ratio"] as? Double)
        XCTAssertGreaterThan(ratio, 0)
        XCTAssertLessThanOrEqual(ratio, 1)
    }
}
