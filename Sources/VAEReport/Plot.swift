import Foundation

/// The viridis colour map (perceptually uniform, readable in grey and by most colour-blind
/// readers): matplotlib's table at every tenth, linearly interpolated.
enum Viridis {
    static let stops: [(Double, Double, Double)] = [
        (0.267, 0.005, 0.329), (0.283, 0.141, 0.458), (0.254, 0.265, 0.530),
        (0.207, 0.372, 0.553), (0.164, 0.471, 0.558), (0.128, 0.567, 0.551),
        (0.135, 0.659, 0.518), (0.267, 0.749, 0.441), (0.478, 0.821, 0.318),
        (0.741, 0.873, 0.150), (0.993, 0.906, 0.144),
    ]

    /// The colour at t in [0, 1] (clamped; NaN gives the bottom colour).
    static func color(_ t: Double) -> RGB {
        let u = t.isNaN ? 0 : min(1, max(0, t)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(u))
        let f = u - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ p: Double, _ q: Double) -> UInt8 { UInt8((255 * (p + (q - p) * f)).rounded()) }
        return RGB(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// Distinct colours for the curves of one plot (matplotlib's tab10), in legend order.
enum Palette {
    static let colors: [RGB] = [
        RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40),
        RGB(148, 103, 189), RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127),
        RGB(188, 189, 34), RGB(23, 190, 207),
    ]

    /// The colour of curve `k`, cycling after ten.
    static func color(_ k: Int) -> RGB { colors[k % colors.count] }
}

/// Value range helpers.
enum Range {
    /// The q-quantile (0...1) of `values` by linear interpolation between order statistics.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let i = Int(position.rounded(.down))
        let j = min(sorted.count - 1, i + 1)
        return sorted[i] + (sorted[j] - sorted[i]) * (position - Double(i))
    }

    /// [lo, hi] between the given quantiles, widened to a non-empty interval.
    static func robust(_ values: [Double], lower: Double = 0.005, upper: Double = 0.995)
        -> ClosedRange<Double>
    {
        let sorted = values.filter(\.isFinite).sorted()
        let lo = quantile(sorted, lower), hi = quantile(sorted, upper)
        return hi > lo ? lo...hi : (lo - 0.5)...(lo + 0.5)
    }

    /// [min, max] padded by `margin` of the span on each side.
    static func padded(_ values: [Double], margin: Double = 0.04) -> ClosedRange<Double> {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max(), hi > lo else {
            let c = values.first(where: \.isFinite) ?? 0
            return (c - 0.5)...(c + 0.5)
        }
        let pad = (hi - lo) * margin
        return (lo - pad)...(hi + pad)
    }

    /// Round tick values inside `range`: 1, 2 or 5 times a power of ten apart, whichever step
    /// gives the count closest to `count`.
    static func ticks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(max(1, count))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step =
            [1.0, 2, 5, 10].map { $0 * magnitude }
            .min { abs(span / $0 - Double(count)) < abs(span / $1 - Double(count)) } ?? magnitude
        var ticks: [Double] = []
        var t = (range.lowerBound / step).rounded(.up) * step
        while t <= range.upperBound + step * 1e-9 {
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return ticks
    }

    /// A short label for a tick value.
    static func label(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e6 { return String(Int(x)) }
        return String(format: "%.3g", x)
    }
}

/// A rectangle of an image that shows a data range on each axis, with its frame, ticks and labels.
struct Axes {
    /// The plotting rectangle in pixels.
    let left: Int, top: Int, width: Int, height: Int
    let x: ClosedRange<Double>
    let y: ClosedRange<Double>
    /// Whether y grows downwards (image coordinates) instead of upwards.
    let yDown: Bool

    func px(_ v: Double) -> Int {
        left + Int(((v - x.lowerBound) / (x.upperBound - x.lowerBound) * Double(width - 1)).rounded())
    }

    func py(_ v: Double) -> Int {
        let t = (v - y.lowerBound) / (y.upperBound - y.lowerBound)
        return top + Int(((yDown ? t : 1 - t) * Double(height - 1)).rounded())
    }

    /// Frame, tick marks with labels, axis labels and a title above.
    func draw(on image: Raster, xLabel: String, yLabel: String, title: String) {
        let ink = image.color(.text)
        image.rectangle(x: left, y: top, width: width, height: height, ink)
        for t in Range.ticks(x) {
            let p = px(t)
            image.line(p, top + height - 1, p, top + height + 3, ink)
            image.text(Range.label(t), x: p, y: top + height + 6, anchor: .middle, ink)
        }
        var widest = 0
        for t in Range.ticks(y) {
            let p = py(t)
            let label = Range.label(t)
            widest = max(widest, Raster.Font.small.width(of: label))
            image.line(left - 4, p, left, p, ink)
            image.text(label, x: left - 7, y: p - Raster.Font.small.height / 2, anchor: .end, ink)
        }
        image.text(xLabel, x: left + width / 2, y: top + height + 24, anchor: .middle, ink)
        image.verticalText(
            yLabel, x: left - widest - 12 - Raster.Font.small.height,
            y: top + height / 2, ink)
        image.text(
            title, x: left + width / 2, y: top - Raster.Font.large.height - 8,
            font: .large, anchor: .middle, ink)
    }
}

/// A vertical colour bar for viridis over `range`, with ticks and a label on its right.
func drawColorBar(
    on image: Raster, left: Int, top: Int, width: Int, height: Int,
    range: ClosedRange<Double>, label: String
) {
    for row in 0..<height {
        let t = 1 - Double(row) / Double(max(1, height - 1))
        image.fill(x: left, y: top + row, width: width, height: 1, image.color(Viridis.color(t)))
    }
    let ink = image.color(.text)
    image.rectangle(x: left, y: top, width: width, height: height, ink)
    let span = range.upperBound - range.lowerBound
    var widest = 0
    for t in Range.ticks(range, count: 6) {
        let row = top + Int(((1 - (t - range.lowerBound) / span) * Double(height - 1)).rounded())
        let text = Range.label(t)
        widest = max(widest, Raster.Font.small.width(of: text))
        image.line(left + width - 1, row, left + width + 3, row, ink)
        image.text(text, x: left + width + 6, y: row - Raster.Font.small.height / 2, ink)
    }
    image.verticalText(label, x: left + width + 12 + widest, y: top + height / 2, ink)
}
