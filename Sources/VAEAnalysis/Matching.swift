/// The best one-to-one assignment of factors to distinct latents.
public struct FactorMatching: Hashable, Sendable {
    /// `latentForFactor[k]` is the latent assigned to factor k, or nil when there are more
    /// factors than latents and factor k got none.
    public let latentForFactor: [Int?]
    /// The summed |score| of the assignment.
    public let total: Double

    /// Chooses distinct latents for the factors to maximise sum_k |score[latent][factor k]|,
    /// over every injective assignment (the analysis matches two to four factors). A branch
    /// whose total cannot exceed the best so far, even if every factor left got its best
    /// latent, is skipped: it could at most tie, so the answer is that of the full search, and
    /// hundreds of latents stay fast. Undefined scores (nil) count as 0. Ties keep the first
    /// assignment in lexicographic order of latent indices, so the result is deterministic. With
    /// fewer latents than factors, the factors that fit worst get nil.
    ///
    /// - Parameter scores: [latent][factor].
    public init(scores: [[Double?]]) {
        let latents = scores.count
        let factors = scores.first?.count ?? 0
        var best: [Int?] = Array(repeating: nil, count: factors)
        var bestTotal = -1.0
        var current: [Int?] = []
        var used = Set<Int>()
        // bound[k]: the most factors k..< can add, each with its best latent (the margin covers
        // rounding in a different order of summation).
        var bound = [Double](repeating: 0, count: factors + 1)
        for k in stride(from: factors - 1, through: 0, by: -1) {
            bound[k] = bound[k + 1] + (scores.map { abs($0[k] ?? 0) }.max() ?? 0)
        }
        func search(_ k: Int, _ total: Double) {
            if k == factors {
                if total > bestTotal { bestTotal = total; best = current }
                return
            }
            if total + bound[k] + 1e-9 <= bestTotal { return }
            for j in 0..<latents where !used.contains(j) {
                used.insert(j); current.append(j)
                search(k + 1, total + abs(scores[j][k] ?? 0))
                used.remove(j); current.removeLast()
            }
            // Leaving factor k out only wins when latents run short: ties keep the assignments
            // tried before this one.
            current.append(nil)
            search(k + 1, total)
            current.removeLast()
        }
        search(0, 0)
        latentForFactor = best
        total = max(0, bestTotal)
    }
}
