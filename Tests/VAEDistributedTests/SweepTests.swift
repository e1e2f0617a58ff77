import Foundation
import XCTest

extension Launcher {
    /// `vae-mpi sweep ARGUMENTS` on `ranks` ranks of mpirun, or alone when `ranks` is nil.
    static func sweep(ranks: Int?, _ arguments: [String], timeout: Double = 120) throws -> Outcome {
        let command = [binary, "sweep"] + arguments
        guard let ranks else { return try run(command, timeout: timeout) }
        return try run(["mpirun"] + mpirunFlags + ["-np", String(ranks)] + command, timeout: timeout)
    }
}

/// `vae-mpi sweep`: its runs are `train`'s runs bit for bit, its study counts what the runs'
/// analyses measured, and a second call trains only what is missing.
final class SweepTests: LaunchingTestCase {
    /// 8 steps of a small model per run; one thread per rank, so that a run's bits do not
    /// depend on how many ranks share the machine.
    private let tiny = [
        "--hidden", "32", "--images", "512", "--epochs", "1", "--batch-size", "64", "--threads", "1",
    ]
    private let grid = ["--seeds", "0-1", "--grid", "beta=1,4"]
    private let runNames = ["beta=1-seed0", "beta=1-seed1", "beta=4-seed0", "beta=4-seed1"]

