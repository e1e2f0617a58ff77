import Foundation

/// Why training stopped early.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFiniteLoss(step: Int)
    case configurationMismatch(String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step): return "non-finite loss at step \(step)"
        case .configurationMismatch(let what): return what
        }
    }
}

/// The loss of one optimiser step, averaged over the global batch.
public struct StepReport: Sendable {
    /// Optimiser steps completed, counting this one (1-based).
    public var step: Int
    /// Epoch of this step (0-based).
    public var epoch: Int
    public var reconstruction: Double
    public var kl: Double
    /// reconstruction + beta * kl (reconstruction alone for the AE).
    public var loss: Double
}

/// Where the time of the steps went, summed since the last `resetTimings`.
public struct StepTimings: Sendable {
    public var render: Double = 0
    public var forward: Double = 0
    public var backward: Double = 0
    public var allreduce: Double = 0
    public var optimizer: Double = 0
    public var steps: Int = 0
    public var compute: Double { forward + backward }

    public init() {}
    public var total: Double { render + forward + backward + allreduce + optimizer }
}

/// Data-parallel training of one model: every rank holds the same parameters and Adam state,
/// computes the gradient of its share of the global batch, sums it with the others through the
/// `Communicator` and applies the same update.
///
/// The global batch of step s is the slice [s B, (s+1) B) of the epoch's permutation; this rank
/// takes its contiguous share of it. Image i is rendered from (image seed, i) and its noise drawn
/// from (seed, step, i), so the result does not depend on how many ranks share the work.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let communicator: Communicator
    public let layout: NetworkLayout
    public private(set) var parameters: [Float]
    public private(set) var optimizer: Adam
    /// Optimiser steps completed.
    public private(set) var step: Int
    public private(set) var timings = StepTimings()

    private let images: CircleImages
    private let network: Autoencoder
    /// This rank's share of any global batch (the same at every step).
    private let share: Range<Int>
    private var permutation: EpochPermutation
    /// The gradient, followed by the two loss terms, so one allreduce sums both.
    private var gradientAndLoss: [Float]
    private var batch: [Float]
    private var noise: [Float]

    /// A fresh run (parameters from the seed) or, with `resuming`, the state of a checkpoint.
    /// Parameters are broadcast from rank 0 so that every rank starts from the same bytes.
    public init(configuration: TrainingConfiguration, communicator: Communicator,
                resuming checkpoint: Checkpoint? = nil) throws {
        try configuration.validate(ranks: communicator.size)
        self.configuration = configuration
        self.communicator = communicator
        layout = NetworkLayout(configuration.model)
        images = CircleImages(configuration.images)
        share = communicator.share(of: configuration.batchSize)
        let capacity = max(1, share.count)
        network = Autoencoder(layout: layout, loss: configuration.loss, capacity: capacity)
        permutation = EpochPermutation(count: configuration.images.count)
        gradientAndLoss = [Float](repeating: 0, count: layout.parameterCount + 2)
        batch = [Float](repeating: 0, count: capacity * configuration.model.inputSize)
        noise = [Float](repeating: 0, count: capacity * configuration.model.latentDim)
        if let checkpoint {
            guard checkpoint.configuration.model == configuration.model else {
                throw TrainingError.configurationMismatch(
                    "the checkpoint's model differs from the requested one")
            }
            parameters = checkpoint.parameters
            optimizer = checkpoint.optimizer
            step = checkpoint.step
        } else {
            parameters = layout.initialParameters(seed: configuration.seed)
            optimizer = Adam(configuration: configuration.optimizer,
                             parameterCount: layout.parameterCount)
            step = 0
        }
        try parameters.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
    }

    public var epoch: Int { step / configuration.stepsPerEpoch }
    public var isFinished: Bool { step >= configuration.totalSteps }

    /// One optimiser step on the next global batch.
    ///
    /// - Throws: `TrainingError.nonFiniteLoss` (on every rank alike, since the check reads the
    ///   summed values) before the parameters are touched.
    public func trainStep() throws -> StepReport {
        let stepsPerEpoch = configuration.stepsPerEpoch
        let epoch = step / stepsPerEpoch
        if permutation.epoch != epoch { permutation.shuffle(seed: configuration.seed, epoch: epoch) }
        let batchStart = (step % stepsPerEpoch) * configuration.batchSize
        let pixels = configuration.model.inputSize
        let latentDim = configuration.model.latentDim
        let count = share.count
        let parameterCount = layout.parameterCount
        let inverseBatch = 1 / Float(configuration.batchSize)

        var clock = Stopwatch()
        batch.withUnsafeMutableBufferPointer { x in
            noise.withUnsafeMutableBufferPointer { e in
                for (row, slot) in share.enumerated() {
                    let index = Int(permutation.order[batchStart + slot])
                    images.render(index, into: UnsafeMutableBufferPointer(
                        rebasing: x[(row * pixels)..<((row + 1) * pixels)]))
                    var rng = SplitMix64(seed: SplitMix64.hash(configuration.seed, .noise,
                                                               UInt64(step), UInt64(index)))
                    for j in 0..<latentDim { e[row * latentDim + j] = Float(rng.nextGaussian()) }
                }
            }
        }
        timings.render += clock.lap()

        gradientAndLoss.withUnsafeMutableBufferPointer { g in
            guard count > 0 else { return g.update(repeating: 0) }
            batch.withUnsafeBufferPointer { x in
                parameters.withUnsafeBufferPointer { p in
                    let sums = noise.withUnsafeBufferPointer { e in
                        network.forward(input: x.baseAddress!, count: count, noise: e.baseAddress!,
                                        parameters: p.baseAddress!, scale: inverseBatch)
                    }
                    timings.forward += clock.lap()
                    let kl = network.backward(input: x.baseAddress!, count: count,
                                              parameters: p.baseAddress!,
                                              gradient: g.baseAddress!, scale: inverseBatch)
                    timings.backward += clock.lap()
                    g[parameterCount] = Float(sums.reconstruction) * inverseBatch
                    g[parameterCount + 1] = Float(kl) * inverseBatch
                }
            }
        }

        try gradientAndLoss.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        timings.allreduce += clock.lap()

        let reconstruction = Double(gradientAndLoss[parameterCount])
        let kl = Double(gradientAndLoss[parameterCount + 1])
        let loss = configuration.model.kind == .vae
            ? reconstruction + Double(configuration.loss.beta) * kl : reconstruction
        guard loss.isFinite, Trainer.allFinite(gradientAndLoss, count: parameterCount) else {
            throw TrainingError.nonFiniteLoss(step: step + 1)
        }
        parameters.withUnsafeMutableBufferPointer { p in
            gradientAndLoss.withUnsafeBufferPointer { g in
                optimizer.update(p, gradient: UnsafeBufferPointer(rebasing: g[0..<parameterCount]))
            }
        }
        timings.optimizer += clock.lap()
        timings.steps += 1
        step += 1
        return StepReport(step: step, epoch: epoch, reconstruction: reconstruction, kl: kl,
                          loss: loss)
    }

    public func resetTimings() { timings = StepTimings() }

    /// The state to save: configuration, step, parameters and Adam moments.
    public var checkpoint: Checkpoint {
        Checkpoint(configuration: configuration, step: step, parameters: parameters,
                   optimizer: optimizer)
    }

    /// True when no element of the first `count` values is infinite or NaN.
    static func allFinite(_ values: [Float], count: Int) -> Bool {
        values.withUnsafeBufferPointer { v in
            // x * 0 is 0 for finite x and NaN otherwise; a running sum keeps the NaN.
            let width = FloatVector.scalarCount
            var lanes = FloatVector()
            var k = 0
            while k + width <= count {
                lanes += FloatVector.load(v.baseAddress! + k) * 0
                k += width
            }
            var probe = lanes.sum()
            while k < count {
                probe += v[k] * 0
                k += 1
            }
            return probe == 0
        }
    }
}

/// Wall-clock laps for the timing split (CLOCK_MONOTONIC, no allocation).
public struct Stopwatch {
    private var last = Stopwatch.now()

    public init() {}

    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Seconds since the previous lap (or creation).
    public mutating func lap() -> Double {
        let t = Stopwatch.now()
        defer { last = t }
        return t - last
    }
}
