import Foundation
import _VAECoreShims

/// Adam (Kingma & Ba 2015) with bias correction, in PyTorch's formulation:
///
///     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   t += 1
///     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// Deterministic and element-wise, so every rank applying it to the same summed gradient keeps
/// identical parameters.
public struct Adam: Sendable {
    public let configuration: OptimizerConfiguration
    /// First moment estimate, one per parameter.
    public var firstMoment: [Float]
    /// Second (raw) moment estimate, one per parameter.
    public var secondMoment: [Float]
    /// Updates applied so far (t in the formulas).
    public var stepCount: Int

    public init(configuration: OptimizerConfiguration, parameterCount: Int) {
        precondition(configuration.learningRate > 0, "learning rate must be positive")
        precondition(
            (0..<1).contains(configuration.beta1) && (0..<1).contains(configuration.beta2),
            "Adam betas must be in [0, 1)")
        precondition(configuration.epsilon > 0, "Adam epsilon must be positive")
        self.configuration = configuration
        firstMoment = [Float](repeating: 0, count: parameterCount)
        secondMoment = [Float](repeating: 0, count: parameterCount)
        stepCount = 0
    }

    /// Applies one update to `parameters` from `gradient` (same length as the moments).
    public mutating func update(
        _ parameters: UnsafeMutableBufferPointer<Float>,
        gradient: UnsafeBufferPointer<Float>
    ) {
        precondition(parameters.count == firstMoment.count && gradient.count >= parameters.count)
        update(
            parameters.baseAddress!, gradient: gradient.baseAddress!,
            range: 0..<parameters.count)
    }

    /// Applies one update to the parameters in `range` only, with `gradient` holding just that
    /// range's values (gradient[0] belongs to parameters[range.lowerBound]). The moments
    /// outside `range` are left as they were: a rank that updates one shard keeps only that
    /// shard's moments current.
    public mutating func update(
        _ parameters: UnsafeMutablePointer<Float>,
        gradient: UnsafePointer<Float>, range: Range<Int>
    ) {
        precondition(range.lowerBound >= 0 && range.upperBound <= firstMoment.count)
        stepCount += 1
        let c = configuration
        let b1 = c.beta1, b2 = c.beta2
        let t = Double(stepCount)
        let stepSize = Float(Double(c.learningRate) / (1 - pow(Double(b1), t)))
        let inverseCorrection2 = 1 / Float((1 - pow(Double(b2), t)).squareRoot())
        let eps = c.epsilon
        let offset = range.lowerBound
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                // Shift the gradient so that g[k] lines up with parameter k.
                let (g, mp, vp) = (gradient - offset, m.baseAddress!, v.baseAddress!)
                ComputeThreads.forEachChunk(of: range) { _, chunk in
                    Adam.apply(
                        parameters: parameters, gradient: g, m: mp, v: vp, range: chunk,
                        beta1: b1, beta2: b2, stepSize: stepSize,
                        inverseCorrection2: inverseCorrection2, epsilon: eps)
                }
            }
        }
    }

    /// The element-wise update over `range`, 16 lanes at a time.
    static func apply(
        parameters p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        range: Range<Int>, beta1 b1: Float, beta2 b2: Float, stepSize: Float,
        inverseCorrection2: Float, epsilon: Float
    ) {
        // Subnormal moments flush to 0 (see _VAECoreShims); the caller's mode is restored.
        let mode = vae_enter_flush_to_zero()
        defer { vae_restore_floating_point_mode(mode) }
        let width = FloatVector.scalarCount
        var k = range.lowerBound
        while k + width <= range.upperBound {
            let gk = FloatVector.load(g + k)
            let mk = b1 * FloatVector.load(m + k) + (1 - b1) * gk
            let vk = b2 * FloatVector.load(v + k) + (1 - b2) * gk * gk
            mk.store(m + k)
            vk.store(v + k)
            let denominator = VectorMath.squareRoot(vk) * inverseCorrection2 + epsilon
            (FloatVector.load(p + k) - stepSize * mk / denominator).store(p + k)
            k += width
        }
        while k < range.upperBound {
            let gk = g[k]
            let mk = b1 * m[k] + (1 - b1) * gk
            let vk = b2 * v[k] + (1 - b2) * gk * gk
            m[k] = mk
            v[k] = vk
            p[k] -= stepSize * mk / (vk.squareRoot() * inverseCorrection2 + epsilon)
            k += 1
        }
    }
}
