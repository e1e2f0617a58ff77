import CGD
import Foundation
import XCTest

/// Checks that a report directory holds every file an analysis writes, each well-formed.
enum ReportFiles {
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let pngEnd: [UInt8] = [0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]

    /// The figure files an analysis of `latentDim` latents writes.
    static func figures(latentDim: Int) -> [String] {
        var files = (0..<latentDim).map { "centres_latent\($0).png" } + ["reconstructions.png", "sweep.gif"]
        files += ["spearman_matrix.png", "factor_scatter.png", "traversals.png"]
        if latentDim >= 2 { files.append("latent_scatter.png") }
        if latentDim == 2 { files.append("latent_grid.png") }
        return files
    }

    /// Decodes a PNG or GIF (first frame) with libgd and returns its size, failing the test if
    /// libgd cannot read it.
    static func decodedSize(_ data: Data, gif: Bool, file: StaticString = #filePath, line: UInt = #line) -> (
        Int, Int
    )? {
        var bytes = [UInt8](data)
        let image = bytes.withUnsafeMutableBytes { raw in
            gif
                ? gdImageCreateFromGifPtr(Int32(raw.count), raw.baseAddress)
                : gdImageCreateFromPngPtr(Int32(raw.count), raw.baseAddress)
        }
        guard let image else {
            XCTFail("libgd cannot decode the image", file: file, line: line)
            return nil
        }
        defer { gdImageDestroy(image) }
        return (Int(cgd_width(image)), Int(cgd_height(image)))
    }

    /// Checks the files of one analysis; returns metrics.json as a dictionary.
    @discardableResult
    static func check(
        _ directory: URL, latentDim: Int, variational: Bool, samples: Int,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> [String: Any] {
        func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
        // The training curves are drawn when metrics.json names a log with points.
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: url("metrics.json"))) as? [String: Any]
        let log = metrics?["training_log"] as? [String: Any]
        let figures = figures(latentDim: latentDim) + ((log?["points"] as? Int ?? 0) > 0 ? ["training_curves.png"] : [])
        let listed = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        let expected = Set(figures + ["latents.csv", "metrics.json", "report.html"])
        XCTAssertEqual(listed, expected, "files in \(directory.path)", file: file, line: line)

        for name in figures {
            let data = try Data(contentsOf: url(name))
            if name.hasSuffix(".png") {
                XCTAssertEqual(Array(data.prefix(8)), pngSignature, "\(name) header", file: file, line: line)
                XCTAssertEqual(
                    Array(data.suffix(8)), pngEnd, "\(name) ends with IEND", file: file, line: line)
                let size = decodedSize(data, gif: false, file: file, line: line)
                XCTAssertGreaterThan(size?.0 ?? 0, 100, name, file: file, line: line)
            } else {
                XCTAssertEqual(
                    String(decoding: data.prefix(6), as: UTF8.self), "GIF89a", "\(name) header", file: file,
                    line: line)
                XCTAssertEqual(data.last, 0x3B, "\(name) ends with the GIF trailer", file: file, line: line)
                XCTAssertNotNil(
                    data.range(of: Data("NETSCAPE2.0".utf8)), "\(name) loops", file: file, line: line)
                _ = decodedSize(data, gif: true, file: file, line: line)
            }
        }

