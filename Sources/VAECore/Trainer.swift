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
    /// Adam's state. With several ranks only this rank's block of the moments is current
    /// between `collectCheckpoint` calls.
    public private(set) var optimizer: Adam
    /// Optimiser steps completed.
    public private(set) var step: Int
    public private(set) var timings = StepTimings()

    private let images: CircleImages
    private let network: Autoencoder
    /// This rank's share of any global batch (the same at every step).
    private let share: Range<Int>
    private var permutation: EpochPermutation
    /// This rank's gradient (scaled by 1 / global batch).
    private var gradient: [Float]
    /// The parameters cut into one block per rank: each rank sums, checks and updates only its
    /// own block (with Adam moments for it alone current), then the blocks are gathered.
    private let blocks: BlockPartition
    private let ownBlock: Range<Int>
    /// The summed gradient of this rank's block (with several ranks).
    private var blockGradient: [Float]
    /// Reconstruction, KL and a non-finite flag, summed over ranks in one small allreduce.
    private var terms: [Double] = [0, 0, 0]
    /// Whether the Adam moments outside this rank's block are current (see `collectCheckpoint`).
    private var momentsGathered = true
    private var batch: [Float]
    private var noise: [Float]

    /// A fresh run (parameters from the seed) or, with `resuming`, the state of a checkpoint.
    /// Parameters are broadcast from rank 0 so that every rank starts from the same bytes.
    public init(
        configuration: TrainingConfiguration, communicator: Communicator,
        resuming checkpoint: Checkpoint? = nil
    ) throws {
        try configuration.validate(ranks: communicator.size)
        self.configuration = configuration
        self.communicator = communicator
        layout = NetworkLayout(configuration.model)
        images = CircleImages(configuration.images)
        share = communicator.share(of: configuration.batchSize)
        let capacity = max(1, share.count)
        network = Autoencoder(layout: layout, loss: configuration.loss, capacity: capacity)
        permutation = EpochPermutation(count: configuration.images.count)
        gradient = [Float](repeating: 0, count: layout.parameterCount)
        blocks = BlockPartition(count: layout.parameterCount, ranks: communicator.size)
        ownBlock = blocks.range(of: communicator.rank)
        blockGradient = [Float](repeating: 0, count: communicator.size > 1 ? ownBlock.count : 0)
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
            optimizer = Adam(
                configuration: configuration.optimizer,
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
        let inverseBatch = 1 / Float(configuration.batchSize)

        var clock = Stopwatch()
        batch.withUnsafeMutableBufferPointer { x in
            noise.withUnsafeMutableBufferPointer { e in
                for (row, slot) in share.enumerated() {
                    let index = Int(permutation.order[batchStart + slot])
                    images.render(
                        index,
                        into: UnsafeMutableBufferPointer(
                            rebasing: x[(row * pixels)..<((row + 1) * pixels)]))
                    var rng = SplitMix64(
                        seed: SplitMix64.hash(
                            configuration.seed, .noise,
                            UInt64(step), UInt64(index)))
                    for j in 0..<latentDim { e[row * latentDim + j] = Float(rng.nextGaussian()) }
                }
            }
        }
        timings.render += clock.lap()

        gradient.withUnsafeMutableBufferPointer { g in
            batch.withUnsafeBufferPointer { x in
                parameters.withUnsafeBufferPointer { p in
                    let sums = noise.withUnsafeBufferPointer { e in
                        network.forward(
                            input: x.baseAddress!, count: count, noise: e.baseAddress!,
                            parameters: p.baseAddress!, scale: inverseBatch)
                    }
                    timings.forward += clock.lap()
                    let kl = network.backward(
                        input: x.baseAddress!, count: count,
                        parameters: p.baseAddress!,
                        gradient: g.baseAddress!, scale: inverseBatch)
                    timings.backward += clock.lap()
                    terms[0] = sums.reconstruction / Double(configuration.batchSize)
                    terms[1] = kl / Double(configuration.batchSize)
                }
            }
        }

        // Sum the gradient, leaving each rank its own block; agree on the loss and on whether
        // any block holds a non-finite value, so every rank stops at the same step.
        let several = communicator.size > 1
        if several {
            try gradient.withUnsafeBufferPointer { g in
                try blockGradient.withUnsafeMutableBufferPointer { b in
                    try communicator.reduceScatterSum(
                        g.baseAddress!, into: b.baseAddress!,
                        blocks: blocks)
                }
            }
        }
        let finite =
            several
            ? Trainer.allFinite(blockGradient, range: 0..<blockGradient.count)
            : Trainer.allFinite(gradient, range: ownBlock)
        terms[2] = finite ? 0 : 1
        try terms.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        timings.allreduce += clock.lap()

        let reconstruction = terms[0], kl = terms[1]
        let loss =
            configuration.model.kind == .vae
            ? reconstruction + Double(configuration.loss.beta) * kl : reconstruction
        guard loss.isFinite, terms[2] == 0 else {
            throw TrainingError.nonFiniteLoss(step: step + 1)
        }
        // Alone, the own block is everything and the local gradient is already the sum.
        parameters.withUnsafeMutableBufferPointer { p in
            (several ? blockGradient : gradient).withUnsafeBufferPointer { g in
                optimizer.update(p.baseAddress!, gradient: g.baseAddress!, range: ownBlock)
            }
        }
        momentsGathered = !several
        timings.optimizer += clock.lap()
        if several {
            try parameters.withUnsafeMutableBufferPointer {
                try communicator.allgather($0.baseAddress!, blocks: blocks)
            }
            timings.allreduce += clock.lap()
        }
        timings.steps += 1
        step += 1
        return StepReport(
            step: step, epoch: epoch, reconstruction: reconstruction, kl: kl,
            loss: loss)
    }

    public func resetTimings() { timings = StepTimings() }

    /// The state to save: configuration, step, parameters and Adam moments.
    ///
    /// Collective: every rank must call it at the same step, because with several ranks each
    /// holds current Adam moments for its own block only, and they are gathered here.
    public func collectCheckpoint() throws -> Checkpoint {
        if !momentsGathered {
            try optimizer.firstMoment.withUnsafeMutableBufferPointer {
                try communicator.allgather($0.baseAddress!, blocks: blocks)
            }
            try optimizer.secondMoment.withUnsafeMutableBufferPointer {
                try communicator.allgather($0.baseAddress!, blocks: blocks)
            }
            momentsGathered = true
        }
        return Checkpoint(
            configuration: configuration, step: step, parameters: parameters,
            optimizer: optimizer)
    }

    /// True when no element of `values[range]` is infinite or NaN.
    static func allFinite(_ values: [Float], range: Range<Int>) -> Bool {
        values.withUnsafeBufferPointer { v in
            // x * 0 is 0 for finite x and NaN otherwise; a running sum keeps the NaN.
            let width = FloatVector.scalarCount
            var lanes = FloatVector()
            var k = range.lowerBound
            while k + width <= range.upperBound {
                lanes += FloatVector.load(v.baseAddress! + k) * 0
                k += width
            }
            var probe = lanes.sum()
            while k < range.upperBound {
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
