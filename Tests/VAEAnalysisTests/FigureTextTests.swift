import BinaryTesting
import Foundation
import VAECore
import XCTest

/// The figures' text is TrueType (DejaVu Sans, Launch/setup installs fonts-dejavu-core): without
/// the font, `analyze` says which file is missing and how to get it, in one line, before any
/// figure is half-written.
final class FigureTextTests: XCTestCase {
    func testAMissingFontIsOneLineNamingTheFileAndThePackage() throws {
        let directory = try BinaryRunner.temporaryDirectory(self)
        var c = TrainingConfiguration()
        c.model.hidden = [8]
        let layout = NetworkLayout(c.model)
        let path = directory.appendingPathComponent("m.bin").path
        try CheckpointCodec.write(
            Checkpoint(
                configuration: c, step: 0, parameters: layout.initialParameters(seed: 1),
                optimizer: Adam(configuration: c.optimizer, parameterCount: layout.parameterCount)),
            to: path)
        let missing = directory.appendingPathComponent("no-such-font.ttf").path
        let result = try BinaryRunner.run(
            ["VAE_MPI_FONT=\(missing)", BinaryRunner.binary.path, "analyze", path, "--samples", "100"],
            executable: URL(fileURLWithPath: "/usr/bin/env"))
        XCTAssertNotEqual(result.status, 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") }
        XCTAssertEqual(errors.count, 1, result.stderr)
        XCTAssertTrue(errors.first?.contains("with the font \(missing)") ?? false, result.stderr)
        XCTAssertTrue(errors.first?.contains("install Debian's fonts-dejavu-core") ?? false, result.stderr)

        let present = try BinaryRunner.run(["analyze", path, "--samples", "100"])
        XCTAssertEqual(present.status, 0, present.stderr)
    }
}