    private func runDirectory(_ out: String, _ name: String) -> String { "\(out)/runs/\(name)" }
    private func checkpoint(_ out: String, _ name: String) -> String { "\(out)/runs/\(name)/checkpoint.bin" }
    private func metricsFile(_ out: String, _ name: String) -> String {
        "\(out)/runs/\(name)/checkpoint-analysis/metrics.json"
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    private func modified(_ path: String) throws -> Date {
        try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    }

    private func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: bytes(path)) as? [String: Any], path)
    }

    /// `train` with the sweep's flags for one run, on `ranks`; returns its checkpoint's bytes.
    private func trainAlike(beta: String, seed: String, ranks: Int?) throws -> Data {
        let path = self.path("train-\(beta)-\(seed)-\(ranks ?? 0).bin")
        succeed(
            try Launcher.train(
                ranks: ranks, tiny + ["--beta", beta, "--seed", seed, "--checkpoint", path, "--no-analysis"]))
        return try bytes(path)
    }

    /// The criterion computed here from a run's metrics.json, apart from the binary's.
    private func disentangled(_ metrics: [String: Any]) throws -> Bool {
        let latents = try XCTUnwrap(metrics["latents"] as? [[String: Any]])
        let matching = try XCTUnwrap(metrics["matching"] as? [String: Any])
        func rho(_ factor: String, _ other: String) throws -> Double {
            let j = try XCTUnwrap((matching[factor] as? [String: Any])?["latent"] as? Int)
            return abs(try XCTUnwrap((latents[j]["spearman"] as? [String: Any])?[other] as? Double))
        }
        return try rho("x", "x") >= 0.95 && rho("y", "y") >= 0.95 && rho("x", "y") <= 0.10
            && rho("y", "x") <= 0.10
    }

    /// The study's k/n per configuration equal the counts over the runs' own metrics.json, in
    /// study.json, study.csv, on stdout and on the page.
    private func assertStudyCountsTheRuns(_ out: String, file: StaticString = #filePath, line: UInt = #line)
        throws -> [String: Int]
    {
        let study = try json("\(out)/study.json")
        let configurations = try XCTUnwrap(study["configurations"] as? [[String: Any]])
        XCTAssertEqual(
            configurations.map { $0["name"] as? String }, ["beta=1", "beta=4"], file: file, line: line)
        var counts: [String: Int] = [:]
        for c in configurations {
            let name = try XCTUnwrap(c["name"] as? String)
            let runs = try (0...1).map { try json(metricsFile(out, "\(name)-seed\($0)")) }
            let expected = try runs.filter(disentangled).count
            XCTAssertEqual(c["disentangled"] as? Int, expected, name, file: file, line: line)
            XCTAssertEqual(c["measured"] as? Int, 2, name, file: file, line: line)
            counts[name] = expected
        }
        let csv = try String(contentsOfFile: "\(out)/study.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 5, "a header and a row per run", file: file, line: line)
        let html = try String(contentsOfFile: "\(out)/study.html", encoding: .utf8)
        for (name, k) in counts {
            XCTAssertTrue(html.contains("\(name): \(k)/2 disentangled"), name, file: file, line: line)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/study.png"), file: file, line: line)
        return counts
    }

    /// Alone: every run's files and the study; each run's checkpoint is `train`'s, byte for
    /// byte; and the count follows the runs' metrics: one run's metrics.json edited to be
    /// disentangled makes a second call (which trains nothing) count it.
    func testASweepAloneTrainsWhatTrainTrainsAndCountsTheRunsMetrics() throws {
        let out = path("study")
        let outcome = succeed(try Launcher.sweep(ranks: nil, grid + tiny + ["--out", out]))
        for name in runNames {
            for file in [
                "checkpoint.bin", "checkpoint.jsonl", "checkpoint-analysis/metrics.json",
                "checkpoint-analysis/report.html",
            ] {
                XCTAssertTrue(
                    FileManager.default.fileExists(atPath: "\(runDirectory(out, name))/\(file)"),
                    "\(name)/\(file)")
            }
        }
        let counts = try assertStudyCountsTheRuns(out)
        XCTAssertTrue(
            outcome.stdout.contains("beta=4: \(counts["beta=4"] ?? -1)/2 disentangled"), outcome.stdout)
        XCTAssertTrue(
            outcome.stdout.contains(">= 0.95") && outcome.stdout.contains("<= 0.10"), outcome.stdout)
        XCTAssertTrue(outcome.stderr.contains("4/4 runs done"), outcome.stderr)
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=1-seed0")), try trainAlike(beta: "1", seed: "0", ranks: nil))
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=4-seed1")), try trainAlike(beta: "4", seed: "1", ranks: nil))

        // A study that counts from the files: make beta=4-seed1 disentangled in its metrics.
        let edited = metricsFile(out, "beta=4-seed1")
        var metrics = try json(edited)
        XCTAssertFalse(try disentangled(metrics), "8 steps are too few to disentangle")
        var latents = try XCTUnwrap(metrics["latents"] as? [[String: Any]])
        latents[0]["spearman"] = ["x": 0.99, "y": 0.01]
        latents[1]["spearman"] = ["x": -0.02, "y": -0.98]
        metrics["latents"] = latents
        metrics["matching"] = ["x": ["latent": 0], "y": ["latent": 1]]
        try JSONSerialization.data(withJSONObject: metrics).write(to: URL(fileURLWithPath: edited))
        XCTAssertTrue(try disentangled(metrics))
        let again = succeed(try Launcher.sweep(ranks: nil, grid + tiny + ["--out", out]))
        XCTAssertTrue(again.stderr.contains("4 done, 0 to continue, 0 to train or analyse"), again.stderr)
        let recounted = try assertStudyCountsTheRuns(out)
        XCTAssertEqual(recounted["beta=4"], (counts["beta=4"] ?? 0) + 1)
    }

    /// The world's flags are grid keys: each run's checkpoint records its configuration's world.
    func testWorldFlagsAreGridKeys() throws {
        let out = path("worlds")
        succeed(
            try Launcher.sweep(
                ranks: nil, ["--seeds", "0", "--grid", "radius=2-5 intensity=0.5-1,1", "--out", out] + tiny))
        for (name, intensity) in [("radius=2-5,intensity=0.5-1", [0.5, 1.0]), ("radius=2-5,intensity=1", nil)] {
            let bytes = try bytes(checkpoint(out, "\(name)-seed0"))
            let length = Int(bytes[12..<20].reversed().reduce(0) { $0 << 8 | UInt64($1) })
            let header = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: bytes[20..<(20 + length)]) as? [String: Any])
            let images = try XCTUnwrap((header["configuration"] as? [String: Any])?["images"] as? [String: Any])
            XCTAssertEqual(images["radius"] as? Double, 2, name)
            XCTAssertEqual(images["maxRadius"] as? Double, 5, name)
            XCTAssertEqual(images["intensity"] as? Double, intensity?[0], name)
            XCTAssertEqual(images["maxIntensity"] as? Double, intensity?[1], name)
        }
    }

    /// Two ranks, one per run: the two groups train side by side, and each run is the model
    /// `train` makes alone.
    func testTwoRanksOneRankPerRunTrainWhatTrainTrainsAlone() throws {
        let out = path("study")
        succeed(try Launcher.sweep(ranks: 2, grid + tiny + ["--out", out]))
        _ = try assertStudyCountsTheRuns(out)
        for name in runNames {
            let log = try String(
                contentsOfFile: "\(runDirectory(out, name))/checkpoint.jsonl", encoding: .utf8)
            XCTAssertTrue(log.contains("\"ranks\":1"), name)
        }
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=1-seed1")), try trainAlike(beta: "1", seed: "1", ranks: nil))
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=4-seed0")), try trainAlike(beta: "4", seed: "0", ranks: nil))
    }

    /// Two ranks that train every run together: each run is `mpirun -np 2 train`'s model.
    func testTwoRanksPerRunTrainWhatTrainTrainsOnTwoRanks() throws {
        let out = path("study")
        succeed(try Launcher.sweep(ranks: 2, grid + tiny + ["--out", out, "--ranks-per-run", "2"]))
        _ = try assertStudyCountsTheRuns(out)
        for name in runNames {
            let log = try String(
                contentsOfFile: "\(runDirectory(out, name))/checkpoint.jsonl", encoding: .utf8)
            XCTAssertTrue(log.contains("\"ranks\":2"), name)
        }
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=1-seed0")), try trainAlike(beta: "1", seed: "0", ranks: 2))
        XCTAssertEqual(
            try bytes(checkpoint(out, "beta=4-seed1")), try trainAlike(beta: "4", seed: "1", ranks: 2))
    }

    /// A second call trains only what is missing: a run whose directory is gone is trained
    /// again, one without its analysis is only analysed, one cut short (its checkpoint from a
    /// 3-step `train`) continues from that checkpoint, and a finished one is left alone. Every
    /// run ends as the first call left it, byte for byte.
    func testASecondCallTrainsOnlyWhatIsMissing() throws {
        let out = path("study")
        let command = grid + tiny + ["--out", out, "--log-every", "1"]
        succeed(try Launcher.sweep(ranks: 2, command))
        let first = try Dictionary(
            uniqueKeysWithValues: runNames.map { ($0, try bytes(checkpoint(out, $0))) })
        let untouched = "beta=1-seed0", removed = "beta=1-seed1", unanalysed = "beta=4-seed0",
            cut = "beta=4-seed1"
        let untouchedTimes = (
            try modified(checkpoint(out, untouched)), try modified(metricsFile(out, untouched))
        )
        let unanalysedTime = try modified(checkpoint(out, unanalysed))
        try FileManager.default.removeItem(atPath: runDirectory(out, removed))
        try FileManager.default.removeItem(atPath: "\(runDirectory(out, unanalysed))/checkpoint-analysis")
        succeed(
            try Launcher.train(
                ranks: nil,
                tiny + [
                    "--beta", "4", "--seed", "1", "--steps", "3", "--log-every", "1", "--checkpoint",
                    checkpoint(out, cut),
                    "--no-analysis",
                ]))
        XCTAssertNotEqual(try bytes(checkpoint(out, cut)), first[cut])

        let again = succeed(try Launcher.sweep(ranks: 2, command))
        XCTAssertTrue(again.stderr.contains("1 done, 1 to continue, 2 to train or analyse"), again.stderr)
        XCTAssertFalse(again.stderr.contains("\(untouched) done"), again.stderr)
        for name in runNames { XCTAssertEqual(try bytes(checkpoint(out, name)), first[name], name) }
        XCTAssertEqual(try modified(checkpoint(out, untouched)), untouchedTimes.0, "not trained again")
        XCTAssertEqual(try modified(metricsFile(out, untouched)), untouchedTimes.1, "not analysed again")
        XCTAssertEqual(try modified(checkpoint(out, unanalysed)), unanalysedTime, "analysed, not trained")
        XCTAssertTrue(FileManager.default.fileExists(atPath: metricsFile(out, unanalysed)))
        // The continued run's log holds each step once: the first call's up to the checkpoint,
        // then the continuation's.
        let steps = try String(contentsOfFile: "\(runDirectory(out, cut))/checkpoint.jsonl", encoding: .utf8)
            .split(separator: "\n").map { line -> Int in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return try XCTUnwrap(object?["step"] as? Int)
            }
        XCTAssertEqual(steps, Array(1...8))
        _ = try assertStudyCountsTheRuns(out)
    }

    /// A directory whose runs were trained with other settings is not overwritten.
    func testRunsTrainedWithOtherSettingsAreLeftAlone() throws {
        let out = path("study")
        succeed(try Launcher.sweep(ranks: nil, ["--seeds", "0"] + tiny + ["--out", out]))
        let saved = try bytes(checkpoint(out, "base-seed0"))
        let outcome = try Launcher.sweep(
            ranks: nil, ["--seeds", "0", "--lr", "0.002"] + tiny + ["--out", out])
        fail(
            outcome, within: 30,
            saying: "was trained with other settings (--lr 0.002 contradicts the checkpoint's 0.001)")
        XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, outcome.stderr)
        XCTAssertEqual(try bytes(checkpoint(out, "base-seed0")), saved)
    }

    /// Bad --seeds, --grid and --ranks-per-run: one line naming the problem, a non-zero exit,
    /// and nothing written.
    func testBadSeedsGridAndRanksPerRunAreRejectedInOneLine() throws {
        let out = path("never")
        let cases: [([String], String)] = [
            (["--seeds", "5-2"], "--seeds 5-2: the range 5-2 runs backwards"),
            (
                ["--seeds", "0,x"],
                "--seeds 0,x: 'x' is not a seed or a range such as 0-9 (seeds are whole numbers >= 0)"
            ),
            (["--seeds", "0-3,2"], "--seeds 0-3,2: seed 2 is given twice"),
            (
                ["--seeds", "0", "--grid", "beta"],
                "--grid beta: an axis is key=value1,value2 (a train flag without --, then its values)"
            ),
            (
                ["--seeds", "0", "--grid", "beta=1,x"],
                "--grid beta=x: The value 'x' is invalid for '--beta <beta>'"
            ),
            (["--seeds", "0", "--grid", "frobnicate=3"], "--grid frobnicate=3: Unknown option '--frobnicate'"),
            (["--seeds", "0", "--grid", "seed=1,2"], "--grid seed=1,2: the seeds are given by --seeds"),
            (["--seeds", "0", "--grid", "beta=1 beta=2"], "--grid beta=2: beta is a grid axis twice"),
            (
                ["--seeds", "0", "--grid", "latent-dim=2,0"],
                "configuration latent-dim=0: latent-dim must be positive, got 0"
            ),
            (
                ["--seeds", "0", "--grid", "radius=2-5,5-2"],
                "--grid radius=5-2: --radius 5-2: the range runs backwards (give MIN-MAX)"
            ),
            (
                ["--seeds", "0", "--grid", "radius=2-15"],
                "configuration radius=2-15: a disc of radius 15.0 does not fit in a 28-pixel image"
            ),
            (
                ["--seeds", "0", "--grid", "intensity=0-1"],
                "--grid intensity=0-1: --intensity 0-1: the grey level must be in (0, 1]"
            ),
            (["--seeds", "0", "--ranks-per-run", "0"], "ranks-per-run must be positive, got 0"),
            (["--seeds", "0", "--seed", "4"], "--seed 4: a sweep's seeds are given by --seeds"),
        ]
        for (flags, message) in cases {
            let outcome = try Launcher.sweep(ranks: nil, flags + tiny + ["--out", out])
            XCTAssertEqual(outcome.status, 64, "\(flags)")
            XCTAssertEqual(
                outcome.stderr.split(separator: "\n").first.map(String.init), "Error: \(message)", "\(flags)")
        }
        let alone = try Launcher.sweep(
            ranks: nil, ["--seeds", "0", "--ranks-per-run", "2", "--out", out] + tiny)
        fail(alone, within: 30, saying: "Error: --ranks-per-run 2 does not divide the job's ranks (1)")
        XCTAssertEqual(alone.stderr.split(separator: "\n").count, 1, alone.stderr)
        let two = try Launcher.sweep(ranks: 2, ["--seeds", "0", "--ranks-per-run", "3", "--out", out] + tiny)
        fail(
            two, within: 30, saying: "[2 ranks] Error: --ranks-per-run 3 does not divide the job's ranks (2)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
