import Foundation

/// The total correlation TC = KL(q(z) || prod_k q(z_k)) of the latents, estimated on one batch by
/// minibatch-weighted sampling (Chen et al. 2018, section 3.1), and its gradient with respect to
/// every row's mean, log-variance and sample: the term that couples the samples of a batch.
///
/// With M the batch, N the data set and l_ijk = log N(z_ik; mu_jk, exp(lv_jk)) the Gaussian
/// posterior of sample j at sample i's draw:
///   log q(z_i)   ~ logsumexp_j sum_k l_ijk - log(N M),
///   log q(z_ik)  ~ logsumexp_j l_ijk - log(N M),
///   TC ~ 1/M sum_i [log q(z_i) - sum_k log q(z_ik)].
/// By the chain rule through both logsumexps, dTC/dl_ijk = (P_ij - Q_ijk) / M with P_ij the
/// softmax over j of sum_k l_ijk and Q_ijk the softmax over j of l_ijk; and with d = z_ik - mu_jk,
/// dl/dz_ik = -d / v_jk, dl/dmu_jk = d / v_jk, dl/dlv_jk = (d^2 / v_jk - 1) / 2.
///
/// Every worker evaluates the whole batch from the same gathered rows in the same order, so
/// each gets the same bits whatever the split, and keeps the gradient of its own rows. The cost,
/// M^2 (K + 1) exponentials, is small next to the network's matrix products. Buffers are
/// allocated once: an evaluation allocates nothing.
public final class TotalCorrelation {
    public let batchSize: Int
    public let latentDim: Int
    /// (K - 1) log(N M): the estimator's constants, which do not change the gradient.
    private let constant: Double
    /// exp(-lv) [M, K] of every row.
    private let inverseVariance: UnsafeMutablePointer<Double>
    /// For the current i: l_ijk [M, K] (then exp(l_ijk - max_j l_ijk)), the joint sum_k l_ijk [M]
    /// (then its exp against the maximum), and the per-latent maxima and sums [K].
    private let logDensity: UnsafeMutablePointer<Double>
    private let joint: UnsafeMutablePointer<Double>
    private let latentMaximum: UnsafeMutablePointer<Double>
    private let latentSum: UnsafeMutablePointer<Double>
    /// M x dTC/d(mu | lv | z) [M, 3K].
    private let gradient: UnsafeMutablePointer<Double>

    /// - Parameters:
    ///   - batchSize: M, the global batch.
    ///   - datasetSize: N, the images the batches are drawn from.
    public init(batchSize: Int, latentDim: Int, datasetSize: Int) {
        precondition(batchSize > 0 && latentDim > 0 && datasetSize > 0)
        self.batchSize = batchSize
        self.latentDim = latentDim
        constant = Double(latentDim - 1) * log(Double(datasetSize) * Double(batchSize))
        inverseVariance = .allocate(capacity: batchSize * latentDim)
        logDensity = .allocate(capacity: batchSize * latentDim)
        joint = .allocate(capacity: batchSize)
        latentMaximum = .allocate(capacity: latentDim)
        latentSum = .allocate(capacity: latentDim)
        gradient = .allocate(capacity: batchSize * 3 * latentDim)
    }

    deinit {
        [inverseVariance, logDensity, joint, latentMaximum, latentSum, gradient].forEach { $0.deallocate() }
    }

    /// The TC estimate of a batch, keeping its gradient for `gradient(rows:scale:into:)`.
    ///
    /// - Parameter statistics: [M, 3K], row j = (mu_j | lv_j | z_j), in batch order.
    public func evaluate(_ statistics: UnsafePointer<Float>) -> Double {
        let (m, k) = (batchSize, latentDim)
        let width = 3 * k
        for j in 0..<m {
            for c in 0..<k { inverseVariance[j * k + c] = exp(-Double(statistics[j * width + k + c])) }
        }
        gradient.update(repeating: 0, count: m * width)
        let halfLog2Pi = 0.5 * log(2 * Double.pi)
        var total = 0.0
        for i in 0..<m {
            let z = statistics + i * width + 2 * k
            var jointMaximum = -Double.infinity
            for c in 0..<k { latentMaximum[c] = -.infinity }
            for j in 0..<m {
                let mean = statistics + j * width
                var sum = 0.0
                for c in 0..<k {
                    let d = Double(z[c]) - Double(mean[c])
                    let l = -halfLog2Pi - 0.5 * Double(mean[k + c]) - 0.5 * d * d * inverseVariance[j * k + c]
                    logDensity[j * k + c] = l
                    latentMaximum[c] = max(latentMaximum[c], l)
                    sum += l
                }
                joint[j] = sum
                jointMaximum = max(jointMaximum, sum)
            }
            // Both logsumexps over j, keeping the exponentials for the softmaxes.
            var jointSum = 0.0
            for c in 0..<k { latentSum[c] = 0 }
            for j in 0..<m {
                joint[j] = exp(joint[j] - jointMaximum)
                jointSum += joint[j]
                for c in 0..<k {
                    let e = exp(logDensity[j * k + c] - latentMaximum[c])
                    logDensity[j * k + c] = e
                    latentSum[c] += e
                }
            }
            total += jointMaximum + log(jointSum)
            for c in 0..<k { total -= latentMaximum[c] + log(latentSum[c]) }
            // dTC/dl_ijk x M = P_ij - Q_ijk, spread onto z_i and onto row j's mean and log-variance.
            let gz = gradient + i * width + 2 * k
            for j in 0..<m {
                let mean = statistics + j * width
                let p = joint[j] / jointSum
                let g = gradient + j * width
                for c in 0..<k {
                    let w = p - logDensity[j * k + c] / latentSum[c]
                    let d = Double(z[c]) - Double(mean[c])
                    let t = d * inverseVariance[j * k + c]
                    gz[c] -= w * t
                    g[c] += w * t
                    g[k + c] += 0.5 * w * (d * t - 1)
                }
            }
        }
        return total / Double(m) + constant
    }

    /// Writes `scale` x dTC/d(mu | lv | z) of batch rows `rows` (from the last `evaluate`) into
    /// `output` [rows.count, 3K].
    public func gradient(rows: Range<Int>, scale: Float, into output: UnsafeMutablePointer<Float>) {
        let width = 3 * latentDim
        let factor = Double(scale) / Double(batchSize)
        for (row, j) in rows.enumerated() {
            for c in 0..<width { output[row * width + c] = Float(factor * gradient[j * width + c]) }
        }
    }
}
