import CGD
import Foundation

/// A failure to make or write a figure.
public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An RGB colour.
struct RGB: Hashable {
    var r: UInt8, g: UInt8, b: UInt8
    init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }
    init(grey: UInt8) { self.init(grey, grey, grey) }

    static let white = RGB(255, 255, 255)
    static let text = RGB(40, 40, 40)
    static let faint = RGB(205, 205, 205)
    static let highlight = RGB(220, 30, 40)
}

/// A libgd image: truecolor for PNG figures, or palette (256 colours) for GIF frames.
/// Owns its gdImagePtr and destroys it.
final class Raster {
    let pointer: gdImagePtr
    let width: Int
    let height: Int

    /// A truecolor image filled with `background`.
    init(width: Int, height: Int, background: RGB = .white, palette: Bool = false) throws {
        guard width > 0, height > 0,
            let pointer = palette
                ? gdImageCreate(Int32(width), Int32(height))
                : gdImageCreateTrueColor(Int32(width), Int32(height))
        else { throw ReportError("libgd could not allocate a \(width)x\(height) image") }
        if let problem = Raster.fontProblem {
            gdImageDestroy(pointer)
            throw ReportError(problem)
        }
        self.pointer = pointer
        self.width = width
        self.height = height
        fill(x: 0, y: 0, width: width, height: height, color(background))
    }

    deinit { gdImageDestroy(pointer) }

    /// The pixel value of a colour: the packed RGB for truecolor, the palette index (the exact
    /// entry, else a new one, else the closest) for palette images.
    func color(_ c: RGB) -> Int32 {
        gdImageColorResolve(pointer, Int32(c.r), Int32(c.g), Int32(c.b))
    }

    func fill(x: Int, y: Int, width: Int, height: Int, _ color: Int32) {
        guard width > 0, height > 0 else { return }
        gdImageFilledRectangle(
            pointer, Int32(x), Int32(y), Int32(x + width - 1),
            Int32(y + height - 1), color)
    }

    func rectangle(x: Int, y: Int, width: Int, height: Int, _ color: Int32) {
        gdImageRectangle(
            pointer, Int32(x), Int32(y), Int32(x + width - 1), Int32(y + height - 1),
            color)
    }

