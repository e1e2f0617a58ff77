import Foundation
import VAEAnalysis

/// The pictures of one analysis, each returned as encoded bytes (PNG, or GIF for the sweep).
enum Figures {
    /// Pixels per image pixel in grids of decoded images.
    static let gridScale = 2

    /// The circle centres in image coordinates (y downwards, as in the images), each dot
    /// coloured by latent `j` (viridis over its 0.5-99.5 % quantile range; the colour bar says
    /// which value each colour is).
    static func centreScatter(_ a: LatentAnalysis, latent j: Int) throws -> Data {
        let image = try Raster(width: 600, height: 500)
        let side = Double(a.images.side)
        let axes = Axes(
            left: 80, top: 50, width: 390, height: 390, x: 0...side, y: 0...side,
            yDown: true)
        let z = a.latent(j)
        let range = Range.robust(z)
        for (circle, value) in zip(a.circles, z) {
            let t = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
            image.dot(axes.px(circle.x), axes.py(circle.y), diameter: 5, image.color(Viridis.color(t)))
        }
        let what = a.model.isVariational ? "latent \(j) (mean)" : "latent \(j)"
        axes.draw(
            on: image, xLabel: "centre x (px)", yLabel: "centre y (px, downwards)",
            title: "Circle centres coloured by \(what)")
        drawColorBar(
            on: image, left: 500, top: 50, width: 18, height: 390, range: range,
            label: what)
        return try image.png()
    }

    /// The latent means against each other (the pair matched to x and y, or latents 0 and 1),
    /// in two panels coloured by the true centre x and y (viridis over their observed range).
    /// Nil with a single latent.
    static func latentScatter(_ a: LatentAnalysis) throws -> Data? {
        guard let (first, second) = scatterPair(a) else { return nil }
        let image = try Raster(width: 1080, height: 500)
        let za = a.latent(first), zb = a.latent(second)
        let xRange = Range.padded(za), yRange = Range.padded(zb)
        for (panel, factor) in [Factor.x, Factor.y].enumerated() {
            let values = a.circles.map { factor == .x ? $0.x : $0.y }
            let range = Range.padded(values, margin: 0)
            let left = 90 + panel * 540
            let axes = Axes(
                left: left, top: 50, width: 370, height: 370, x: xRange, y: yRange,
                yDown: false)
            for (k, value) in values.enumerated() {
                let t = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
                image.dot(axes.px(za[k]), axes.py(zb[k]), diameter: 4, image.color(Viridis.color(t)))
            }
            axes.draw(
                on: image, xLabel: "latent \(first)", yLabel: "latent \(second)",
                title: "Latent \(first) vs latent \(second), coloured by centre \(factor.label)")
            drawColorBar(
                on: image, left: left + 390, top: 50, width: 16, height: 370,
                range: range, label: "centre \(factor.label) (px)")
        }
        return try image.png()
    }

    /// The two latents the scatter and the sweep show: the ones matched to x and y in index
    /// order, or 0 and 1; nil with one latent.
    static func scatterPair(_ a: LatentAnalysis) -> (Int, Int)? {
        guard a.latentDim >= 2 else { return nil }
        if let i = a.metrics.matchedLatent(for: .x), let j = a.metrics.matchedLatent(for: .y) {
            return (min(i, j), max(i, j))
        }
        return (0, 1)
    }

    /// The first `count` inputs (top row) above their reconstructions from the latent means.
    static func reconstructions(_ a: LatentAnalysis, count: Int = 10) throws -> Data {
        let n = min(count, a.sampleCount)
        let side = a.images.side, pixels = a.images.pixelCount, scale = 3
        let cell = side * scale + 8
        let image = try Raster(width: 110 + n * cell, height: 2 * cell + 50)
        let ink = image.color(.text)
        image.text(
            "Inputs and their reconstructions (decoded latent means)", x: 10, y: 8,
            font: .large, ink)
        for (row, label) in ["input", "decoded"].enumerated() {
            let top = 40 + row * cell
            image.text(label, x: 100, y: top + side * scale / 2 - 6, anchor: .end, ink)
            let source = row == 0 ? a.pixels : a.reconstructions
            for i in 0..<n {
                image.greyscale(
                    source[(i * pixels)..<((i + 1) * pixels)], side: side,
                    x: 110 + i * cell, y: top, scale: scale)
            }
        }
        return try image.png()
    }

