import CGD
import Foundation
import VAEAnalysis

/// The study's picture: per configuration, every seed's MIG and matched |Spearman| as a strip
/// plot, so the spread over seeds is seen, not only its count.
enum StudyFigure {
    static let migColour = RGB(80, 80, 80)
    /// Each factor's colour, in the order the factors are named.
    static let factorColours: [(name: String, colour: RGB)] = [
        ("x", RGB(31, 119, 180)), ("y", RGB(230, 120, 20)), ("radius", RGB(44, 160, 44)),
        ("intensity", RGB(148, 103, 189)),
    ]

    /// The factors the study's runs measured (x and y, and the radius and intensity where the
    /// circles vary them): the strips the lower panel draws.
    static func factors(_ configurations: [StudyConfiguration]) -> [String] {
        factorColours.map(\.name).filter { name in
            configurations.contains { c in c.runs.contains { $0.metrics?.values["matched_spearman_\(name)"] != nil } }
        }
    }

    /// Two panels over the configurations (numbered as in the page's table, with the grid
    /// values written below): MIG above, the matched latents' |Spearman| with each measured factor
    /// below (x blue, y orange, radius green, intensity purple). A dot is one seed, filled when
    /// that run is disentangled, a ring when not; the grey bar is the median; the dashed line is
    /// the criterion's matched threshold.
    static func strips(_ configurations: [StudyConfiguration]) throws -> Data {
        let n = max(1, configurations.count)
        let measured = Set(Self.factors(configurations))
        let factors = factorColours.filter { measured.contains($0.name) }
        // A strip of up to 26 px per factor, 28 px apart, centred in the configuration's column.
        let slot = 28, column = max(110, slot * factors.count + 30), left = 80, panelHeight = 220, gap = 60, top = 60
        let names = configurations.enumerated().map { "\($0.offset + 1): " + label($0.element) }
        let longest = names.map { Raster.Font.small.width(of: $0) }.max() ?? 0
        let title = "Every seed's MIG and matched |Spearman|, per configuration"
        let subtitle = "filled: disentangled (\(Disentanglement.summary)); ring: not; bar: median"
        let width =
            [
                left + n * column + 12 + 12 + Raster.Font.small.width(of: "latent matched to intensity") + 12,
                left + longest + 20, left + Raster.Font.large.width(of: title) + 20,
                left + Raster.Font.small.width(of: subtitle) + 20,
            ].max() ?? 600
        let namesTop = top + 2 * panelHeight + gap + 26
        let height = namesTop + names.count * (Raster.Font.small.height + 2) + 12
        let image = try Raster(width: width, height: height)
        let ink = image.color(.text)
        image.text(title, x: left, y: 12, font: .large, ink)
        image.text(subtitle, x: left, y: 32, ink)

        for panel in 0..<2 {
            let axes = Axes(
                left: left, top: top + panel * (panelHeight + gap), width: n * column, height: panelHeight,
                x: -0.5...(Double(n) - 0.5), y: 0...1, yDown: false)
            frame(axes, on: image, yLabel: panel == 0 ? "MIG" : "matched |Spearman|")
            if panel == 1 {
                dashed(axes, at: Disentanglement.matchedThreshold, on: image)
                legend(factors, on: image, x: axes.left + axes.width + 12, y: axes.top + 4)
            }
            for (k, c) in configurations.enumerated() {
                let centre = axes.px(Double(k))
                let runs = c.runs.filter { $0.metrics != nil }
                if panel == 0 {
                    strip(runs, key: "mig", at: centre, axes: axes, colour: migColour, on: image)
                } else {
                    for (i, factor) in factors.enumerated() {
                        let offset = (2 * i - (factors.count - 1)) * slot / 2
                        strip(
                            runs, key: "matched_spearman_\(factor.name)", at: centre + offset, axes: axes,
                            colour: factor.colour, on: image)
                    }
                }
                if panel == 1 {
                    image.text("\(k + 1)", x: centre, y: axes.top + axes.height + 6, anchor: .middle, ink)
                }
            }
        }
        // The configurations' names, one per line under the plot.
        var y = namesTop
        for name in names {
            image.text(name, x: left, y: y, ink)
            y += Raster.Font.small.height + 2
        }
        return try image.png()
    }

    /// A configuration's grid values, cut to fit one line.
    private static func label(_ c: StudyConfiguration) -> String {
        let text = StudyReport.describe(c)
        return text.count > 100 ? String(text.prefix(97)) + "..." : text
    }

    /// The seeds' values of one metric as dots spread across a narrow strip, and their median.
    private static func strip(
        _ runs: [StudyRun], key: String, at centre: Int, axes: Axes, colour: RGB, on image: Raster
    ) {
        let values = runs.map { ($0.metrics?.values[key], $0.disentangled) }
        let spacing = values.count > 1 ? min(5, 26 / (values.count - 1)) : 0
        let ink = image.color(colour)
        for (i, (value, disentangled)) in values.enumerated() {
            guard let value else { continue }
            let x = centre + (2 * i - (values.count - 1)) * spacing / 2
            let y = axes.py(min(1, max(0, value)))
            if disentangled {
                image.dot(x, y, diameter: 7, ink)
            } else {
                gdImageEllipse(image.pointer, Int32(x), Int32(y), 7, 7, ink)
            }
        }
        if let median = StudyReport.median(values.compactMap(\.0).sorted()) {
            let y = axes.py(min(1, max(0, median)))
            image.fill(x: centre - 14, y: y - 1, width: 29, height: 2, image.color(RGB(grey: 110)))
        }
    }

    /// The frame, y ticks and y label of a panel (its x axis is the configurations).
    private static func frame(_ axes: Axes, on image: Raster, yLabel: String) {
        let ink = image.color(.text), faint = image.color(.faint)
        for t in Range.ticks(axes.y) {
            let p = axes.py(t)
            image.line(axes.left + 1, p, axes.left + axes.width - 2, p, faint)
            image.line(axes.left - 4, p, axes.left, p, ink)
            image.text(
                Range.label(t), x: axes.left - 7, y: p - Raster.Font.small.height / 2, anchor: .end, ink)
        }
        image.rectangle(x: axes.left, y: axes.top, width: axes.width, height: axes.height, ink)
        image.verticalText(yLabel, x: axes.left - 50, y: axes.top + axes.height / 2, ink)
    }

    private static func dashed(_ axes: Axes, at value: Double, on image: Raster) {
        let y = axes.py(value), ink = image.color(.highlight)
        var x = axes.left + 2
        while x < axes.left + axes.width - 2 {
            image.line(x, y, min(x + 5, axes.left + axes.width - 2), y, ink)
            x += 9
        }
    }

    private static func legend(_ factors: [(name: String, colour: RGB)], on image: Raster, x: Int, y: Int) {
        for (row, (name, colour)) in factors.enumerated() {
            let top = y + row * 16
            image.dot(x + 4, top + 6, diameter: 7, image.color(colour))
            image.text("latent matched to \(name)", x: x + 12, y: top, image.color(.text))
        }
    }
}
