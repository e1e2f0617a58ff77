import BinaryTesting
import Foundation
import VAECore
import XCTest

/// `vae-mpi export`: the file loads as the PyTorch module docs/export.md gives, in Python with
/// the `safetensors` package (Tests/Reference/export_reference.py), and that module reproduces
/// vae-mpi's own encoder means and decoder outputs; a damaged checkpoint is refused in one line.
final class ExportTests: XCTestCase {
    /// A checkpoint of `configuration` with its initial parameters doubled (so that the outputs
    /// are not all near zero), written to `directory`.
    private func checkpoint(_ configuration: TrainingConfiguration, in directory: URL, name: String) throws
        -> (path: String, checkpoint: Checkpoint)
    {
        let layout = NetworkLayout(configuration.model)
        let saved = Checkpoint(
            configuration: configuration, step: 0,
            parameters: layout.initialParameters(seed: 11).map { 2 * $0 },
            optimizer: Adam(configuration: configuration.optimizer, parameterCount: layout.parameterCount))
        let path = directory.appendingPathComponent(name).path
        try CheckpointCodec.write(saved, to: path)
        return (path, saved)
    }

    /// Runs the reference on the export; fails under CI=true and skips elsewhere when Python or
    /// `safetensors` is missing.
    private func reference(_ model: String, images: [[Float]], latents: [[Float]], in directory: URL) throws
        -> [String: Any]
    {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/export_reference.py")
        let input = directory.appendingPathComponent("inputs.json")
        let output = directory.appendingPathComponent("outputs.json")
        try JSONSerialization.data(withJSONObject: ["images": images, "latents": latents]).write(to: input)
        let result = try BinaryRunner.run(
            ["python3", script.path, model, input.path, output.path],
            executable: URL(fileURLWithPath: "/usr/bin/env"), timeout: 300)
        guard result.status == 0 else {
            let reason =
                "the reference \(script.lastPathComponent) did not run (exit \(result.status)): "
                + (result.stderr.split(separator: "\n").last.map(String.init) ?? "no output")
                + "; Launch/test installs numpy and safetensors"
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail(reason)
                throw XCTSkip("failed: \(reason)")
            }
            throw XCTSkip(reason)
        }
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
    }

    /// The default VAE, the seed preset's 784-512-2 and a 3-latent AE: Python's module gives the
    /// means and pixels vae-mpi gives, to 1e-5, on circles and on a grid of latent codes.
    func testTheExportLoadsInPythonAndReproducesTheModel() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        var ae = TrainingConfiguration()
        ae.model.kind = .ae
        ae.model.hidden = [64]
        ae.model.latentDim = 3
        let cases: [(String, TrainingConfiguration)] = [
            ("vae", TrainingConfiguration()), ("seed", .seedPreset), ("ae", ae),
        ]
        for (name, configuration) in cases {
            let (path, saved) = try checkpoint(configuration, in: directory, name: "\(name).bin")
            let export = directory.appendingPathComponent("\(name).safetensors").path
            let run = try BinaryRunner.run(["export", path, "--out", export])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(run.stdout, export + "\n")

            let n = 6
            let world = CircleImages(configuration.images)
            let rows = (0..<n).map { world.image($0) }
            let images = rows.flatMap { $0 }
            let l = configuration.model.latentDim
            // A 3 x 3 grid of codes over [-1.2, 0.8] in latents 0 and 1, the others (if any) too.
            let latents: [[Float]] = (0..<9).map { (k: Int) -> [Float] in
                (0..<l).map { (j: Int) -> Float in
                    let step: Int = j == 0 ? k % 3 : k / 3
                    return Float(step) - 1.2
                }
            }
            let python = try reference(
                export, images: rows, latents: latents, in: directory)
            let model = Autoencoder(layout: saved.layout, loss: configuration.loss, capacity: 16)
            let encoded = model.encode(images, count: n, parameters: saved.parameters)
            let pixels = model.decode(latents.flatMap { $0 }, count: latents.count, parameters: saved.parameters)
            let mean = try XCTUnwrap(python["mean"] as? [[Double]]).flatMap { $0 }
            let decoded = try XCTUnwrap(python["pixels"] as? [[Double]]).flatMap { $0 }
            XCTAssertEqual(mean.count, encoded.mean.count, name)
            XCTAssertEqual(decoded.count, pixels.count, name)
            for (a, b) in zip(mean, encoded.mean) { XCTAssertEqual(a, Double(b), accuracy: 1e-5, "\(name) mean") }
            for (a, b) in zip(decoded, pixels) { XCTAssertEqual(a, Double(b), accuracy: 1e-5, "\(name) pixels") }
            if let logVariance = encoded.logVariance {
                let lv = try XCTUnwrap(python["log_variance"] as? [[Double]]).flatMap { $0 }
                for (a, b) in zip(lv, logVariance) { XCTAssertEqual(a, Double(b), accuracy: 1e-5, "\(name) logvar") }
            }
            XCTAssertGreaterThan(mean.map(abs).max() ?? 0, 0.05, "\(name): outputs that are not all zero")
            let metadata = try XCTUnwrap(python["metadata"] as? [String: String])
            XCTAssertEqual(
                try JSONDecoder().decode(TrainingConfiguration.self, from: Data((metadata["training"] ?? "").utf8)),
                configuration)
            let keys = try XCTUnwrap(python["keys"] as? [String])
            XCTAssertEqual(keys.count, 4 * (configuration.model.hidden.count + 1), name)
        }
    }

    /// A damaged checkpoint: one line naming the file and its problem, a non-zero exit, and the
    /// previous export at --out untouched; the default --out replaces .bin by .safetensors.
    func testADamagedCheckpointIsRefusedAndNothingIsOverwritten() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        var small = TrainingConfiguration()
        small.model.hidden = [8]
        let (path, _) = try checkpoint(small, in: directory, name: "model.bin")
        let first = try BinaryRunner.run(["export", path])
        XCTAssertEqual(first.status, 0, first.stderr)
        let export = directory.appendingPathComponent("model.safetensors").path
        XCTAssertEqual(first.stdout, export + "\n")
        let before = try Data(contentsOf: URL(fileURLWithPath: export))

        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[40] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let refused = try BinaryRunner.run(["export", path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("Error: \(path): "), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: export)), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: export + ".tmp"))

        let missing = try BinaryRunner.run(["export", path, "--out", "/nonexistent/x.safetensors"])
        XCTAssertEqual(missing.status, 64)
        XCTAssertEqual(
            missing.stderr.split(separator: "\n").first.map(String.init),
            "Error: --out /nonexistent/x.safetensors: directory /nonexistent does not exist")
    }
}