    func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: Int32) {
        gdImageLine(pointer, Int32(x0), Int32(y0), Int32(x1), Int32(y1), color)
    }

    /// Connected line segments through `points` (pixel coordinates), `thickness` pixels wide,
    /// drawn only inside `clip` (x, y, width, height), so a curve leaving a plot stops at its
    /// frame.
    func polyline(
        _ points: [(Int, Int)], thickness: Int, clip: (Int, Int, Int, Int), _ color: Int32
    ) {
        gdImageSetClip(
            pointer, Int32(clip.0), Int32(clip.1), Int32(clip.0 + clip.2 - 1),
            Int32(clip.1 + clip.3 - 1))
        gdImageSetThickness(pointer, Int32(thickness))
        if points.count == 1 {
            dot(points[0].0, points[0].1, diameter: thickness + 2, color)
        }
        for (a, b) in zip(points, points.dropFirst()) { line(a.0, a.1, b.0, b.1, color) }
        gdImageSetThickness(pointer, 1)
        gdImageSetClip(pointer, 0, 0, Int32(width - 1), Int32(height - 1))
    }

    /// A filled disc of the given diameter centred at (x, y).
    func dot(_ x: Int, _ y: Int, diameter: Int, _ color: Int32) {
        gdImageFilledEllipse(pointer, Int32(x), Int32(y), Int32(diameter), Int32(diameter), color)
    }

    /// A grey-scale picture of `values` (row-major, `side` x `side`, 0 black ... 1 white) drawn
    /// at (x, y) with each value a `scale` x `scale` block; values outside [0, 1] are clamped and
    /// quantised to `levels` greys (fewer for palette images, which hold 256 colours in all).
    func greyscale(
        _ values: ArraySlice<Float>, side: Int, x: Int, y: Int, scale: Int,
        levels: Int = 256
    ) {
        let colours = (0..<levels).map { color(RGB(grey: UInt8(255 * $0 / (levels - 1)))) }
        for (k, v) in values.enumerated() {
            let level = Int((min(1, max(0, v)) * Float(levels - 1)).rounded())
            fill(
                x: x + (k % side) * scale, y: y + (k / side) * scale, width: scale, height: scale,
                colours[level])
        }
    }

    // MARK: Text (DejaVu Sans through libgd's FreeType support, anti-aliased)

    /// The figures' typeface: Debian's fonts-dejavu-core (installed by Launch/setup), or the
    /// TrueType file `VAE_MPI_FONT` names.
    static let fontPath =
        ProcessInfo.processInfo.environment["VAE_MPI_FONT"] ?? "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// Why text cannot be drawn, or nil: checked once, before the first figure.
    static let fontProblem: String? = {
        // Sets libgd's font cache up before any text, as it asks for thread-safe use.
        gdFontCacheSetup()
        var box = [Int32](repeating: 0, count: 8)
        guard let error = Font.small.render(nil, "Ag", box: &box, color: 0, x: 0, y: 0, angle: 0) else { return nil }
        return "cannot draw the figures' text with the font \(fontPath) (\(String(cString: error))): "
            + "install Debian's fonts-dejavu-core (Launch/setup does), or name a TrueType file in VAE_MPI_FONT"
    }()

    enum Font {
        case tiny, small, large

        /// Point size at libgd's 96 dpi: 8, 9.5 and 12 pt are 10.7, 12.7 and 16 pixels to the em,
        /// about matplotlib's small, default and title sizes.
        var points: Double {
            switch self {
            case .tiny: 8
            case .small: 9.5
            case .large: 12
            }
        }

        /// Draws (or, with a nil image, only measures) `text` with its baseline starting at
        /// (x, y); `box` gets libgd's bounding box. Returns libgd's error, or nil.
        func render(
            _ image: gdImagePtr?, _ text: String, box: inout [Int32], color: Int32, x: Int, y: Int, angle: Double
        ) -> UnsafeMutablePointer<CChar>? {
            var bytes = Array(text.utf8CString)
            var font = Array(Raster.fontPath.utf8CString)
            return bytes.withUnsafeMutableBufferPointer { t in
                font.withUnsafeMutableBufferPointer { f in
                    gdImageStringFT(image, &box, color, f.baseAddress, points, angle, Int32(x), Int32(y), t.baseAddress)
                }
            }
        }

        /// The bounding box of `text` set on a baseline at 0: (left, top, right, bottom), top < 0.
        func box(_ text: String) -> (left: Int, top: Int, right: Int, bottom: Int) {
            var box = [Int32](repeating: 0, count: 8)
            _ = render(nil, text, box: &box, color: 0, x: 0, y: 0, angle: 0)
            return (Int(box[0]), Int(box[7]), Int(box[2]), Int(box[3]))
        }

        /// Pixels above the baseline of the tallest letters, and the line's height.
        var ascent: Int { -box("Abdfhkl").top }
        var height: Int {
            let b = box("Abdfhklgjpqy")
            return b.bottom - b.top
        }

        func width(of text: String) -> Int {
            let b = box(text)
            return b.right - b.left
        }
    }

    enum Anchor { case start, middle, end }

    /// Draws `text` with its top at y; `anchor` places x at its start, middle or end.
    func text(
        _ text: String, x: Int, y: Int, font: Font = .small, anchor: Anchor = .start,
        _ color: Int32
    ) {
        let w = font.width(of: text)
        let left = anchor == .start ? x : anchor == .middle ? x - w / 2 : x - w
        var box = [Int32](repeating: 0, count: 8)
        _ = font.render(pointer, text, box: &box, color: color, x: left, y: y + font.ascent, angle: 0)
    }

    /// Draws `text` turned 90 degrees anticlockwise, centred vertically on y, its top at x.
    func verticalText(_ text: String, x: Int, y: Int, font: Font = .small, _ color: Int32) {
        let w = font.width(of: text)
        var box = [Int32](repeating: 0, count: 8)
        _ = font.render(pointer, text, box: &box, color: color, x: x + font.ascent, y: y + w / 2, angle: .pi / 2)
    }

    // MARK: Encoding

    /// The image as PNG bytes (libgd's encoder, compression level 6).
    func png() throws -> Data {
        var size: Int32 = 0
        guard let bytes = gdImagePngPtrEx(pointer, &size, 6), size > 0 else {
            throw ReportError("libgd could not encode a PNG")
        }
        defer { gdFree(bytes) }
        return Data(bytes: bytes, count: Int(size))
    }
}

/// An animated GIF built frame by frame through libgd (palette frames, each with its own
/// colour table, looping forever).
final class GIFAnimation {
    private var data = Data()
    private var started = false
    private let delay: Int

    /// - Parameter delay: time per frame in hundredths of a second.
    init(delay: Int) { self.delay = delay }

    /// Appends a palette frame (all frames must share the first frame's size).
    func add(_ frame: Raster) throws {
        var size: Int32 = 0
        if !started {
            guard let head = gdImageGifAnimBeginPtr(frame.pointer, &size, 0, 0) else {
                throw ReportError("libgd could not start a GIF")
            }
            data.append(Data(bytes: head, count: Int(size)))
            gdFree(head)
            started = true
        }
        guard let bytes = gdImageGifAnimAddPtr(frame.pointer, &size, 1, 0, 0, Int32(delay), 1, nil)
        else { throw ReportError("libgd could not encode a GIF frame") }
        data.append(Data(bytes: bytes, count: Int(size)))
        gdFree(bytes)
    }

    /// The finished file.
    func finish() throws -> Data {
        guard started else { throw ReportError("a GIF needs at least one frame") }
        var size: Int32 = 0
        guard let tail = gdImageGifAnimEndPtr(&size) else {
            throw ReportError("libgd could not end a GIF")
        }
        defer { gdFree(tail) }
        return data + Data(bytes: tail, count: Int(size))
    }
}
