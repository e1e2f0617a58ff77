import Foundation

@testable import VAECore

/// A float64 re-implementation of the forward pass and loss, written independently of the
/// Float kernels: the finite-difference reference for the hand-written backward pass.
struct ReferenceModel {
    let layout: NetworkLayout
    let loss: LossConfiguration

    /// The loss of the whole batch: for the ELBO (reconstruction + w KL) summed over the batch,
    /// times `scale`; with `capacity`, scale x reconstruction + weight |scale x KL - target|; with
    /// `totalCorrelation`, the ELBO's plus weight x TC of the batch (`totalCorrelation(...)`).
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
        if loss.objective == .adaGVAE {
            h = ReferenceModel.averagedPairs(
                head: h, count: count, latentDim: L, averageLogVariance: averageLogVariance)
        }
        var z = [Double](repeating: 0, count: count * L)
        var kl = 0.0
        for n in 0..<count {
            for j in 0..<L {
                if model.kind == .ae {
                    z[n * L + j] = h[n * L + j]
                } else {
                    let mu = h[n * 2 * L + j], lv = h[n * 2 * L + L + j]
                    z[n * L + j] = mu + exp(lv / 2) * noise[n * L + j]
                    switch (loss.kl, loss.prior) {
                    case (.standard, .gaussian): kl += -0.5 * (1 + lv - mu * mu - exp(lv))
                    case (.seed, _): kl += -0.5 * (1 + lv - mu * mu - 10 * exp(10 * lv))
                    case (.standard, let prior):
                        kl += ReferenceModel.divergenceByQuadrature(prior, mean: mu, logVariance: lv)
                    }
                }
            }
        }
        var y = z
        switch model.decoder {
        case .mlp:
            for l in layout.decoder { y = dense(l, y, rows: count) }
        case .spatialBroadcast:
            // Every pixel's row is [z of its sample, x, y] with x, y on an even grid over [-1, 1].
            let pixels = model.inputSize
            let side = Int(Double(pixels).squareRoot().rounded())
            var rows: [Double] = []
            for n in 0..<count {
                for p in 0..<pixels {
                    rows += z[(n * L)..<((n + 1) * L)]
                    rows.append(-1 + 2 * Double(p % side) / Double(side - 1))
                    rows.append(-1 + 2 * Double(p / side) / Double(side - 1))
                }
            }
            y = rows
            for l in layout.decoder { y = dense(l, y, rows: count * pixels) }
        }
        var recon = 0.0
        for k in 0..<y.count {
            let t = input[k]
            let prob = 1 / (1 + exp(-y[k]))
            switch loss.reconstruction {
            case .bce: recon += -(t * log(prob) + (1 - t) * log(1 - prob))
            case .mse: recon += (prob - t) * (prob - t)
            }
        }
        if let capacity {
            return recon * scale + capacity.weight * abs(kl * scale - capacity.target)
        }
        let total = model.kind == .vae ? recon + Double(klWeight ?? loss.beta) * kl : recon
        guard let totalCorrelation else { return total * scale }
        return total * scale
            + totalCorrelation.weight
            * ReferenceModel.totalCorrelation(
                head: h, z: z, count: count, latentDim: L, datasetSize: totalCorrelation.datasetSize)
    }

    /// Ada-GVAE: how a shared latent's log-variances combine (nil: the log of the mean
    /// variance, the objective's); a test gives a wrong one to show that the check can fail.
    var averageLogVariance: ((Double, Double) -> Double)? = nil

    /// Ada-GVAE's head: rows (2p, 2p + 1) are a pair; the latents whose KL between the pair's
    /// posteriors, log(s_B / s_A) + (s_A^2 + (mu_A - mu_B)^2) / (2 s_B^2) - 1/2, lies below the
    /// midpoint of its smallest and largest value take the pair's mean mean and mean variance.
    static func averagedPairs(
        head: [Double], count: Int, latentDim k: Int, averageLogVariance: ((Double, Double) -> Double)? = nil
    ) -> [Double] {
        var h = head
        for (p, shared) in sharedLatents(head: head, count: count, latentDim: k).shared.enumerated() {
            let (a, b) = (2 * p * 2 * k, (2 * p + 1) * 2 * k)
            for j in 0..<k where shared[j] {
                let mean = (head[a + j] + head[b + j]) / 2
                let logVariance =
                    averageLogVariance?(head[a + k + j], head[b + k + j])
                    ?? log((exp(head[a + k + j]) + exp(head[b + k + j])) / 2)
                (h[a + j], h[b + j]) = (mean, mean)
                (h[a + k + j], h[b + k + j]) = (logVariance, logVariance)
            }
        }
        return h
    }

    /// Which latents each pair shares, and the smallest distance of any latent's KL from its
    /// pair's threshold relative to the pair's spread of KLs: finite differences are valid only
    /// when no step of them moves a latent across.
    static func sharedLatents(head: [Double], count: Int, latentDim k: Int) -> (
        shared: [[Bool]], margin: Double
    ) {
        var shared: [[Bool]] = []
        var margin = Double.infinity
        for p in 0..<(count / 2) {
            let (a, b) = (2 * p * 2 * k, (2 * p + 1) * 2 * k)
            let kl = (0..<k).map { j -> Double in
                let (sA, sB) = (exp(head[a + k + j] / 2), exp(head[b + k + j] / 2))
                let d = head[a + j] - head[b + j]
                return log(sB / sA) + (sA * sA + d * d) / (2 * sB * sB) - 0.5
            }
            let (low, high) = (kl.min()!, kl.max()!)
            let threshold = (low + high) / 2
            shared.append(kl.map { $0 < threshold })
            margin = min(margin, kl.map { abs($0 - threshold) / (high - low) }.min()!)
        }
        return (shared, margin)
    }

    /// The KL weight the loss uses (nil: beta).
    var klWeight: Float? = nil
    /// The capacity objective's weight and target (nil: not that objective).
    var capacity: (weight: Double, target: Double)? = nil
    /// beta-TCVAE's weight on the total correlation, and the data set size of its estimator
    /// (nil: not that objective).
    var totalCorrelation: (weight: Double, datasetSize: Int)? = nil

    /// The minibatch-weighted-sampling estimate of the total correlation as Chen et al. (2018)
    /// write it, straight from the densities: with q(z_i | x_j) the product over latents of
    /// N(z_ik; mu_jk, s_jk^2), log q(z_i) = log(sum_j q(z_i | x_j)) - log(N M) and
    /// log q(z_ik) = log(sum_j q(z_ik | x_j)) - log(N M); TC = mean_i [log q(z_i) - sum_k log q(z_ik)].
    /// (Direct sums of densities, no logsumexp: fine for the small, moderate batches of the tests.)
    static func totalCorrelation(
        head: [Double], z: [Double], count m: Int, latentDim k: Int, datasetSize n: Int
    ) -> Double {
        func density(_ i: Int, _ j: Int, _ c: Int) -> Double {
            let mu = head[j * 2 * k + c], lv = head[j * 2 * k + k + c]
            let d = z[i * k + c] - mu
            return exp(-d * d / (2 * exp(lv))) / (2 * Double.pi * exp(lv)).squareRoot()
        }
        let logNM = log(Double(n * m))
        var tc = 0.0
        for i in 0..<m {
            var joint = 0.0
            for j in 0..<m { joint += (0..<k).map { density(i, j, $0) }.reduce(1, *) }
            var marginals = 0.0
            for c in 0..<k { marginals += log((0..<m).map { density(i, $0, c) }.reduce(0, +)) - logNM }
            tc += log(joint) - logNM - marginals
        }
        return tc / Double(m)
    }

    /// log p(z) of a prior, from its textbook density (not from `Prior`'s closed forms).
    static func logDensity(_ prior: Prior, _ z: Double) -> Double {
        switch prior {
        case .gaussian: return -0.5 * z * z - 0.5 * log(2 * Double.pi)
        case .laplace:
            let b = 1 / 2.0.squareRoot()
            return -abs(z) / b - log(2 * b)
        case .generalizedGaussian(let p):
            // Unit variance: a^2 Gamma(3/p) / Gamma(1/p) = 1.
            let a = (tgamma(1 / Double(p)) / tgamma(3 / Double(p))).squareRoot()
            return -pow(abs(z) / a, Double(p)) + log(Double(p) / (2 * a * tgamma(1 / Double(p))))
        }
    }

    /// KL(N(mu, exp(lv)) || prior) = E[log q(z) - log p(z)], integrated numerically: composite
    /// Simpson over eps in [-12, 12] with z = mu + s eps, split at z = 0 where |z| has its kink,
    /// so that the integrand is smooth on each piece.
    static func divergenceByQuadrature(_ prior: Prior, mean mu: Double, logVariance lv: Double) -> Double {
        let s = exp(lv / 2)
        func integrand(_ e: Double) -> Double {
            let q = exp(-0.5 * e * e) / (2 * Double.pi).squareRoot()
            let logQ = -0.5 * e * e - 0.5 * log(2 * Double.pi) - lv / 2
            return q * (logQ - logDensity(prior, mu + s * e))
        }
        func simpson(_ a: Double, _ b: Double, _ n: Int) -> Double {
            guard b > a else { return 0 }
            let h = (b - a) / Double(n)
            var total = integrand(a) + integrand(b)
            for i in 1..<n { total += integrand(a + Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
            return total * h / 3
        }
        let kink = min(max(-mu / s, -12), 12)
        return simpson(-12, kink, 400) + simpson(kink, 12, 400)
    }
}
