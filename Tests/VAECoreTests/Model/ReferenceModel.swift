import Foundation

@testable import VAECore

/// A float64 re-implementation of the forward pass and loss, written independently of the
/// Float kernels: the finite-difference reference for the hand-written backward pass.
struct ReferenceModel {
    let layout: NetworkLayout
    let loss: LossConfiguration

    /// (reconstruction + beta KL) summed over the batch, times `scale`.
    func loss(
        parameters p: [Double], input: [Double], noise: [Double], count: Int,
        scale: Double
    ) -> Double {
        let model = layout.model
        func dense(_ l: DenseLayer, _ x: [Double], rows: Int) -> [Double] {
            var y = [Double](repeating: 0, count: rows * l.outputs)
            for r in 0..<rows {
                for o in 0..<l.outputs {
                    var s = p[l.biasOffset + o]
                    for i in 0..<l.inputs { s += x[r * l.inputs + i] * p[l.weightOffset + i * l.outputs + o] }
                    y[r * l.outputs + o] = l.relu ? max(s, 0) : s
                }
            }
            return y
        }
        var h = input
        for l in layout.encoder { h = dense(l, h, rows: count) }
        let L = model.latentDim
        var z = [Double](repeating: 0, count: count * L)
        var kl = 0.0
        for n in 0..<count {
            for j in 0..<L {
                if model.kind == .ae {
                    z[n * L + j] = h[n * L + j]
                } else {
                    let mu = h[n * 2 * L + j], lv = h[n * 2 * L + L + j]
                    z[n * L + j] = mu + exp(lv / 2) * noise[n * L + j]
                    switch loss.kl {
                    case .standard: kl += -0.5 * (1 + lv - mu * mu - exp(lv))
                    case .seed: kl += -0.5 * (1 + lv - mu * mu - 10 * exp(10 * lv))
                    }
                }
            }
        }
        var y = z
        for l in layout.decoder { y = dense(l, y, rows: count) }
        var recon = 0.0
        for k in 0..<y.count {
            let t = input[k]
            let prob = 1 / (1 + exp(-y[k]))
            switch loss.reconstruction {
            case .bce: recon += -(t * log(prob) + (1 - t) * log(1 - prob))
            case .mse: recon += (prob - t) * (prob - t)
            }
        }
        let total = model.kind == .vae ? recon + Double(loss.beta) * kl : recon
        return total * scale
    }
}