    /// For two latents: the decoder's images on a `cells` x `cells` grid of the latent plane,
    /// spanning the 1-99 % quantile range of each latent's encoded means; latent 0 grows to the
    /// right and latent 1 upwards.
    static func latentGrid(_ a: LatentAnalysis, cells: Int = 13) throws -> Data {
        precondition(a.latentDim == 2)
        let side = a.images.side, pixels = a.images.pixelCount
        let r0 = Range.robust(a.latent(0), lower: 0.01, upper: 0.99)
        let r1 = Range.robust(a.latent(1), lower: 0.01, upper: 0.99)
        func values(_ r: ClosedRange<Double>) -> [Double] {
            (0..<cells).map { r.lowerBound + (r.upperBound - r.lowerBound) * Double($0) / Double(cells - 1) }
        }
        let v0 = values(r0), v1 = values(r1)
        var codes: [Float] = []
        for row in 0..<cells {
            for column in 0..<cells { codes += [Float(v0[column]), Float(v1[cells - 1 - row])] }
        }
        let decoded = a.model.decode(codes, count: cells * cells)
        let cell = side * gridScale + 2
        let size = cells * cell
        let half0 = (r0.upperBound - r0.lowerBound) / Double(cells - 1) / 2
        let half1 = (r1.upperBound - r1.lowerBound) / Double(cells - 1) / 2
        let axes = Axes(
            left: 80, top: 50, width: size + 2, height: size + 2,
            x: (r0.lowerBound - half0)...(r0.upperBound + half0),
            y: (r1.lowerBound - half1)...(r1.upperBound + half1), yDown: false)
        let image = try Raster(width: size + 120, height: size + 140)
        for row in 0..<cells {
            for column in 0..<cells {
                let k = row * cells + column
                image.greyscale(
                    decoded[(k * pixels)..<((k + 1) * pixels)], side: side,
                    x: 82 + column * cell, y: 52 + row * cell, scale: gridScale)
            }
        }
        axes.draw(
            on: image, xLabel: "latent 0", yLabel: "latent 1",
            title: "Decoder over the latent plane (1-99 % of the encoded means)")
        return try image.png()
    }

    /// For any number of latents: one row per latent (at most 10), decoding `steps` values from
    /// its 1 % to its 99 % quantile with the other latents held at their means.
    static func traversals(_ a: LatentAnalysis, steps: Int = 11) throws -> Data {
        let l = a.latentDim, rows = min(l, 10)
        let side = a.images.side, pixels = a.images.pixelCount
        let means = (0..<l).map { a.latent($0).reduce(0, +) / Double(max(1, a.sampleCount)) }
        var codes: [Float] = []
        var ranges: [ClosedRange<Double>] = []
        for j in 0..<rows {
            let r = Range.robust(a.latent(j), lower: 0.01, upper: 0.99)
            ranges.append(r)
            for s in 0..<steps {
                var z = means.map(Float.init)
                z[j] = Float(r.lowerBound + (r.upperBound - r.lowerBound) * Double(s) / Double(steps - 1))
                codes += z
            }
        }
        let decoded = a.model.decode(codes, count: rows * steps)
        let cell = side * gridScale + 4
        let image = try Raster(width: 170 + steps * cell, height: 50 + rows * cell)
        let ink = image.color(.text)
        image.text(
            "Latent traversals: each row sweeps one latent (1-99 %), the others at their means",
            x: 10, y: 8, font: .large, ink)
        for j in 0..<rows {
            let top = 40 + j * cell
            image.text("latent \(j)", x: 10, y: top + 12, ink)
            image.text(
                "\(Range.label(ranges[j].lowerBound)) .. \(Range.label(ranges[j].upperBound))",
                x: 10, y: top + 28, font: .tiny, ink)
            for s in 0..<steps {
                let k = j * steps + s
                image.greyscale(
                    decoded[(k * pixels)..<((k + 1) * pixels)], side: side,
                    x: 160 + s * cell, y: top, scale: gridScale)
            }
        }
        return try image.png()
    }

