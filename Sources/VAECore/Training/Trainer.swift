import Foundation

/// Why training stopped early.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFiniteLoss(step: Int)
    /// A gradient that may be non-finite, or overflow when summed (see `Trainer`).
    case nonFiniteGradient(step: Int)
    case configurationMismatch(String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step): return "non-finite loss at step \(step)"
        case .nonFiniteGradient(let step): return "non-finite or overflowing gradient at step \(step)"
        case .configurationMismatch(let what): return what
        }
    }
}

/// Data-parallel training of one model over ranks (processes) and, inside each rank, worker
/// threads: every worker computes the gradient of its share of the global batch, the shares
/// are summed, and every parameter gets the same Adam update everywhere.
///
/// The global batch of step s is the slice [s B, (s+1) B) of the epoch's permutation; each rank
/// takes a contiguous share of it and each worker a contiguous share of that. Image i is
/// rendered from (image seed, i) and its noise drawn from (seed, step, i), so the result does
/// not depend on how the work is split.
///
/// A step (`runStep`, every worker alike): render, forward, the loss terms that need the whole
/// batch, backward, the summed loss terms, the gradient exchange (`GradientExchange`), ZeRO-1
/// Adam on the worker's block, and the blocks handed back.
///
/// The loss terms and a bound on every worker's gradient magnitudes are summed over workers and
/// ranks (one small allreduce) before the gradients: when the loss is not finite, or the
/// gradients could sum past the float range (`summableLimit`), every rank stops before any
/// parameter changes. Knowing this first lets Adam sum the gradients itself, in the same pass.
///
/// Objectives other than the ELBO need the global batch between the forward and the backward
/// pass, so they add one small collective there (the ELBO's step has none): the capacity
/// objective sums the batch's KL over workers and ranks (one value) to know the sign of
/// KL - C; beta-TCVAE gathers every sample's (mean, log-variance, z), 3 x latent floats each,
/// so that every worker evaluates the total correlation of the whole batch in the same order
/// and adds its gradient by its own rows (`TotalCorrelation`). Ada-GVAE couples only the two
/// images of a pair, which every split keeps on one worker, so it needs no collective.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let communicator: Communicator
    public let layout: NetworkLayout
    /// Worker threads in this rank.
    public let threads: Int
    /// Adam's state. With several ranks only this rank's block of the moments is current
    /// between `collectCheckpoint` calls.
    public private(set) var optimizer: Adam
    /// Optimiser steps completed.
    public private(set) var step: Int
    /// Where worker 0's time went (every worker waits for the slowest at each barrier).
    public private(set) var timings = StepTimings()
    /// True when the ranks sum gradients in shared memory rather than by message.
    public let usesSharedMemory: Bool

    private let images: CircleImages
    /// Ada-GVAE's pairs of images (nil for other objectives): the permutation then orders
    /// pairs, and every split of the batch falls between pairs.
    private let pairs: CirclePairs?
    private var permutation: EpochPermutation
    let workers: [TrainingWorker]
    private let exchange: GradientExchange
    let sync: StepSync
    /// This rank's parameters in place (for `parameterDigest` too, which must not copy them).
    var parameterPointer: UnsafeMutablePointer<Float> { exchange.parameters(worker: 0, step: step) }
    /// The parameters cut into one block per rank (for gathering the Adam moments).
    private let blocks: BlockPartition
    /// Reconstruction, KL, the bounds on the workers' gradient magnitudes and the KL of each
    /// latent, summed over workers then ranks (`summedTermCount` values).
    let terms: UnsafeMutablePointer<Double>
    /// Reconstruction, KL, bound, then one KL per latent.
    var summedTermCount: Int { 3 + configuration.model.latentDim }
    /// Whether the Adam moments outside this rank's block are current (see `collectCheckpoint`).
    private var momentsGathered = true
    /// beta-TCVAE: the global batch's (mu | lv | z) rows [batch, 3 latent], each worker writing
    /// its own and the ranks gathering the rest (`statisticBlocks`); nil for other objectives.
    let batchStatistics: UnsafeMutablePointer<Float>?
    /// Each rank's rows of `batchStatistics`.
    let statisticBlocks: BlockPartition
    /// The capacity objective: the global batch's summed KL, known before the backward pass.
    let batchKL: UnsafeMutablePointer<Double>
    /// beta-TCVAE: the last step's total-correlation estimate (worker 0's, the same on all).
    var stepTotalCorrelation = 0.0
    /// What the workers read during a step, set by `trainStep`.
    private var stepInputs: StepInputs?
    /// The workers' part of a step, made once: a closure made per step would allocate.
    private var stepBody: (Int) -> Void = { _ in }

    private struct StepInputs {
        let order: UnsafeBufferPointer<Int32>
        let update: Adam.Step
        let firstMoment: UnsafeMutablePointer<Float>
        let secondMoment: UnsafeMutablePointer<Float>
    }

    /// A fresh run (parameters from the seed) or, with `resuming`, the state of a checkpoint.
    /// Every rank starts from rank 0's parameters.
    ///
    /// - Parameters:
    ///   - threads: worker threads in this rank, each running its matrix products on its own
    ///     thread.
    ///   - sharedMemory: sum in shared memory when the ranks share a machine (false forces
    ///     messages, to compare the two).
    public init(
        configuration: TrainingConfiguration, communicator: Communicator, threads: Int = 1,
        sharedMemory: Bool = true, resuming checkpoint: Checkpoint? = nil
    ) throws {
        try configuration.validate(ranks: communicator.size)
        precondition(threads >= 1, "a trainer needs at least one thread")
        self.configuration = configuration
        self.communicator = communicator
        self.threads = threads
        terms = .allocate(capacity: 3 + configuration.model.latentDim)
        batchKL = .allocate(capacity: 1)
        let rowWidth = 3 * configuration.model.latentDim
        batchStatistics =
            configuration.loss.objective == .betaTCVAE
            ? alignedFloats(configuration.batchSize * rowWidth) : nil
        statisticBlocks = BlockPartition(
            sizes: (0..<communicator.size).map {
                contiguousShare(of: configuration.batchSize, rank: $0, size: communicator.size).count
                    * rowWidth
            })
        layout = NetworkLayout(configuration.model)
        images = CircleImages(configuration.images)
        pairs =
            configuration.loss.objective == .adaGVAE
            ? CirclePairs(configuration.images, changes: configuration.loss.pairChanges) : nil
        permutation = EpochPermutation(count: pairs?.count ?? configuration.images.count)
        let count = layout.parameterCount
        let (rank, ranks) = (communicator.rank, communicator.size)
        blocks = BlockPartition(count: count, ranks: ranks)

        // Collective: every rank gets the same answer, so all take the same path.
        if ranks == 1 {
            exchange = SharedMemoryExchange(
                memory: LocalFloats(count: 2 * threads * count), shared: false, rank: 0, ranks: 1,
                threads: threads, count: count)
        } else if sharedMemory, let memory = try communicator.allocateShared(count: 2 * threads * count) {
            exchange = SharedMemoryExchange(
                memory: memory, shared: true, rank: rank, ranks: ranks, threads: threads, count: count)
        } else {
            exchange = MessageExchange(
                communicator: communicator, blocks: blocks, threads: threads, count: count)
        }
        usesSharedMemory = exchange is SharedMemoryExchange

        // Shares in whole pairs for Ada-GVAE: a pair's two images meet in one forward pass.
        let unit = pairs == nil ? 1 : 2
        let rankShare = contiguousShare(of: configuration.batchSize / unit, rank: rank, size: ranks)
        let rankBlock = blocks.range(of: rank)
        let pieces = BlockPartition(count: rankBlock.count, ranks: threads)
        workers = (0..<threads).map { [layout] w in
            let pairShare = contiguousShare(of: rankShare.count, rank: w, size: threads)
            let first = rankShare.lowerBound + pairShare.lowerBound
            let share = (first * unit)..<((first + pairShare.count) * unit)
            let piece = pieces.range(of: w)
            return TrainingWorker(
                share: share,
                block: (rankBlock.lowerBound + piece.lowerBound)..<(rankBlock.lowerBound + piece.upperBound),
                layout: layout, configuration: configuration)
        }
        sync = StepSync(team: WorkerTeam(size: threads), communicator: communicator)

        if let checkpoint {
            guard checkpoint.configuration.model == configuration.model else {
                throw TrainingError.configurationMismatch(
                    "the checkpoint's model differs from the requested one")
            }
            optimizer = checkpoint.optimizer
            step = checkpoint.step
        } else {
            optimizer = Adam(configuration: configuration.optimizer, parameterCount: count)
            step = 0
        }
        let initial = checkpoint?.parameters ?? layout.initialParameters(seed: configuration.seed)
        let parameterPointer = exchange.parameters(worker: 0, step: step)
        parameterPointer.update(from: initial, count: count)
        stepBody = { [unowned self] w in runStep(worker: w, inputs: stepInputs!) }
        try communicator.broadcast(
            UnsafeMutableRawBufferPointer(start: parameterPointer, count: count * 4), root: 0)
        for w in 1..<threads where exchange.parameters(worker: w, step: step) != parameterPointer {
            exchange.parameters(worker: w, step: step).update(from: parameterPointer, count: count)
        }
    }

    deinit {
        terms.deallocate()
        batchKL.deallocate()
        batchStatistics.map { free($0) }
    }

    public var epoch: Int { step / configuration.stepsPerEpoch }
    public var isFinished: Bool { step >= configuration.totalSteps }

    /// A copy of the current parameters.
    public var parameters: [Float] {
        Array(UnsafeBufferPointer(start: parameterPointer, count: layout.parameterCount))
    }

    /// One optimiser step on the next global batch.
    ///
    /// - Throws: `TrainingError.nonFiniteLoss` or `.nonFiniteGradient` (on every rank alike,
    ///   since the checks read the summed values) before the parameters are touched.
    public func trainStep() throws -> StepReport {
        let stepsPerEpoch = configuration.stepsPerEpoch
        let epoch = step / stepsPerEpoch
        if permutation.epoch != epoch { permutation.shuffle(seed: configuration.seed, epoch: epoch) }
        let update = optimizer.constants(forUpdate: optimizer.stepCount + 1)
        terms.update(repeating: 0, count: summedTermCount)
        sync.begin()
        optimizer.withMoments { m, v in
            permutation.order.withUnsafeBufferPointer { order in
                stepInputs = StepInputs(order: order, update: update, firstMoment: m, secondMoment: v)
                sync.team.run(stepBody)
                stepInputs = nil
            }
        }
        timings.communication += sync.communication
        if let failure = sync.failure { throw failure }
        if let problem = summedTermsProblem() { throw problem }
        let batchSize = Double(configuration.batchSize)
        let reconstruction = terms[0] / batchSize, kl = terms[1] / batchSize
        let loss = self.loss(reconstruction: reconstruction, kl: kl, atStep: step)
        var report = StepReport(
            step: step + 1, epoch: epoch, reconstruction: reconstruction, kl: kl, loss: loss)
        switch configuration.loss.objective {
        case .elbo, .adaGVAE: break
        case .capacity: report.capacityTarget = configuration.loss.capacityTarget(atStep: step)
        case .betaTCVAE: report.totalCorrelation = stepTotalCorrelation
        }
        optimizer.stepCount += 1
        momentsGathered = communicator.size == 1
        timings.steps += 1
        step += 1
        return report
    }

    /// Worker `w`'s part of a step, top to bottom. Worker 0 (the calling thread) alone talks to
    /// the other ranks and keeps the timings; a failed collective makes every worker leave at
    /// the next meeting (`StepSync`).
    private func runStep(worker w: Int, inputs: StepInputs) {
        let worker = workers[w]
        var clock = Stopwatch()
        func lap(_ phase: WritableKeyPath<StepTimings, Double>) {
            if w == 0 { timings[keyPath: phase] += clock.lap() }
        }
        let parameters = exchange.parameters(worker: w, step: step)
        let scale = 1 / Float(configuration.batchSize)

        worker.render(
            images, pairs: pairs, order: inputs.order,
            batchStart: (step % configuration.stepsPerEpoch) * configuration.batchSize, step: step,
            blurSigma: configuration.blur.sigma(atStep: step, of: configuration.totalSteps),
            seed: configuration.seed)
        lap(\.render)
        worker.forward(
            parameters: parameters, scale: scale, objective: configuration.loss.objective,
            batchStatistics: batchStatistics)
        lap(\.forward)
        guard let batch = batchTerms(worker: w) else { return }
        lap(\.allreduce)
        worker.backward(
            parameters: parameters, gradient: exchange.gradient(worker: w, step: step), scale: scale,
            klWeight: batch.klWeight, latentTerms: batch.latentTerms)
        lap(\.backward)
        guard sumLossTerms(worker: w) else { return }
        guard exchange.reduce(worker: w, sync: sync) else { return }
        lap(\.allreduce)
        // ZeRO-1: Adam on this worker's block, summing the gradients on the way in.
        exchange.blockGradients(step: step).withUnsafeBufferPointer { gradients in
            Adam.apply(
                inputs.update, parameters: parameters, summing: gradients, m: inputs.firstMoment,
                v: inputs.secondMoment, range: worker.block, output: exchange.adamOutput)
        }
        lap(\.optimizer)
        exchange.handBack(worker: w, sync: sync)
        lap(\.allreduce)
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
}
