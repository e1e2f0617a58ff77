import Foundation

/// The numeric kernels of a step: dense products through `GEMM`, element-wise work over raw
/// buffers. Row-major throughout: activations [samples, features], W [inputs, outputs].
enum Kernels {
    /// output = act(input W + b) for `count` rows.
    static func dense(
        _ layer: DenseLayer, input: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let n = layer.outputs, k = layer.inputs
        GEMM.multiply(
            input, lda: k, parameters + layer.weightOffset, ldb: n, into: output, ldc: n,
            m: count, n: n, k: k)
        let bias = parameters + layer.biasOffset
        let width = layer.outputs
        for row in 0..<count {
            let y = output + row * width
            if layer.relu {
                for j in 0..<width { y[j] = max(y[j] + bias[j], 0) }
            } else {
                for j in 0..<width { y[j] += bias[j] }
            }
        }
    }

    /// dW = input^T delta and db = delta^T 1, written over the layer's slice of `gradient`.
    static func parameterGradients(
        _ layer: DenseLayer, input: UnsafePointer<Float>,
        delta: UnsafePointer<Float>, count: Int,
        ones: UnsafePointer<Float>,
        gradient: UnsafeMutablePointer<Float>
    ) {
        let m = layer.inputs, n = layer.outputs
        GEMM.multiply(
            input, lda: m, delta, ldb: n, into: gradient + layer.weightOffset, ldc: n,
            m: m, n: n, k: count, transposingA: true)
        GEMM.multiply(
            ones, lda: count, delta, ldb: n, into: gradient + layer.biasOffset, ldc: n,
            m: 1, n: n, k: count)
    }

    /// The largest |x| of `values[0..<count]`, or +infinity when some x is infinite or NaN.
    ///
    /// On the magnitude's bits (sign cleared): for non-negative floats integer order is float
    /// order, and infinity and every NaN sort above every finite value.
    static func largestMagnitude(_ values: UnsafePointer<Float>, count: Int) -> Float {
        let width = FloatVector.scalarCount
        var largest = SIMD16<UInt32>()
        var k = 0
        while k + width <= count {
            let bits = unsafeBitCast(FloatVector.load(values + k), to: SIMD16<UInt32>.self) & 0x7FFF_FFFF
            largest.replace(with: bits, where: bits .> largest)
            k += width
        }
        var result = largest.max()
        while k < count {
            result = max(result, values[k].bitPattern & 0x7FFF_FFFF)
            k += 1
        }
        return result >= Float.infinity.bitPattern ? .infinity : Float(bitPattern: result)
    }

    /// dInput = delta W^T [count, inputs].
    static func inputGradient(
        _ layer: DenseLayer, delta: UnsafePointer<Float>, count: Int,
        parameters: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>
    ) {
        let n = layer.inputs, k = layer.outputs
        GEMM.multiply(
            delta, lda: k, parameters + layer.weightOffset, ldb: k, into: output, ldc: n,
            m: count, n: n, k: k, transposingB: true)
    }

    /// Back through a ReLU: zero the gradient where the (post-ReLU) activation is 0.
    static func reluMask(
        _ gradient: UnsafeMutablePointer<Float>,
        activation: UnsafePointer<Float>, count: Int
    ) {
        for k in 0..<count { gradient[k] = activation[k] > 0 ? gradient[k] : 0 }
    }

    @inline(__always)
    static func sigmoid(_ y: Float) -> Float {
        if y >= 0 {
            return 1 / (1 + expf(-y))
        }
        let e = expf(y)
        return e / (1 + e)
    }

    /// The summed reconstruction loss over `count` logits, and `gradientScale` x its gradient
    /// with respect to the logits.
    ///
    /// BCE with logits, in the stable form max(y, 0) - y t + log(1 + exp(-|y|)); gradient
    /// sigmoid(y) - t. Squared error on p = sigmoid(y): (p - t)^2; gradient 2 (p - t) p (1 - p).
    /// sigmoid(y) = 1 / (1 + e) for y >= 0 and e / (1 + e) otherwise, with e = exp(-|y|).
    static func reconstruction(
        _ kind: LossConfiguration.Reconstruction,
        logits: UnsafePointer<Float>, target: UnsafePointer<Float>,
        count: Int, gradientScale: Float,
        gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        let width = FloatVector.scalarCount
        let vectorEnd = count - count % width
        var total = 0.0
        var partial = FloatVector()
        var k = 0
        // Float partial sums over at most 1024 vectors, Double across them: accurate and cheap.
        var sinceFlush = 0
        while k < vectorEnd {
            let y = FloatVector.load(logits + k), t = FloatVector.load(target + k)
            let e = VectorMath.expNonPositive(VectorMath.negativeAbsolute(y))
            let numerator = FloatVector(repeating: 1).replacing(with: e, where: y .< 0)
            let p = numerator / (1 + e)
            switch kind {
            case .bce:
                let positivePart = VectorMath.positivePart(y)
                partial += positivePart - y * t + VectorMath.log1pUnit(e)
                (gradientScale * (p - t)).store(gradient + k)
            case .mse:
                let d = p - t
                partial += d * d
                let dp = 2 * d * p * (1 - p)
                (gradientScale * dp).store(gradient + k)
            }
            k += width
            sinceFlush += 1
            if sinceFlush == 1024 {
                total += Double(partial.sum())
                partial = FloatVector()
                sinceFlush = 0
            }
        }
        total += Double(partial.sum())
        while k < count {
            let y = logits[k], t = target[k]
            let e = expf(-abs(y))
            let p = y >= 0 ? 1 / (1 + e) : e / (1 + e)
            switch kind {
            case .bce:
                total += Double(max(y, 0) - y * t + log1pf(e))
                gradient[k] = gradientScale * (p - t)
            case .mse:
                total += Double((p - t) * (p - t))
                gradient[k] = gradientScale * 2 * (p - t) * p * (1 - p)
            }
            k += 1
        }
        return total
    }

    /// One pixel's reconstruction loss from a probability (for evaluation, not training).
    static func reconstructionFromProbability(
        _ kind: LossConfiguration.Reconstruction,
        _ p: Float, target t: Float
    ) -> Float {
        switch kind {
        case .bce:
            let q = min(max(p, 1e-7), 1 - 1e-7)
            return -(t * logf(q) + (1 - t) * logf(1 - q))
        case .mse:
            return (p - t) * (p - t)
        }
    }
}
