import Foundation
import VAECore

/// A true property of each circle that a latent value may track.
public enum Factor: String, CaseIterable, Sendable {
    /// Centre x in pixels (grows to the right).
    case x
    /// Centre y in pixels (grows downwards, as image rows do).
    case y
    /// Disc radius in pixels (constant unless the data varies it).
    case radius
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
        case .polarRadius: "polar r"
        case .polarAngle: "polar angle"
        }
    }
}

/// The factors of a set of circles: `values[factor]` has one value per circle.
public struct CircleFactors: Sendable {
    public let values: [Factor: [Double]]

    public init(circles: [Circle], side: Int) {
        let middle = Double(side) / 2
        var values: [Factor: [Double]] = [:]
        values[.x] = circles.map(\.x)
        values[.y] = circles.map(\.y)
        values[.radius] = circles.map(\.radius)
        values[.polarRadius] = circles.map { (($0.x - middle) * ($0.x - middle) + ($0.y - middle) * ($0.y - middle)).squareRoot() }
        values[.polarAngle] = circles.map { atan2($0.y - middle, $0.x - middle) }
        self.values = values
    }

    /// Factors given directly (for tests): every factor must be present, all of one length.
    public init(values: [Factor: [Double]]) {
        precondition(Factor.allCases.allSatisfy { values[$0] != nil }, "every factor needs values")
        self.values = values
    }

    public subscript(factor: Factor) -> [Double] { values[factor] ?? [] }
}