    /// An animated GIF of the decoder sweeping the latent space. Two latents: z walks once round
    /// an ellipse through the middle 90 % of the encoded means, shown as a red dot over them.
    /// Otherwise: each latent in turn sweeps from its 1 % to its 99 % quantile with the others at
    /// their medians, shown as a dot on one scale per latent.
    static func sweep(_ a: LatentAnalysis) throws -> Data {
        let l = a.latentDim
        let columns = (0..<l).map { a.latent($0) }
        let sorted = columns.map { $0.sorted() }
        let medians = sorted.map { Range.quantile($0, 0.5) }
        var path: [[Double]] = []
        if l == 2 {
            let radii = sorted.map { (Range.quantile($0, 0.95) - Range.quantile($0, 0.05)) / 2 }
            let frames = 60
            for f in 0..<frames {
                let t = 2 * Double.pi * Double(f) / Double(frames)
                path.append([medians[0] + radii[0] * cos(t), medians[1] + radii[1] * sin(t)])
            }
        } else {
            for j in 0..<min(l, 10) {
                let r = Range.robust(columns[j], lower: 0.01, upper: 0.99)
                for s in 0..<16 {
                    var z = medians
                    z[j] = r.lowerBound + (r.upperBound - r.lowerBound) * Double(s) / 15
                    path.append(z)
                }
            }
        }
        let decoded = a.model.decode(path.flatMap { $0.map(Float.init) }, count: path.count)
        let side = a.images.side, pixels = a.images.pixelCount, scale = 6
        let animation = GIFAnimation(delay: 8)
        let plane =
            l == 2
            ? Axes(
                left: 260, top: 34, width: 200, height: 200,
                x: Range.padded(columns[0]), y: Range.padded(columns[1]),
                yDown: false) : nil
        let scales = (0..<l).map { Range.robust(columns[$0], lower: 0.01, upper: 0.99) }
        let height = l == 2 ? 270 : max(220, 40 + 22 * min(l, 10))
        for (f, z) in path.enumerated() {
            let frame = try Raster(width: 480, height: height, palette: true)
            let ink = frame.color(.text)
            frame.greyscale(
                decoded[(f * pixels)..<((f + 1) * pixels)], side: side, x: 12,
                y: 34, scale: scale, levels: 64)
            frame.text(
                "z = (" + z.prefix(4).map { String(format: "%.2f", $0) }.joined(separator: ", ")
                    + (l > 4 ? ", ...)" : ")"), x: 12, y: 10, ink)
            if let plane {
                let faint = frame.color(.faint)
                for k in columns[0].indices {
                    frame.fill(
                        x: plane.px(columns[0][k]), y: plane.py(columns[1][k]), width: 2,
                        height: 2, faint)
                }
                plane.draw(on: frame, xLabel: "latent 0", yLabel: "latent 1", title: "")
                frame.dot(plane.px(z[0]), plane.py(z[1]), diameter: 9, frame.color(.highlight))
            } else {
                for j in 0..<min(l, 10) {
                    let y = 40 + 22 * j
                    frame.text("z\(j)", x: 210, y: y - 6, ink)
                    frame.line(240, y, 460, y, frame.color(.faint))
                    let t = (z[j] - scales[j].lowerBound) / (scales[j].upperBound - scales[j].lowerBound)
                    frame.dot(
                        240 + Int((min(1, max(0, t)) * 220).rounded()), y, diameter: 8,
                        frame.color(.highlight))
                }
            }
            try animation.add(frame)
        }
        return try animation.finish()
    }
}

