/// The Lasso: linear regression with an L1 penalty, which sets the weights of latents that add
/// nothing to exactly 0. It minimises (scikit-learn's `Lasso` objective, no intercept)
///
///     (1 / 2n) |y - X w|^2 + alpha |w|_1
///
/// by cyclic coordinate descent: w_j <- soft(x_j . r_j / n, alpha) / (|x_j|^2 / n), with r_j the
/// residual without feature j and soft(t, a) = sign(t) max(|t| - a, 0). The objective is convex,
/// so any exact solver reaches the same weights (unique when the features are not collinear).
public enum Lasso {
    /// Sweeps stop when no weight moved by more than this.
    static let tolerance = 1e-12
    static let maximumSweeps = 100_000

    /// The weights for features `columns` (one array per feature, n values each) and target `y`.
    /// A feature that is all zeros gets weight 0.
    public static func fit(columns: [[Double]], target y: [Double], alpha: Double) -> [Double] {
        let n = Double(y.count)
        var w = [Double](repeating: 0, count: columns.count)
        var residual = y
        let squaredNorms = columns.map { c in c.reduce(0) { $0 + $1 * $1 } / n }
        for _ in 0..<maximumSweeps {
            var largestMove = 0.0
            for (j, x) in columns.enumerated() where squaredNorms[j] > 0 {
                var rho = 0.0
                for i in y.indices { rho += x[i] * residual[i] }
                rho = rho / n + squaredNorms[j] * w[j]
                let shrunk = rho > alpha ? rho - alpha : rho < -alpha ? rho + alpha : 0
                let updated = shrunk / squaredNorms[j]
                let move = updated - w[j]
                if move != 0 {
                    for i in y.indices { residual[i] -= move * x[i] }
                    w[j] = updated
                    largestMove = max(largestMove, abs(move))
                }
            }
            if largestMove <= tolerance { break }
        }
        return w
    }
}
