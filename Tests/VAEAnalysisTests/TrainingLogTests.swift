import CGD
import Foundation
import XCTest

@testable import VAEReport

/// Reading the training log and drawing its curves.
final class TrainingLogTests: XCTestCase {
    static func line(_ step: Int, kl: [Double]? = nil, loss: String = "50.5") -> String {
        var s = "{\"step\":\(step),\"epoch\":0,\"loss\":\(loss),\"recon\":48,\"kl\":2.5"
        if let kl { s += ",\"kl_latents\":[" + kl.map { "\($0)" }.joined(separator: ",") + "]" }
        return s + ",\"samples_per_s\":1000,\"ranks\":1}"
    }

    func testPointsAreReadWithNullsAndOptionalPerLatentKL() throws {
        let text = [Self.line(10, loss: "null"), Self.line(20, kl: [1, 1.5]), ""].joined(separator: "\n")
        let log = try TrainingLog(text: text, path: "run.jsonl")
        XCTAssertEqual(log.points.map(\.step), [10, 20])
        XCTAssertNil(log.points[0].loss, "null is a missing value")
        XCTAssertEqual(log.points[1].loss, 50.5)
        XCTAssertEqual(log.points[1].reconstruction, 48)
        XCTAssertNil(log.points[0].klLatents)
        XCTAssertEqual(log.points[1].klLatents, [1, 1.5])
        XCTAssertEqual(log.latentCount, 2)
        XCTAssertNil(try TrainingLog(text: Self.line(1), path: "a").latentCount)
        XCTAssertNil(try TrainingLog(text: Self.line(1, kl: []), path: "a").latentCount, "the AE's empty list")
    }

    func testAResumedRunReplacesThePointsFromItsStepOnAndLaterStepsAreLeftOut() throws {
        let text = [10, 20, 30, 40, 20, 30, 50].map { Self.line($0) }.joined(separator: "\n")
        XCTAssertEqual(try TrainingLog(text: text, path: "a").points.map(\.step), [10, 20, 30, 50])
        XCTAssertEqual(try TrainingLog(text: text, path: "a", lastStep: 30).points.map(\.step), [10, 20, 30])
    }

    func testABadLineIsAnErrorNamingTheFileAndTheLine() {
        func problem(_ lines: [String]) -> String {
            do {
                _ = try TrainingLog(text: lines.joined(separator: "\n"), path: "runs/vae.jsonl")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(problem([Self.line(1), "{\"step\":"]), "runs/vae.jsonl:2: not a JSON object")
        XCTAssertEqual(problem(["[1, 2]"]), "runs/vae.jsonl:1: not a JSON object")
        XCTAssertEqual(problem(["{\"loss\":1}"]), "runs/vae.jsonl:1: no non-negative integer \"step\"")
        XCTAssertEqual(problem(["{\"step\":1.5}"]), "runs/vae.jsonl:1: no non-negative integer \"step\"")
        XCTAssertEqual(problem(["{\"step\":1,\"kl\":\"high\"}"]), "runs/vae.jsonl:1: \"kl\" is not a number")
        XCTAssertEqual(
            problem([Self.line(1, kl: [1, 2]), "", Self.line(2, kl: [1, 2, 3])]),
            "runs/vae.jsonl:3: \"kl_latents\" has 3 values, line 1 had 2")
        XCTAssertEqual(
            problem(["{\"step\":1,\"kl_latents\":3}"]), "runs/vae.jsonl:1: \"kl_latents\" is not an array")
    }

    func testTheDefaultLogIsTheCheckpointWithJSONLInPlaceOfBin() {
        XCTAssertEqual(TrainingLog.defaultPath(forCheckpoint: "runs/vae.bin"), "runs/vae.jsonl")
        XCTAssertEqual(TrainingLog.defaultPath(forCheckpoint: "checkpoint.bin"), "checkpoint.jsonl")
        XCTAssertEqual(TrainingLog.defaultPath(forCheckpoint: "model.v1"), "model.v1.jsonl")
    }

    /// Pixels of exactly `color` in a PNG, right of `minX` (560: the KL panel).
    static func count(_ color: RGB, in png: Data, minX: Int32 = 0) throws -> Int {
        var bytes = [UInt8](png)
        let image = try XCTUnwrap(
            bytes.withUnsafeMutableBytes { gdImageCreateFromPngPtr(Int32($0.count), $0.baseAddress) })
        defer { gdImageDestroy(image) }
        let wanted = (Int32(color.r) << 16) | (Int32(color.g) << 8) | Int32(color.b)
        var n = 0
        for y in 0..<cgd_height(image) {
            for x in minX..<cgd_width(image) where gdImageGetTrueColorPixel(image, x, y) & 0xFF_FFFF == wanted {
                n += 1
            }
        }
        return n
    }

    func testTheFigureDrawsOneCurvePerLatentWhenTheLogHasThem() throws {
        // Latent 1 switches on at step 100.
        let lines = stride(from: 0, through: 200, by: 10).map { s in
            Self.line(s, kl: [Double(s) / 100, s < 100 ? 0 : Double(s - 100) / 50])
        }
        let withLatents = try Figures.trainingCurves(TrainingLog(text: lines.joined(separator: "\n"), path: "a"))
        let plain = try Figures.trainingCurves(
            TrainingLog(text: stride(from: 0, through: 200, by: 10).map { Self.line($0) }.joined(separator: "\n"),
                path: "b"))
        XCTAssertEqual(Array(withLatents.prefix(8)), ReportFiles.pngSignature)
        // The curves (beyond their legend swatches, 22 x 2 px) are drawn in their own colours.
        for j in 0..<2 {
            XCTAssertGreaterThan(
                try Self.count(Palette.color(j), in: withLatents, minX: 560), 300, "latent \(j)'s curve")
        }
        XCTAssertGreaterThan(try Self.count(Palette.color(0), in: plain), 300, "the reconstruction curve")
        for j in 0..<2 {
            XCTAssertEqual(
                try Self.count(Palette.color(j), in: plain, minX: 560), 0, "no per-latent curve without kl_latents")
        }
    }
}
