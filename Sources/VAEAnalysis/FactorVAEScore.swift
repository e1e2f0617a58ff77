import Foundation

/// The FactorVAE score (Kim & Mnih 2018, "Disentangling by factorising"), as disentanglement_lib
/// computes it, with one factor fixed exactly (the data are synthetic):
///
/// 1. Each latent's variance over the full analysis sample (n - 1 in the denominator); latents
///    whose standard deviation is below `pruneThreshold` are collapsed and left out.
/// 2. One vote: pick a factor k at random, draw a batch of circles that all share factor k's
///    value while the other factors vary freely, encode them, and vote (k, j) for the active
///    latent j with the least variance over the batch divided by its full-sample variance.
/// 3. The classifier maps each latent j to the factor with most training votes for it (ties
///    to the lower factor); accuracy = votes that agree with it / all votes, on the training
///    votes and on fresh evaluation votes.
///
/// 1 when fixing each factor freezes its own latent; 1/K (chance) when no latent is tied to one
/// factor. disentanglement_lib indexes its vote by the position among the active latents; this
/// records the latent's own index, which changes no accuracy.
public struct FactorVAEScore: Hashable, Sendable {
    /// disentanglement_lib's defaults: batches of 64, standard deviation threshold 0.05; its
    /// 10,000 training and 5,000 evaluation votes are scaled down so the analysis takes about a
    /// second (see `Settings`).
    public struct Settings: Hashable, Sendable {
        public var batchSize = 64
        public var trainVotes = 300
        public var evalVotes = 200
        public var pruneThreshold = 0.05
        public init() {}
    }

    /// One vote's batch: the factor held fixed and the latent values, [latent][sample].
    public struct Batch: Sendable {
        public let factor: Int
        public let latents: [[Double]]
        public init(factor: Int, latents: [[Double]]) {
            self.factor = factor
            self.latents = latents
        }
    }

    /// Whether each latent's full-sample standard deviation reaches the threshold.
    public let active: [Bool]
    /// Training votes [factor][latent].
    public let trainVotes: [[Int]]
    /// Evaluation votes [factor][latent].
    public let evalVotes: [[Int]]
    /// The factor each latent is classified as.
    public let classifier: [Int]
    public let trainAccuracy: Double
    public let evalAccuracy: Double
    /// The number of factors (chance accuracy is 1 / factorCount).
    public let factorCount: Int

    /// - Parameters:
    ///   - globalVariance: each latent's variance over the full sample.
    ///   - factorCount: K, the number of factors votes may name.
    public init(
        globalVariance: [Double], factorCount: Int, train: [Batch], eval: [Batch],
        pruneThreshold: Double = Settings().pruneThreshold
    ) {
        self.factorCount = factorCount
        active = globalVariance.map { $0.squareRoot() >= pruneThreshold }
        let latents = globalVariance.count
        let active = self.active
        func votes(_ batches: [Batch]) -> [[Int]] {
            var v = [[Int]](repeating: [Int](repeating: 0, count: latents), count: factorCount)
            for batch in batches {
                var best: Int?
                var bestRatio = Double.infinity
                for j in 0..<latents where active[j] {
                    let ratio = Self.variance(batch.latents[j]) / globalVariance[j]
                    // numpy's argmin: the first minimum; NaN wins (it is the minimum numpy sees).
                    if best == nil || ratio < bestRatio || (ratio.isNaN && !bestRatio.isNaN) {
                        best = j
                        bestRatio = ratio
                    }
                }
                if let best { v[batch.factor][best] += 1 }
            }
            return v
        }
        guard active.contains(true) else {
            let none = [[Int]](repeating: [Int](repeating: 0, count: latents), count: factorCount)
            (trainVotes, evalVotes) = (none, none)
            classifier = [Int](repeating: 0, count: latents)
            (trainAccuracy, evalAccuracy) = (0, 0)
            return
        }
        trainVotes = votes(train)
        evalVotes = votes(eval)
        let trainVotes = self.trainVotes
        let classifier = (0..<latents).map { j -> Int in
            var best = 0
            for k in 1..<max(1, factorCount) where trainVotes[k][j] > trainVotes[best][j] { best = k }
            return best
        }
        self.classifier = classifier
        func accuracy(_ v: [[Int]]) -> Double {
            let total = v.joined().reduce(0, +)
            let agreeing = classifier.indices.reduce(0) { $0 + v[classifier[$1]][$1] }
            return total > 0 ? Double(agreeing) / Double(total) : 0
        }
        trainAccuracy = accuracy(trainVotes)
        evalAccuracy = accuracy(evalVotes)
    }

    /// The sample variance with n - 1 in the denominator (numpy's `var`, ddof 1).
    static func variance(_ v: [Double]) -> Double {
        let n = Double(v.count)
        let mean = v.reduce(0, +) / n
        return v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    }
}