        // latents.csv: a header and one row of numbers per circle.
        let csv = try String(contentsOf: url("latents.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
        var header =
            ["index", "x", "y", "radius", "intensity", "polar_radius", "polar_angle"]
            + (0..<latentDim).map { "z\($0)" }
        if variational { header += (0..<latentDim).map { "logvar\($0)" } }
        XCTAssertEqual(rows.first?.map(String.init), header, file: file, line: line)
        XCTAssertEqual(rows.count, samples + 1, file: file, line: line)
        for row in rows.dropFirst() {
            XCTAssertEqual(row.count, header.count, file: file, line: line)
            let values = row.compactMap { Double($0) }
            XCTAssertEqual(values.count, header.count, "a row of numbers: \(row)", file: file, line: line)
            XCTAssertTrue(values.allSatisfy(\.isFinite), file: file, line: line)
            XCTAssertTrue(
                (0...28).contains(values[1]) && (0...28).contains(values[2]), file: file, line: line)
        }

        // metrics.json: parses, one entry per latent, scores in range.
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: url("metrics.json"))) as? [String: Any],
            file: file, line: line)
        let latents = try XCTUnwrap(json["latents"] as? [[String: Any]], file: file, line: line)
        XCTAssertEqual(latents.count, latentDim, file: file, line: line)
        for entry in latents {
            for key in ["pearson", "spearman"] {
                let byFactor = try XCTUnwrap(entry[key] as? [String: Any], file: file, line: line)
                for factor in ["x", "y", "polar_radius", "polar_angle"] {
                    let value = try XCTUnwrap(
                        byFactor[factor] as? Double, "\(key) \(factor)", file: file, line: line)
                    XCTAssertTrue((-1...1).contains(value), file: file, line: line)
                }
            }
            XCTAssertEqual(entry["mean_kl_nats"] is Double, variational, file: file, line: line)
        }
        let mig = try XCTUnwrap(json["mig"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(mig["bins"] as? Int, 20, file: file, line: line)
        XCTAssertTrue(
            (0...1).contains(try XCTUnwrap(mig["score"] as? Double, file: file, line: line)), file: file,
            line: line)
        func score(_ key: String, _ member: String) throws -> Double {
            let object = try XCTUnwrap(json[key] as? [String: Any], key, file: file, line: line)
            return try XCTUnwrap(object[member] as? Double, "\(key).\(member)", file: file, line: line)
        }
        for (key, member) in [
            ("sap", "score"), ("dci", "disentanglement"), ("dci", "completeness"), ("modularity", "score"),
            ("factor_vae", "eval_accuracy"), ("factor_vae", "train_accuracy"),
        ] {
            XCTAssertTrue((0...1).contains(try score(key, member)), "\(key).\(member)", file: file, line: line)
        }
        XCTAssertLessThanOrEqual(try score("dci", "informativeness_test"), 1, file: file, line: line)
        // One vote per evaluation batch, unless every latent is pruned (a briefly trained model's
        // means can all stay within 0.05 of each other).
        let fvae = try XCTUnwrap(json["factor_vae"] as? [String: Any], file: file, line: line)
        let votes = try XCTUnwrap(fvae["eval_votes"] as? [String: [Int]], file: file, line: line)
        let active = try XCTUnwrap(fvae["active"] as? [Bool], file: file, line: line)
        XCTAssertEqual(active.count, latentDim, file: file, line: line)
        XCTAssertEqual(
            votes.values.joined().reduce(0, +), active.contains(true) ? 200 : 0, file: file, line: line)
        XCTAssertNotNil((json["disentangled"] as? [String: Any])?["value"] as? Bool, file: file, line: line)
        let images = try XCTUnwrap(json["images"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(images["samples"] as? Int, samples, file: file, line: line)
        let matrix = try XCTUnwrap(json["latent_correlation_pearson"] as? [[Any]], file: file, line: line)
        XCTAssertEqual(matrix.count, latentDim, file: file, line: line)

        // report.html: every local reference exists, every figure is shown, the finding is stated.
        let html = try String(contentsOf: url("report.html"), encoding: .utf8)
        let references = localReferences(html)
        for reference in references {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: url(reference).path),
                "report.html refers to missing \(reference)", file: file, line: line)
        }
        XCTAssertTrue(Set(figures).isSubset(of: references), file: file, line: line)
        if log == nil {
            XCTAssertTrue(html.contains("No training curves"), "the report says why", file: file, line: line)
        }
        let finding = try XCTUnwrap(
            (json["finding"] as? [String: Any])?["sentence"] as? String, file: file, line: line)
        XCTAssertTrue(
            html.contains(finding.replacingOccurrences(of: "&", with: "&amp;")), file: file, line: line)
        return json
    }

    /// The values of src="..." and href="..." attributes that are not absolute URLs.
    static func localReferences(_ html: String) -> Set<String> {
        var found = Set<String>()
        for attribute in ["src=\"", "href=\""] {
            var rest = html[...]
            while let start = rest.range(of: attribute) {
                rest = rest[start.upperBound...]
                guard let end = rest.firstIndex(of: "\"") else { break }
                let value = String(rest[..<end]).replacingOccurrences(of: "&amp;", with: "&")
                if !value.contains(":") && !value.hasPrefix("#") { found.insert(value) }
                rest = rest[end...]
            }
        }
        return found
    }
}
