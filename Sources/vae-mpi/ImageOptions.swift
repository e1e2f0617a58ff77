import ArgumentParser
import VAECore

/// The flags that change how circles are drawn, shared by `train` and `bench` (over a preset
/// or a resumed checkpoint) and `analyze` (over the images the checkpoint was trained on).
/// Only the flags given change anything.
struct ImageOptions: ParsableArguments {
    enum Centres: String, ExpressibleByArgument, CaseIterable { case uniform, normal }

    @Option(
        parsing: .unconditional,
        help: "Disc radius in pixels. (default: the preset's or the checkpoint's; standard: 3)")
    var radius: Double?

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
        if let radius { images.radius = radius }
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
