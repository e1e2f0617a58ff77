import Foundation

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

    /// The constants of one update, shared by every block of the parameters it touches.
    public struct Step: Sendable {
        let beta1: Float, beta2: Float, epsilon: Float
        /// lr / (1 - beta1^t)
        let stepSize: Float
        /// 1 / sqrt(1 - beta2^t)
        let inverseCorrection2: Float
    }

    /// The constants of update number `t` (1-based); `apply` then updates the blocks, and the
    /// caller counts the update in `stepCount`. Split this way so that several workers can
    /// update disjoint blocks of one step, and a step abandoned before `apply` counts nothing.
    public func constants(forUpdate t: Int) -> Step {
        let c = configuration
        return Step(
            beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon,
            stepSize: Float(Double(c.learningRate) / (1 - pow(Double(c.beta1), Double(t)))),
            inverseCorrection2: 1 / Float((1 - pow(Double(c.beta2), Double(t))).squareRoot()))
    }

    /// Both moments' storage at once, for `apply` from several threads.
    public mutating func withMoments<R>(
        _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R
    ) rethrows -> R {
        try firstMoment.withUnsafeMutableBufferPointer { m in
            try secondMoment.withUnsafeMutableBufferPointer { v in try body(m.baseAddress!, v.baseAddress!) }
        }
    }

    /// Applies one update to every parameter from `gradient` (same length as the moments).
    public mutating func update(
        _ parameters: UnsafeMutableBufferPointer<Float>,
        gradient: UnsafeBufferPointer<Float>
    ) {
        precondition(parameters.count == firstMoment.count && gradient.count >= parameters.count)
        let step = constants(forUpdate: stepCount + 1)
        withMoments { m, v in
            SubnormalFlush.during {
                Adam.apply(
                    step, parameters: parameters.baseAddress!, gradient: gradient.baseAddress!,
                    m: m, v: v, range: 0..<parameters.count)
            }
        }
        stepCount += 1
    }

    /// The element-wise update over `range` from one gradient, in place (see the summing `apply`).
    public static func apply(
        _ step: Step, parameters p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, range: Range<Int>
    ) {
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 1) { gradients in
            gradients[0] = UnsafeMutablePointer(mutating: g)  // only read: the update is in place
            apply(
                step, parameters: p, summing: UnsafeBufferPointer(gradients), m: m, v: v,
                range: range)
        }
    }

    /// Where `apply` writes the updated parameters.
    public enum Output: Sendable {
        /// Over the parameters it read.
        case inPlace
        /// Over every gradient it summed, at the same elements, leaving the parameters it read
        /// alone. Each element is read before it is overwritten. This is how the trainer's
        /// workers in shared memory hand each other the new parameters: each step's gradient
        /// buffers become the next step's parameters (see `Trainer`).
        case overGradients
    }

    /// The element-wise update over `range`, 16 lanes at a time, from the sum of `gradients`
    /// added in their order (so every run adds in the same order). Summing here rather than
    /// in a pass of its own saves writing the sum and reading it back: Adam is bound by
    /// moving memory, not by its arithmetic (docs/performance.md).
    ///
    /// Every pointer is indexed by parameter number: `range` picks the elements to update.
    /// Moments outside `range` are left as they were, so a worker that updates one block keeps
    /// only that block's moments current (ZeRO stage 1, see `Trainer`). Moments of parameters
    /// whose gradient has stopped decay through the subnormal range: callers flush them
    /// (`SubnormalFlush`, as the trainer's workers do).
    public static func apply(
        _ step: Step, parameters p: UnsafeMutablePointer<Float>,
        summing gradients: UnsafeBufferPointer<UnsafeMutablePointer<Float>>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, range: Range<Int>,
        output: Output = .inPlace
    ) {
        precondition(!gradients.isEmpty, "Adam needs a gradient")
        let (b1, b2, epsilon) = (step.beta1, step.beta2, step.epsilon)
        let (stepSize, inverseCorrection2) = (step.stepSize, step.inverseCorrection2)
        let first = gradients[0]
        let others = gradients.dropFirst()
        let width = FloatVector.scalarCount
        /// The new parameters at `k..<k + width`, from their summed gradient `gk`.
        @inline(__always) func update(_ k: Int, _ gk: FloatVector) -> FloatVector {
            let mk = b1 * FloatVector.load(m + k) + (1 - b1) * gk
            let vk = b2 * FloatVector.load(v + k) + (1 - b2) * gk * gk
            mk.store(m + k)
            vk.store(v + k)
            let denominator = VectorMath.squareRoot(vk) * inverseCorrection2 + epsilon
            return FloatVector.load(p + k) - stepSize * mk / denominator
        }
        // The elements past the last whole vector one by one, then the vectors from the top of
        // the range down: the update ends at the lowest parameters, the first layer's weights,
        // where the next forward pass starts reading (ahead in 22 of 30 alternated rounds at
        // `-np 2`, and 1.4 % faster at one thread: docs/performance.md).
        let vectorEnd = range.lowerBound + range.count / width * width
        for k in vectorEnd..<range.upperBound {
            var gk = first[k]
            for g in others { gk += g[k] }
            let mk = b1 * m[k] + (1 - b1) * gk
            let vk = b2 * v[k] + (1 - b2) * gk * gk
            m[k] = mk
            v[k] = vk
            let pk = p[k] - stepSize * mk / (vk.squareRoot() * inverseCorrection2 + epsilon)
            switch output {
            case .inPlace: p[k] = pk
            case .overGradients: for g in gradients { g[k] = pk }
            }
        }
        var k = vectorEnd
        // The trainer's common cases get loops of their own, without the loops over the sources
        // and the outputs (1-3 % faster at `-np 2`: docs/performance.md).
        switch (output, gradients.count) {
        case (.inPlace, 1):
            while k > range.lowerBound {
                k -= width
                update(k, FloatVector.load(first + k)).store(p + k)
            }
        case (.overGradients, 1):
            while k > range.lowerBound {
                k -= width
                update(k, FloatVector.load(first + k)).store(first + k)
            }
        case (.overGradients, 2):
            let second = gradients[1]
            while k > range.lowerBound {
                k -= width
                let pk = update(k, FloatVector.load(first + k) + FloatVector.load(second + k))
                pk.store(first + k)
                pk.store(second + k)
            }
        default:
            while k > range.lowerBound {
                k -= width
                var gk = FloatVector.load(first + k)
                for g in others { gk += FloatVector.load(g + k) }
                let pk = update(k, gk)
                switch output {
                case .inPlace: pk.store(p + k)
                case .overGradients: for g in gradients { pk.store(g + k) }
                }
            }
        }
    }
}