extension Figures {
    /// One curve of a line plot: a label for the legend and a value per log point (nil: gap).
    struct Curve {
        let label: String
        let values: [Double?]
        let color: RGB
    }

    /// The training curves from the log: loss and reconstruction against the step (left), and
    /// the total KL with, when the log has `kl_latents`, each latent's KL (right), so the step at
    /// which each latent switched on shows. The y axes span the values after the first tenth of
    /// the points, so the large losses of the first steps may leave the top of the panel.
    static func trainingCurves(_ log: TrainingLog) throws -> Data {
        let steps = log.points.map { Double($0.step) }
        let left = [
            Curve(label: "loss", values: log.points.map(\.loss), color: .text),
            Curve(label: "reconstruction", values: log.points.map(\.reconstruction), color: Palette.color(0)),
        ]
        // The total underneath, wide and grey, so a latent's curve on top of it stays visible.
        var right = [Curve(label: "KL total", values: log.points.map(\.kl), color: RGB(150, 150, 150))]
        if let l = log.latentCount {
            right += (0..<l).map { j in
                Curve(
                    label: "latent \(j)", values: log.points.map { $0.klLatents?[j] ?? nil },
                    color: Palette.color(j))
            }
        }
        // Legend rows hold at least four entries; more latents need more rows.
        let image = try Raster(width: 1120, height: 510 + 17 * max(0, (right.count - 1) / 4))
        linePlot(
            on: image, left: 90, curves: left, steps: steps, yLabel: "per image (nats)",
            title: "Loss and reconstruction")
        linePlot(
            on: image, left: 650, curves: right, steps: steps, yLabel: "KL (nats)",
            title: log.latentCount == nil ? "KL (the log has no per-latent KL)" : "KL per latent")
        return try image.png()
    }

    /// One panel 420 x 380 px at (`left`, 60): the curves against the step (the first drawn
    /// 4 px wide, the others 2 px on top), with a legend in a row below.
    static func linePlot(
        on image: Raster, left: Int, curves: [Curve], steps: [Double], yLabel: String, title: String
    ) {
        let skip = steps.count / 10
        let shown = curves.flatMap { $0.values.dropFirst(skip).compactMap { $0 }.filter(\.isFinite) }
        let all = curves.flatMap { $0.values.compactMap { $0 }.filter(\.isFinite) }
        let low = min(0, all.min() ?? 0)
        let high = max(shown.max() ?? 1, low + 1e-9)
        let xRange = (steps.first ?? 0)...max((steps.last ?? 1), (steps.first ?? 0) + 1)
        let axes = Axes(
            left: left, top: 60, width: 420, height: 380, x: xRange,
            y: low...(high + (high - low) * 0.05), yDown: false)
        for (k, curve) in curves.enumerated() {
            // A gap (a missing or non-finite value) breaks the line.
            var run: [(Int, Int)] = []
            func flush() {
                image.polyline(
                    run, thickness: k == 0 ? 4 : 2, clip: (axes.left, axes.top, axes.width, axes.height),
                    image.color(curve.color))
                run = []
            }
            for (step, value) in zip(steps, curve.values) {
                guard let value, value.isFinite else { flush(); continue }
                run.append((axes.px(step), axes.py(value)))
            }
            flush()
        }
        axes.draw(on: image, xLabel: "training step", yLabel: yLabel, title: title)
        // The legend: one row under the axis label (a second row past the panel's width).
        let ink = image.color(.text)
        var x = left, y = 484
        for (k, curve) in curves.enumerated() {
            let width = 30 + Raster.Font.small.width(of: curve.label) + 16
            if x + width > left + 440 { (x, y) = (left, y + Raster.Font.small.height + 4) }
            image.fill(x: x, y: y + 5, width: 22, height: k == 0 ? 4 : 2, image.color(curve.color))
            image.text(curve.label, x: x + 28, y: y, ink)
            x += width
        }
    }
}
