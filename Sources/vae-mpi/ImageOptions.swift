import ArgumentParser
import VAECore

/// The flags that change how circles are drawn, shared by `train` and `bench` (over a preset
/// or a resumed checkpoint) and `analyze` (over the images the checkpoint was trained on).
/// Only the flags given change anything.
struct ImageOptions: ParsableArguments {
    enum Centres: String, ExpressibleByArgument, CaseIterable { case uniform, normal }

    @Option(
        parsing: .unconditional,
        help:
            "Disc radius in pixels, or MIN-MAX for a radius uniform in that range per image (2-5). (default: the preset's or the checkpoint's; standard: 3)"
    )
    var radius: FactorRange?

    @Option(
        parsing: .unconditional,
        help:
            "The disc's grey level in (0, 1], or MIN-MAX for a level uniform in that range per image (0.3-1). (default: 1, or as trained)"
    )
    var intensity: FactorRange?

    @Option(
        help:
            "Centre distribution: uniform (disc inside the image) or normal (around the middle). (default: uniform, or as trained)"
    )
    var centres: Centres?

    @Option(
        parsing: .unconditional,
        help: "Standard deviation in pixels of normal centres. (default: as before, else 3)")
    var centreSigma: Double?

    @Flag(inversion: .prefixedNo, help: "Truncate centres to whole pixels. (default: no, or as trained)")
    var integerCentres: Bool?

    @Flag(
        inversion: .prefixedNo,
        help: "Anti-aliased discs (pixel = covered area). (default: yes, or as trained)")
    var antialias: Bool?

    func validate() throws {
        if let radius, radius.min > radius.max {
            throw ValidationError("--radius \(radius): the range runs backwards (give MIN-MAX)")
        }
        if let intensity {
            if !(intensity.min > 0 && intensity.max <= 1) {
                throw ValidationError("--intensity \(intensity): the grey level must be in (0, 1]")
            }
            if intensity.min > intensity.max {
                throw ValidationError("--intensity \(intensity): the range runs backwards (give MIN-MAX)")
            }
        }
        // The value first: a bad sigma is the problem whatever the centres.
        if let centreSigma, !(centreSigma.isFinite && centreSigma > 0) {
            throw ValidationError("centre sigma must be positive, got \(centreSigma)")
        }
        if centreSigma != nil, centres == .uniform {
            throw ValidationError("--centre-sigma needs normal centres")
        }
    }

    /// `images` with the given flags applied. `--centres normal` keeps the sigma of centres
    /// that were normal already (3 for uniform ones) unless `--centre-sigma` gives one.
    /// - Throws: `ConfigurationError` for `--centre-sigma` alone over uniform centres.
    func apply(to images: ImageConfiguration) throws -> ImageConfiguration {
        var images = images
        if let radius {
            images.radius = radius.min
            images.maxRadius = radius.max > radius.min ? radius.max : nil
        }
        if let intensity {
            images.intensity = intensity.min
            images.maxIntensity = intensity.max > intensity.min ? intensity.max : nil
        }
        switch (centres, images.centres) {
        case (.uniform, _): images.centres = .uniform
        case (.normal, .normal(let sigma)), (nil, .normal(let sigma)):
            images.centres = .normal(sigma: centreSigma ?? sigma)
        case (.normal, .uniform): images.centres = .normal(sigma: centreSigma ?? 3)
        case (nil, .uniform):
            if centreSigma != nil {
                throw ConfigurationError(
                    "--centre-sigma needs normal centres: these images have uniform ones (add --centres normal)"
                )
            }
        }
        if let integerCentres { images.integerCentres = integerCentres }
        if let antialias { images.antialias = antialias }
        return images
    }
}

/// `3` (a fixed value) or `2-5` (uniform in [2, 5] per image), for the world's factors.
struct FactorRange: ExpressibleByArgument, CustomStringConvertible {
    var min: Double
    var max: Double
    /// As the user wrote it, for messages.
    let description: String

    /// A number, or two finite numbers joined by `-`: the first `-` after the first character
    /// that splits the text into two numbers, so `-1`, `1e-3` and `1e-3-0.5` read as meant.
    init?(argument: String) {
        description = argument
        if let value = Double(argument) {
            (min, max) = (value, value)
            return
        }
        for split in argument.indices.dropFirst() where argument[split] == "-" {
            if let lower = Double(argument[..<split]), lower.isFinite,
                let upper = Double(argument[argument.index(after: split)...]), upper.isFinite
            {
                (min, max) = (lower, upper)
                return
            }
        }
        return nil
    }
}
