import Foundation
import VAECore

/// A true property of each circle that a latent value may track.
public enum Factor: String, CaseIterable, Sendable {
    /// Centre x in pixels (grows to the right).
    case x
    /// Centre y in pixels (grows downwards, as image rows do).
    case y
    /// Disc radius in pixels (constant unless the world varies it: `--radius MIN-MAX`).
    case radius
    /// The disc's grey level (constant unless the world varies it: `--intensity MIN-MAX`).
    case intensity
    /// Distance of the centre from the image middle (side/2, side/2), in pixels.
    case polarRadius = "polar_radius"
    /// Angle of the centre around the image middle, atan2(y - side/2, x - side/2) in radians,
    /// in (-pi, pi]; with y downwards it turns clockwise on screen. It is circular: it jumps
    /// from pi to -pi on the left of the middle, which caps any linear or rank correlation.
    case polarAngle = "polar_angle"

    /// A short label for tables and plots.
    public var label: String {
        switch self {
        case .x: "x"
        case .y: "y"
        case .radius: "radius"
        case .intensity: "intensity"
        case .polarRadius: "polar r"
        case .polarAngle: "polar angle"
        }
    }
}

/// The factors of a set of circles: `values[factor]` has one value per circle.
public struct CircleFactors: Sendable {
    public let values: [Factor: [Double]]

    public init(circles: [Circle], side: Int) {
        self.init(
            x: circles.map(\.x), y: circles.map(\.y), radius: circles.map(\.radius),
            intensity: circles.map(\.intensity), side: side)
    }

    /// The factors of circles with these centres, radii and intensities (1 when not given) in a
    /// `side` x `side` image.
    public init(x: [Double], y: [Double], radius: [Double], intensity: [Double]? = nil, side: Int) {
        precondition(x.count == y.count && y.count == radius.count, "factors of different lengths")
        precondition(intensity.map { $0.count == x.count } ?? true, "factors of different lengths")
        let middle = Double(side) / 2
        let dx = x.map { $0 - middle }, dy = y.map { $0 - middle }
        values = [
            .x: x, .y: y, .radius: radius, .intensity: intensity ?? [Double](repeating: 1, count: x.count),
            .polarRadius: zip(dx, dy).map { ($0 * $0 + $1 * $1).squareRoot() },
            .polarAngle: zip(dx, dy).map { atan2($1, $0) },
        ]
    }

    /// Factors given directly (for tests): every factor must be present, all of one length.
    public init(values: [Factor: [Double]]) {
        precondition(Factor.allCases.allSatisfy { values[$0] != nil }, "every factor needs values")
        self.values = values
    }

    public subscript(factor: Factor) -> [Double] { values[factor] ?? [] }
}

extension ImageConfiguration {
    /// The factors these images vary, which the analysis matches to latents: x and y, then the
    /// radius and the intensity when they vary. The polar descriptors are not among them: they
    /// are functions of x and y.
    public var factors: [Factor] {
        [.x, .y] + (radii.upperBound > radii.lowerBound ? [.radius] : [])
            + (intensities.upperBound > intensities.lowerBound ? [.intensity] : [])
    }
}
