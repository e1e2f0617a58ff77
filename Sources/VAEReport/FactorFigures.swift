import Foundation
import VAEAnalysis

/// The figures over the images' K factors: which latent holds which factor.
extension Figures {
    /// The field's Hinton diagram: a square per latent (row) and factor (column) whose area is
    /// |Spearman|, red where the matching put the factor's latent, grey for the polar
    /// descriptors (functions of x and y, shown apart on the right). A spare latent's row is
    /// labelled on or off.
    static func spearmanMatrix(_ a: LatentAnalysis) throws -> Data {
        let m = a.metrics
        let columns = m.factors + [Factor.polarRadius, .polarAngle]
        let rows = min(m.latentCount, 20)
        let cell = 60, left = 150, top = 80, gap = 16
        let image = try Raster(width: left + columns.count * cell + gap + 30, height: top + rows * cell + 50)
        let ink = image.color(.text), faint = image.color(.faint)
        image.text("|Spearman| of each latent with each factor", x: 10, y: 8, font: .large, ink)
        image.text(
            "square area = |rho|; red: the latent matched to the factor; right: polar descriptors",
            x: 10, y: 30, font: .tiny, ink)
        func x(_ k: Int) -> Int { left + k * cell + (k >= m.factors.count ? gap : 0) }
        for (k, factor) in columns.enumerated() {
            image.text(factor.label, x: x(k) + cell / 2, y: top - 18, anchor: .middle, ink)
        }
        let spare = Set(m.spareLatents)
        for j in 0..<rows {
            let y = top + j * cell
            image.text("latent \(j)", x: 10, y: y + cell / 2 - 12, ink)
            if spare.contains(j) {
                image.text(
                    "spare, " + (m.isSwitchedOff(j) ? "off" : "on"), x: 10, y: y + cell / 2 + 2, font: .tiny, ink)
            }
            for (k, factor) in columns.enumerated() {
                image.rectangle(x: x(k), y: y, width: cell, height: cell, faint)
                let value = min(1, abs(m.spearman(j, factor) ?? 0))
                let size = Int((Double(cell - 6) * value.squareRoot()).rounded())
                guard size > 0 else { continue }
                let colour: RGB =
                    k >= m.factors.count ? RGB(150, 150, 150) : m.matchedLatent(for: factor) == j ? .highlight : .text
                image.fill(
                    x: x(k) + (cell - size) / 2, y: y + (cell - size) / 2, width: size, height: size,
                    image.color(colour))
            }
        }
        if m.latentCount > rows {
            image.text("(the first \(rows) of \(m.latentCount) latents)", x: 10, y: top + rows * cell + 10, ink)
        }
        return try image.png()
    }

    /// Each factor against the latent matched to it, one panel per factor; nil when no factor
    /// has a latent.
    static func factorScatter(_ a: LatentAnalysis) throws -> Data? {
        let m = a.metrics
        let pairs = m.factors.compactMap { f in m.matchedLatent(for: f).map { (f, $0) } }
        guard !pairs.isEmpty else { return nil }
        let factors = CircleFactors(circles: a.circles, side: a.images.side)
        let panel = 340
        let image = try Raster(width: 40 + pairs.count * panel, height: 440)
        for (k, (factor, j)) in pairs.enumerated() {
            let values = factors[factor], z = a.latent(j)
            let axes = Axes(
                left: 80 + k * panel, top: 50, width: 240, height: 320, x: Range.padded(values),
                y: Range.padded(z), yDown: false)
            let colour = image.color(Palette.color(k))
            for (v, w) in zip(values, z) { image.dot(axes.px(v), axes.py(w), diameter: 3, colour) }
            axes.draw(
                on: image, xLabel: "\(factor.label) (true)", yLabel: "latent \(j)",
                title: "\(factor.label): latent \(j), rho \(HTMLReport.fmt(m.spearman(j, factor), digits: 2))")
        }
        return try image.png()
    }
}
