import BinaryTesting
import CGD
import Foundation
import XCTest

/// The report opened in a real browser: headless Chromium (Debian's `chromium`, which
/// Launch/test installs) loads report.html, every image in it loads, and a screenshot of the
/// page is not blank.
final class BrowserTests: XCTestCase {
    /// The browser, or a skip naming why there is none.
    static func chromium() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
        }
        throw XCTSkip(
            "chromium is not installed (Launch/test installs Debian's chromium): the report was not opened in a browser"
        )
    }

    /// Flags for a headless run as root on a machine without a display or D-Bus.
    static let headless = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=10000",
    ]

    /// A copy of the report written at the end of training, in a directory of its own.
    func reportCopy() throws -> URL {
        let fixture = try AnalyzeCommandTests.fixture()
        let copy = try BinaryRunner.temporaryDirectory(self).appendingPathComponent("report")
        try FileManager.default.copyItem(
            at: fixture.directory.appendingPathComponent("vae-analysis"), to: copy)
        return copy
    }

    /// Loads `page` with a script added that, once the page has loaded, counts the images that
    /// decoded (complete with a natural width); returns (images, loaded) from the dumped DOM.
    func loadImages(of page: URL, browser: URL) throws -> (images: Int, loaded: Int) {
        let probe = """
            <script>window.addEventListener("load", function () {
              var all = Array.from(document.images);
              var ok = all.filter(function (i) { return i.complete && i.naturalWidth > 0; });
              document.body.setAttribute("data-probe", "images=" + all.length + " loaded=" + ok.length);
            });</script></body>
            """
        let html = try String(contentsOf: page, encoding: .utf8)
        let probed = page.deletingLastPathComponent().appendingPathComponent("probe.html")
        try html.replacingOccurrences(of: "</body>", with: probe).write(
            to: probed, atomically: true, encoding: .utf8)
        let r = try BinaryRunner.run(
            Self.headless + ["--dump-dom", probed.absoluteString], executable: browser)
        XCTAssertEqual(r.status, 0, r.stderr)
        guard
            let range = r.stdout.range(
                of: #"data-probe="images=(\d+) loaded=(\d+)""#, options: .regularExpression)
        else {
            XCTFail("the probe did not run: \(r.stdout.prefix(300)) \(r.stderr.suffix(500))")
            return (0, 0)
        }
        let numbers = r.stdout[range].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return (numbers[0], numbers[1])
    }

    func testEveryImageOfTheReportLoadsInChromium() throws {
        let browser = try Self.chromium()
        let report = try reportCopy()
        let html = try String(contentsOf: report.appendingPathComponent("report.html"), encoding: .utf8)
        let tags = html.components(separatedBy: "<img ").count - 1
        let curves = FileManager.default.fileExists(
            atPath: report.appendingPathComponent("training_curves.png").path)
        XCTAssertTrue(curves, "the fixture's VAE was trained with a log")
        XCTAssertEqual(tags, ReportFiles.figures(latentDim: 2).count + 1)
        let result = try loadImages(of: report.appendingPathComponent("report.html"), browser: browser)
        XCTAssertEqual(result.images, tags)
        XCTAssertEqual(result.loaded, tags, "every image decodes in the browser")
    }

    func testTheProbeNoticesAnImageThatDoesNotLoad() throws {
        let browser = try Self.chromium()
        let report = try reportCopy()
        try FileManager.default.removeItem(at: report.appendingPathComponent("latent_grid.png"))
        try Data("not a png".utf8).write(to: report.appendingPathComponent("reconstructions.png"))
        let result = try loadImages(of: report.appendingPathComponent("report.html"), browser: browser)
        XCTAssertEqual(result.loaded, result.images - 2)
    }

    func testAScreenshotOfTheReportIsNotBlank() throws {
        let browser = try Self.chromium()
        let report = try reportCopy()
        let shot = report.appendingPathComponent("screenshot.png")
        let r = try BinaryRunner.run(
            Self.headless + [
                "--window-size=1280,1600", "--screenshot=\(shot.path)",
                report.appendingPathComponent("report.html").absoluteString,
            ],
            executable: browser)
        XCTAssertEqual(r.status, 0, r.stderr)
        var bytes = [UInt8](try Data(contentsOf: shot))
        let image = try XCTUnwrap(
            bytes.withUnsafeMutableBytes {
                gdImageCreateFromPngPtr(Int32($0.count), $0.baseAddress)
            }, "the screenshot is a PNG")
        defer { gdImageDestroy(image) }
        let width = Int(cgd_width(image)), height = Int(cgd_height(image))
        XCTAssertEqual(width, 1280)
        var colours = Set<Int32>()
        var nonWhite = 0
        for y in stride(from: 0, to: height, by: 2) {
            for x in stride(from: 0, to: width, by: 2) {
                let c = gdImageGetTrueColorPixel(image, Int32(x), Int32(y)) & 0xFFFFFF
                colours.insert(c)
                if c != 0xFFFFFF { nonWhite += 1 }
            }
        }
        let sampled = ((height + 1) / 2) * ((width + 1) / 2)
        // Text, tables and a viridis scatter plot: many colours and a good share of ink.
        XCTAssertGreaterThan(colours.count, 100, "distinct colours")
        XCTAssertGreaterThan(Double(nonWhite) / Double(sampled), 0.05, "share of non-white pixels")
    }
}
