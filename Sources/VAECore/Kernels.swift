import COpenBLAS
import Foundation

/// The numeric kernels of a step: dense products through BLAS, element-wise work over raw
/// buffers. Row-major throughout: activations [samples, features], W [inputs, outputs].
enum Kernels {
    /// output = act(input W + b) for `count` rows.
    static func dense(_ layer: DenseLayer, input: UnsafePointer<Float>, count: Int,
                      parameters: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let m = Int32(count), n = Int32(layer.outputs), k = Int32(layer.inputs)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1,
                    input, k, parameters + layer.weightOffset, n, 0, output, n)
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
    static func parameterGradients(_ layer: DenseLayer, input: UnsafePointer<Float>,
                                   delta: UnsafePointer<Float>, count: Int,
                                   ones: UnsafePointer<Float>,
                                   gradient: UnsafeMutablePointer<Float>) {
        let m = Int32(layer.inputs), n = Int32(layer.outputs), k = Int32(count)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1,
                    input, m, delta, n, 0, gradient + layer.weightOffset, n)
        cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1, delta, n, ones, 1, 0,
                    gradient + layer.biasOffset, 1)
    }

    /// dInput = delta W^T [count, inputs].
    static func inputGradient(_ layer: DenseLayer, delta: UnsafePointer<Float>, count: Int,
                              parameters: UnsafePointer<Float>,
                              output: UnsafeMutablePointer<Float>) {
        let m = Int32(count), n = Int32(layer.inputs), k = Int32(layer.outputs)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1,
                    delta, k, parameters + layer.weightOffset, k, 0, output, n)
    }

    /// Back through a ReLU: zero the gradient where the (post-ReLU) activation is 0.
    static func reluMask(_ gradient: UnsafeMutablePointer<Float>,
                         activation: UnsafePointer<Float>, count: Int) {
        for k in 0..<count where activation[k] <= 0 { gradient[k] = 0 }
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
    static func reconstruction(_ kind: LossConfiguration.Reconstruction,
                               logits: UnsafePointer<Float>, target: UnsafePointer<Float>,
                               count: Int, gradientScale: Float,
                               gradient: UnsafeMutablePointer<Float>) -> Double {
        var total = 0.0
        // Accumulate in Float over short runs, in Double across them: accurate and cheap.
        let run = 784
        var start = 0
        while start < count {
            let end = min(count, start + run)
            var partial: Float = 0
            switch kind {
            case .bce:
                for k in start..<end {
                    let y = logits[k], t = target[k]
                    let e = expf(-abs(y))
                    partial += max(y, 0) - y * t + log1pf(e)
                    let p = y >= 0 ? 1 / (1 + e) : e / (1 + e)
                    gradient[k] = gradientScale * (p - t)
                }
            case .mse:
                for k in start..<end {
                    let p = sigmoid(logits[k]), t = target[k]
                    let d = p - t
                    partial += d * d
                    gradient[k] = gradientScale * 2 * d * p * (1 - p)
                }
            }
            total += Double(partial)
            start = end
        }
        return total
    }

    /// One pixel's reconstruction loss from a probability (for evaluation, not training).
    static func reconstructionFromProbability(_ kind: LossConfiguration.Reconstruction,
                                              _ p: Float, target t: Float) -> Float {
        switch kind {
        case .bce:
            let q = min(max(p, 1e-7), 1 - 1e-7)
            return -(t * logf(q) + (1 - t) * logf(1 - q))
        case .mse:
            return (p - t) * (p - t)
        }
    }
}
