import Foundation

/// Correlation coefficients between two equally long samples.
public enum Correlation {
    /// Pearson's product-moment correlation
    /// r = sum((a_i - mean a)(b_i - mean b)) / sqrt(sum (a_i - mean a)^2 * sum (b_i - mean b)^2),
    /// computed with the means subtracted first (two passes), so large offsets do not cancel.
    ///
    /// - Returns: r in [-1, 1], or nil when it is undefined: fewer than two values, a constant
    ///   sample (zero variance), or a non-finite value.
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double? {
        precondition(a.count == b.count, "samples of different sizes: \(a.count) and \(b.count)")
        let n = a.count
        guard n >= 2 else { return nil }
        let meanA = a.reduce(0, +) / Double(n)
        let meanB = b.reduce(0, +) / Double(n)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<n {
            let da = a[i] - meanA, db = b[i] - meanB
            sab += da * db
            saa += da * da
            sbb += db * db
        }
        guard saa > 0, sbb > 0, sab.isFinite, saa.isFinite, sbb.isFinite else { return nil }
        return min(1, max(-1, sab / (saa * sbb).squareRoot()))
    }

    /// Spearman's rank correlation: Pearson's r of the ranks (`ranks`), so tied values share
    /// their average rank. It is 1 for any strictly increasing function of the other sample.
    ///
    /// - Returns: rho in [-1, 1], or nil when undefined (see `pearson`).
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double? {
        precondition(a.count == b.count, "samples of different sizes: \(a.count) and \(b.count)")
        guard a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else { return nil }
        return pearson(ranks(a), ranks(b))
    }

    /// Fractional ranks 1...n: the smallest value gets 1, and a run of k tied values at sorted
    /// positions p+1...p+k gets their mean p + (k + 1) / 2 each.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count, values[order[end]] == values[order[start]] { end += 1 }
            let rank = Double(start + end + 1) / 2
            for k in start..<end { ranks[order[k]] = rank }
            start = end
        }
        return ranks
    }
}
