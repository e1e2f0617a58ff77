import Foundation
import XCTest

@testable import VAECore

/// The spec is enough: Launch/read_checkpoint.py, written from docs/checkpoint-format.md and
/// knowing nothing of the network's layout rules, reads back every tensor bit for bit.
final class CheckpointSpecTests: XCTestCase {
    func testPythonReaderWrittenFromTheSpecReadsEveryTensor() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("Launch/read_checkpoint.py").path
        guard
            let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("no python3 to run Launch/read_checkpoint.py") }

        var random = RandomCheckpoints(seed: 99)
        var checkpoint = random.checkpoint()
        checkpoint.configuration.model.hidden = [5, 3]
        checkpoint.configuration.model.kind = .vae
        checkpoint.configuration.images.maxRadius = Double(checkpoint.configuration.images.side) / 2
        checkpoint.configuration.images.intensity = 0.4
        checkpoint.configuration.images.maxIntensity = nil
        let count = checkpoint.layout.parameterCount
        // Finite values: JSON, the script's output, has no NaN or infinity.
        let finite = { (n: Int) in (0..<n).map { _ in Float.random(in: -1e6...1e6, using: &random.rng) } }
        checkpoint.parameters = finite(count)
        checkpoint.optimizer.firstMoment = finite(count)
        checkpoint.optimizer.secondMoment = finite(count)
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ck.bin"
        try CheckpointCodec.write(checkpoint, to: path)

        func dump(_ path: String) throws -> [String: Any] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, path, "--dump"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let read = try dump(path)

        // The world, from the optional keys: written here, and absent (a fixed, full-intensity
        // disc) in a checkpoint made before they existed.
        let images = checkpoint.configuration.images
        let world = try XCTUnwrap(read["world"] as? [String: Any])
        // JSONSerialization may read the last digit of a double differently from Python.
        let radius = try XCTUnwrap(world["radius"] as? [Double])
        XCTAssertEqual(radius.count, 2)
        XCTAssertEqual(radius[0], images.radius, accuracy: 1e-12)
        XCTAssertEqual(radius[1], images.largestRadius, accuracy: 1e-12)
        XCTAssertEqual(world["intensity"] as? [Double], [0.4, 0.4])
        XCTAssertEqual(
            world["factors"] as? [String], images.largestRadius > images.radius ? ["x", "y", "radius"] : ["x", "y"])
        let old = directory + "/old.bin"
        try Data(HandMadeCheckpoint().bytes()).write(to: URL(fileURLWithPath: old))
        let oldWorld = try XCTUnwrap(try dump(old)["world"] as? [String: Any])
        XCTAssertEqual(oldWorld["radius"] as? [Double], [1, 1])
        XCTAssertEqual(oldWorld["intensity"] as? [Double], [1, 1])
        XCTAssertEqual(oldWorld["factors"] as? [String], ["x", "y"])

        let state = try XCTUnwrap(read["state"] as? [String: Int])
        XCTAssertEqual(
            state,
            [
                "step": checkpoint.step, "epoch": checkpoint.epoch,
                "adam_step_count": checkpoint.optimizer.stepCount,
            ])
        let configuration = try JSONSerialization.data(withJSONObject: read["configuration"] ?? [:])
        XCTAssertEqual(
            try JSONDecoder().decode(TrainingConfiguration.self, from: configuration),
            checkpoint.configuration)
        let tensors = try XCTUnwrap(read["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(tensors.count, 3 * checkpoint.layout.tensors.count)
        let groups = [
            ("parameters", checkpoint.parameters),
            ("adam_m", checkpoint.optimizer.firstMoment),
            ("adam_v", checkpoint.optimizer.secondMoment),
        ]
        for (group, values) in groups {
            for t in checkpoint.layout.tensors {
                let read = try XCTUnwrap(tensors[group + "/" + t.name])
                XCTAssertEqual(read["shape"] as? [Int], t.shape)
                let floats = try XCTUnwrap(read["values"] as? [Double]).map { Float($0) }
                XCTAssertEqual(
                    bits(floats), bits(Array(values[t.offset..<(t.offset + t.count)])),
                    "\(group)/\(t.name)")
            }
        }
    }
}
