import Foundation
import XCTest

@testable import VAEReport

/// The small pieces of the report that the end-to-end tests do not pin down exactly.
final class ReportPartsTests: XCTestCase {
    func testJSONWritesNullForMissingAndNonFiniteNumbersAndEscapesStrings() throws {
        let value = JSON.object([
            ("nan", .number(Double.nan)), ("inf", .number(-Double.infinity)), ("none", .number(nil)),
            ("pi", .number(Double.pi)), ("text", .string("a \"b\"\\\n\u{1}é")),
            ("list", .array([.integer(1), .bool(false), .null])),
        ])
        let parsed = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(value.text().utf8)) as? [String: Any])
        for key in ["nan", "inf", "none"] { XCTAssertTrue(parsed[key] is NSNull, key) }
        XCTAssertEqual(parsed["pi"] as? Double, Double.pi, "full precision")
        XCTAssertEqual(parsed["text"] as? String, "a \"b\"\\\n\u{1}é")
        XCTAssertEqual((parsed["list"] as? [Any])?.count, 3)
    }

    func testReportNamesAreBaseNamesMadeSafeAndDistinct() {
        XCTAssertEqual(
            reportNames(for: ["runs/vae.bin", "other/vae.bin", "a b/ae run.ckpt", "/x/.hidden"]),
            ["vae", "vae-2", "ae_run", "checkpoint.hidden"])
    }

    func testTicksAreRoundAndInsideTheRange() {
        XCTAssertEqual(Range.ticks(0...28), [0, 5, 10, 15, 20, 25])
        XCTAssertEqual(Range.ticks(-3.7...4.2), [-2, 0, 2, 4])
        XCTAssertEqual(Range.label(0.25), "0.25")
        XCTAssertEqual(Range.label(-2), "-2")
    }

    func testViridisRunsFromDarkPurpleToYellow() {
        XCTAssertEqual(Viridis.color(0), RGB(68, 1, 84))
        XCTAssertEqual(Viridis.color(1), RGB(253, 231, 37))
        XCTAssertEqual(Viridis.color(2), Viridis.color(1), "clamped")
        XCTAssertEqual(Viridis.color(.nan), Viridis.color(0))
    }
}
