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
/// First the loss terms and a bound on every worker's gradient magnitudes are summed over
/// workers and ranks (one 3-value allreduce): when the loss is not finite, or the gradients
/// could sum past the float range (`summableLimit`), every rank stops before any parameter
/// changes.
/// Knowing this before summing the gradients lets Adam sum them itself, in the same pass.
///
/// Objectives other than the ELBO need the global batch between the forward and the backward
/// pass, so they add one small collective there (the ELBO's step has none): the capacity
/// objective sums the batch's KL over workers and ranks (one value) to know the sign of
/// KL - C; beta-TCVAE gathers every sample's (mean, log-variance, z), 3 x latent floats each,
/// so that every worker evaluates the total correlation of the whole batch in the same order
/// and adds its gradient by its own rows (`TotalCorrelation`).
///
/// The update is ZeRO stage 1 (optimizer-state sharding, Rajbhandari et al. 2020): the
/// parameters are cut into one block per worker (`BlockPartition`), each worker keeps Adam's
/// moments current for its block alone and updates only that block, and the blocks are then
/// handed back to everyone. Every parameter still gets the same update on every rank.
///
/// Summing, in one of two ways:
/// - shared memory (one rank, or ranks on one machine): every worker has two buffers in
///   memory all ranks map, and they swap roles each step: it reads the step's parameters from
///   one and writes its gradient into the other. Each worker updates its block of the
///   parameters with Adam, summing every worker's gradient on the way in a fixed order, and
///   writes the new values over all those gradients (`Adam.Output.overGradients`). So once
///   every worker has written its block, each worker's gradient buffer holds the whole of the
///   next step's parameters: nothing is copied, and no message carries a gradient. The
///   allreduce and a barrier order the phases. (Copying the blocks instead cost 2-7 % of the
///   step at two ranks, and the exchange buffer that more ranks copied them through kept 4 MB
///   more in the caches: docs/performance.md.)
/// - messages (ranks on several machines): workers sum their rank's gradients, one
///   `reduceScatter` gives each rank its block of the total, and after the update an
///   `allgather` hands the blocks back to every rank.
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
    private var permutation: EpochPermutation
    private let team: WorkerTeam
    private let workers: [Worker]
    /// With messages: this rank's parameters, which its workers share.
    private let parameterMemory: LocalFloats?
    /// The workers' buffers: with shared memory two per worker (see `Worker`), else one.
    private let bufferMemory: SharedFloats
    /// This rank's parameters in place (for `parameterDigest` too, which must not copy them).
    var parameterPointer: UnsafeMutablePointer<Float> { workers[0].parameters(atStep: step) }
    /// With messages: this rank's workers' gradients.
    private let rankGradients: [UnsafeMutablePointer<Float>]
    /// What Adam sums at even and odd steps, indexed by parameter number: with shared memory
    /// every worker's gradient of that step (which Adam then overwrites with the parameters),
    /// else this rank's block of the summed gradient.
    private let adamGradients: [[UnsafeMutablePointer<Float>]]
    /// The parameters cut into one block per rank (for gathering the Adam moments, and for
    /// `reduceScatter` when summing by message).
    private let blocks: BlockPartition
    /// With messages: this rank's block of the summed gradient.
    private let blockGradient: UnsafeMutablePointer<Float>
    /// Reconstruction, KL, the bounds on the workers' gradient magnitudes and the KL of each
    /// latent, summed over workers then ranks (`summedTermCount` values); then a flag that
    /// tells every worker to abandon the step (a failed collective on worker 0).
    private let terms: UnsafeMutablePointer<Double>
    /// Reconstruction, KL, bound, then one KL per latent.
    private var summedTermCount: Int { 3 + configuration.model.latentDim }
    /// Where in `terms` the abandon flag sits.
    private var abandonFlag: Int { summedTermCount }
    /// Whether the Adam moments outside this rank's block are current (see `collectCheckpoint`).
    private var momentsGathered = true
    private var failure: Error?
    /// beta-TCVAE: the global batch's (mu | lv | z) rows [batch, 3 latent], each worker writing
    /// its own and the ranks gathering the rest (`statisticBlocks`); nil for other objectives.
    private let batchStatistics: UnsafeMutablePointer<Float>?
    /// Each rank's rows of `batchStatistics`.
    private let statisticBlocks: BlockPartition
    /// The capacity objective: the global batch's summed KL, known before the backward pass.
    private let batchKL: UnsafeMutablePointer<Double>
    /// beta-TCVAE: the last step's total-correlation estimate (worker 0's, the same on all).
    private var stepTotalCorrelation = 0.0
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

    /// One worker thread's share of the step and the memory it owns.
    private final class Worker {
        /// Positions in the global batch this worker computes.
        let share: Range<Int>
        /// The parameters this worker sums and updates.
        let block: Range<Int>
        /// With messages: the part of the rank's gradient this worker sums over its workers.
        let slice: Range<Int>
        /// Where step s reads its parameters (`.0` at even steps, `.1` at odd ones). With shared
        /// memory they alternate between the worker's two buffers, the other one taking the
        /// step's gradient (`gradients`), and every worker's Adam writes its block of the new
        /// parameters over that gradient. So each worker has its own copy of the parameters,
        /// written by all. (One copy per rank that its workers update in place made Adam up to
        /// twice as slow in some hours: docs/performance.md.) With messages the rank's workers
        /// share the rank's copy and each keeps one gradient.
        private let parameters: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
        /// Where step s writes its gradient (see `parameters`).
        private let gradients: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
        let network: Autoencoder
        let batch: UnsafeMutablePointer<Float>
        let noise: UnsafeMutablePointer<Float>
        /// Blurs the rendered images (`TrainingConfiguration.blur`).
        let blur: GaussianBlur
        /// beta-TCVAE: the estimator, and the gradient of the TC term by this worker's rows
        /// [share, 3 latent] that its backward pass adds.
        let totalCorrelation: TotalCorrelation?
        let latentTerms: UnsafeMutablePointer<Float>?
        var reconstruction = 0.0
        var kl = 0.0
        /// See `BackwardSums.gradientBound`.
        var gradientBound = 0.0

        init(
            share: Range<Int>, block: Range<Int>, slice: Range<Int>,
            parameters: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
            gradients: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
            layout: NetworkLayout, loss: LossConfiguration, images: ImageConfiguration, blur: BlurSchedule,
            batchSize: Int
        ) {
            self.share = share
            self.block = block
            self.slice = slice
            self.parameters = parameters
            self.gradients = gradients
            let capacity = max(1, share.count)
            network = Autoencoder(layout: layout, loss: loss, capacity: capacity)
            batch = alignedFloats(capacity * layout.model.inputSize)
            noise = alignedFloats(capacity * layout.model.latentDim)
            self.blur = GaussianBlur(side: images.side, maxSigma: blur.sigma)
            let coupled = loss.objective == .betaTCVAE
            let l = layout.model.latentDim
            totalCorrelation =
                coupled ? TotalCorrelation(batchSize: batchSize, latentDim: l, datasetSize: images.count) : nil
            latentTerms = coupled ? alignedFloats(capacity * 3 * l) : nil
        }

        deinit {
            free(batch)
            free(noise)
            latentTerms.map { free($0) }
        }

        func parameters(atStep s: Int) -> UnsafeMutablePointer<Float> {
            s % 2 == 0 ? parameters.0 : parameters.1
        }

        func gradient(atStep s: Int) -> UnsafeMutablePointer<Float> {
            s % 2 == 0 ? gradients.0 : gradients.1
        }
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
        terms = .allocate(capacity: 4 + configuration.model.latentDim)
        batchKL = .allocate(capacity: 1)
        let rowWidth = 3 * configuration.model.latentDim
        batchStatistics =
            configuration.loss.objective == .betaTCVAE
            ? alignedFloats(configuration.batchSize * rowWidth) : nil
        statisticBlocks = BlockPartition(
            sizes: (0..<communicator.size).map {
                contiguousShare(of: configuration.batchSize, rank: $0, size: communicator.size).count * rowWidth
            })
        layout = NetworkLayout(configuration.model)
        images = CircleImages(configuration.images)
        permutation = EpochPermutation(count: configuration.images.count)
        let count = layout.parameterCount
        let (rank, ranks) = (communicator.rank, communicator.size)
        blocks = BlockPartition(count: count, ranks: ranks)

        // Collective: every rank gets the same answer, so all take the same path.
        let shared =
            ranks > 1 && sharedMemory ? try communicator.allocateShared(count: 2 * threads * count) : nil
        usesSharedMemory = shared != nil || ranks == 1
        let buffersPerWorker = usesSharedMemory ? 2 : 1
        let bufferMemory = shared ?? LocalFloats(count: buffersPerWorker * threads * count)
        self.bufferMemory = bufferMemory
        let ownBuffers = bufferMemory.segment(of: shared == nil ? 0 : rank)
        ownBuffers.update(repeating: 0, count: buffersPerWorker * threads * count)
        /// With shared memory: buffer `b` (0 or 1) of worker `w` of rank `r`.
        func buffer(rank r: Int, worker w: Int, _ b: Int) -> UnsafeMutablePointer<Float> {
            bufferMemory.segment(of: shared == nil ? 0 : r) + (2 * w + b) * count
        }
        let parameterMemory = usesSharedMemory ? nil : LocalFloats(count: count)
        self.parameterMemory = parameterMemory
        rankGradients = usesSharedMemory ? [] : (0..<threads).map { ownBuffers + $0 * count }
        blockGradient = alignedFloats(usesSharedMemory ? 0 : blocks.range(of: rank).count)
        let (blockGradient, blocks, usesSharedMemory) = (blockGradient, blocks, usesSharedMemory)
        adamGradients = (0..<2).map { b in
            usesSharedMemory
                ? (0..<ranks).flatMap { r in (0..<threads).map { w in buffer(rank: r, worker: w, b) } }
                : [blockGradient - blocks.range(of: rank).lowerBound]
        }

        let rankShare = communicator.share(of: configuration.batchSize)
        let layout = layout
        let slices = BlockPartition(count: count, ranks: threads)
        workers = (0..<threads).map { w in
            let share = contiguousShare(of: rankShare.count, rank: w, size: threads)
            let rankBlock = blocks.range(of: rank)
            let piece = BlockPartition(count: rankBlock.count, ranks: threads).range(of: w)
            let (parameters, gradients) =
                if let parameterMemory {
                    (
                        (parameterMemory.segment(of: 0), parameterMemory.segment(of: 0)),
                        (ownBuffers + w * count, ownBuffers + w * count)
                    )
                } else {
                    (
                        (buffer(rank: rank, worker: w, 1), buffer(rank: rank, worker: w, 0)),
                        (buffer(rank: rank, worker: w, 0), buffer(rank: rank, worker: w, 1))
                    )
                }
            return Worker(
                share: (rankShare.lowerBound + share.lowerBound)..<(rankShare.lowerBound + share.upperBound),
                block: (rankBlock.lowerBound + piece.lowerBound)..<(rankBlock.lowerBound + piece.upperBound),
                slice: slices.range(of: w), parameters: parameters, gradients: gradients,
                layout: layout, loss: configuration.loss, images: configuration.images,
                blur: configuration.blur, batchSize: configuration.batchSize)
        }
        team = WorkerTeam(size: threads)

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
        let parameterPointer = workers[0].parameters(atStep: step)
        parameterPointer.update(from: initial, count: count)
        stepBody = { [unowned self] w in runStep(worker: w, inputs: stepInputs!) }
        try communicator.broadcast(
            UnsafeMutableRawBufferPointer(start: parameterPointer, count: count * 4), root: 0)
        for worker in workers where worker.parameters(atStep: step) != parameterPointer {
            worker.parameters(atStep: step).update(from: parameterPointer, count: count)
        }
    }

    deinit {
        free(blockGradient)
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
        terms.update(repeating: 0, count: summedTermCount + 1)
        failure = nil
        optimizer.withMoments { m, v in
            permutation.order.withUnsafeBufferPointer { order in
                stepInputs = StepInputs(order: order, update: update, firstMoment: m, secondMoment: v)
                team.run(stepBody)
                stepInputs = nil
            }
        }
        if let failure { throw failure }
        if let problem = summedTermsProblem() { throw problem }
        let batchSize = Double(configuration.batchSize)
        let reconstruction = terms[0] / batchSize, kl = terms[1] / batchSize
        let loss = self.loss(reconstruction: reconstruction, kl: kl, atStep: step)
        var report = StepReport(step: step + 1, epoch: epoch, reconstruction: reconstruction, kl: kl, loss: loss)
        switch configuration.loss.objective {
        case .elbo: break
        case .capacity: report.capacityTarget = configuration.loss.capacityTarget(atStep: step)
        case .betaTCVAE: report.totalCorrelation = stepTotalCorrelation
        }
        optimizer.stepCount += 1
        momentsGathered = communicator.size == 1
        timings.steps += 1
        step += 1
        return report
    }

    /// Worker `w`'s part of a step. Worker 0 (the calling thread) alone talks to the other
    /// ranks and keeps the timings.
    private func runStep(
        worker w: Int, inputs: StepInputs
    ) {
        let worker = workers[w]
        let lead = w == 0
        let several = communicator.size > 1
        var clock = Stopwatch()
        // Worker 0's phase time.
        func lap(_ phase: WritableKeyPath<StepTimings, Double>) {
            if lead { timings[keyPath: phase] += clock.lap() }
        }
        // A barrier or a collective: its time (waiting for the others, and moving messages)
        // is also counted apart, in `timings.communication`.
        func communicate(_ body: () throws -> Void) {
            let start = lead ? Stopwatch.now() : 0
            do { try body() } catch {
                failure = error
                terms[abandonFlag] = 1
            }
            if lead { timings.communication += Stopwatch.now() - start }
        }
        // A barrier, then whether to go on: false once a collective has failed (every worker
        // must still pass the same barriers, so they leave together).
        func everyone() -> Bool {
            communicate { team.barrier() }
            return terms[abandonFlag] == 0
        }
        // The same across ranks too: every worker of every rank has got here.
        func everyoneOnEveryRank() -> Bool {
            communicate { team.barrier() }
            if several, lead { communicate { try communicator.barrier() } }
            return everyone()
        }

        computeForward(worker, order: inputs.order, clock: &clock, lead: lead)
        // What the backward pass needs from the whole batch (nothing for the ELBO).
        var klWeight = configuration.loss.klWeight(atStep: step)
        var latentTerms: UnsafePointer<Float>? = nil
        switch configuration.loss.objective {
        case .elbo: break
        case .capacity:
            communicate { team.barrier() }
            if lead {
                batchKL[0] = workers.reduce(0) { $0 + $1.kl }
                if several {
                    communicate {
                        try communicator.allreduceSum(UnsafeMutableBufferPointer(start: batchKL, count: 1))
                    }
                }
            }
            guard everyone() else { return }
            lap(\.allreduce)
            klWeight = configuration.loss.capacityWeight(
                meanKL: batchKL[0] / Double(configuration.batchSize), atStep: step)
        case .betaTCVAE:
            guard let batchStatistics, let estimator = worker.totalCorrelation,
                let terms = worker.latentTerms
            else { preconditionFailure("beta-TCVAE without its buffers") }
            communicate { team.barrier() }
            if lead, several {
                communicate { try communicator.allgather(batchStatistics, blocks: statisticBlocks) }
            }
            guard everyone() else { return }
            lap(\.allreduce)
            if worker.share.count > 0 {
                let tc = estimator.evaluate(batchStatistics)
                if lead { stepTotalCorrelation = tc }
                estimator.gradient(
                    rows: worker.share, scale: configuration.loss.totalCorrelationWeight(atStep: step),
                    into: terms)
                latentTerms = UnsafePointer(terms)
            }
        }
        computeBackward(worker, klWeight: klWeight, latentTerms: latentTerms, clock: &clock, lead: lead)
        // With shared memory the allreduce also orders memory: after it every rank's gradients
        // are complete and visible.
        communicate { team.barrier() }
        if lead {
            for other in workers {
                terms[0] += other.reconstruction
                terms[1] += other.kl
                terms[2] += other.gradientBound
                guard other.share.count > 0 else { continue }
                for (j, kl) in other.network.klPerLatent.enumerated() { terms[3 + j] += kl }
            }
            communicate {
                try communicator.allreduceSum(
                    UnsafeMutableBufferPointer(start: terms, count: summedTermCount))
            }
        }
        guard everyone() else { return }
        lap(\.allreduce)
        // The same test as `trainStep` makes afterwards.
        guard summedTermsProblem() == nil else { return }

        if !usesSharedMemory {
            sum(rankGradients, into: rankGradients[0], over: worker.slice)
            communicate { team.barrier() }
            if lead {
                communicate {
                    try communicator.reduceScatterSum(
                        rankGradients[0], into: blockGradient, blocks: blocks)
                }
            }
            guard everyone() else { return }
            lap(\.allreduce)
        }
        adamGradients[step % 2].withUnsafeBufferPointer { gradients in
            Adam.apply(
                inputs.update, parameters: worker.parameters(atStep: step), summing: gradients,
                m: inputs.firstMoment, v: inputs.secondMoment, range: worker.block,
                output: usesSharedMemory ? .overGradients : .inPlace)
        }
        lap(\.optimizer)
        if several {
            if usesSharedMemory {
                // The next step reads what every worker of every rank has written.
                guard everyoneOnEveryRank() else { return }
            } else {
                communicate { team.barrier() }
                if lead { communicate { try communicator.allgather(parameterPointer, blocks: blocks) } }
            }
            lap(\.allreduce)
        }
        // Otherwise the end of `team.run` is the only barrier needed before the next forward.
    }

    /// The objective's value at optimiser step `step` (0-based) for the VAE
    /// (`LossConfiguration.objectiveValue`), the reconstruction alone for the AE.
    private func loss(reconstruction: Double, kl: Double, atStep step: Int) -> Double {
        configuration.model.kind == .vae
            ? configuration.loss.objectiveValue(
                reconstruction: reconstruction, kl: kl, totalCorrelation: stepTotalCorrelation, atStep: step)
            : reconstruction
    }

    /// The mean KL of each latent over the global batch of the last step (0 before any).
    public var lastStepKLPerLatent: [Double] {
        guard step > 0 else { return Array(repeating: 0, count: configuration.model.latentDim) }
        return (0..<configuration.model.latentDim).map { terms[3 + $0] / Double(configuration.batchSize) }
    }

    /// Why the step must stop before any parameter changes, read from the summed `terms` (the
    /// same on every worker of every rank): a non-finite loss, or gradients whose bounds could
    /// let their sum overflow.
    private func summedTermsProblem() -> TrainingError? {
        if !loss(reconstruction: terms[0], kl: terms[1], atStep: step).isFinite {
            return .nonFiniteLoss(step: step + 1)
        }
        if !(terms[2] <= Trainer.summableLimit) { return .nonFiniteGradient(step: step + 1) }
        return nil
    }

    /// How large the bounds on the workers' gradient magnitudes may sum to: below it, no partial
    /// sum of the workers' gradients, in any order, can overflow a float (half the range leaves
    /// room for rounding). A gradient that may hold a NaN or infinity has an infinite bound, so
    /// the step stops whenever a summed gradient could be non-finite (and, the bound being
    /// conservative, for some finite gradients near the top of the float range too).
    static let summableLimit = Double(Float.greatestFiniteMagnitude) / 2

    /// Renders the worker's images and runs the forward pass; for objectives that couple the
    /// batch, leaves what the others need: its summed KL (capacity) or its rows of
    /// `batchStatistics` (beta-TCVAE).
    private func computeForward(
        _ worker: Worker, order: UnsafeBufferPointer<Int32>, clock: inout Stopwatch, lead: Bool
    ) {
        let count = worker.share.count
        guard count > 0 else {
            (worker.reconstruction, worker.kl) = (0, 0)
            return
        }
        let pixels = configuration.model.inputSize
        let latentDim = configuration.model.latentDim
        let batchStart = (step % configuration.stepsPerEpoch) * configuration.batchSize
        let blurSigma = configuration.blur.sigma(atStep: step, of: configuration.totalSteps)
        for (row, slot) in worker.share.enumerated() {
            let index = Int(order[batchStart + slot])
            images.render(
                index, into: UnsafeMutableBufferPointer(start: worker.batch + row * pixels, count: pixels))
            worker.blur.apply(sigma: blurSigma, to: worker.batch + row * pixels)
            var rng = SplitMix64(
                seed: SplitMix64.hash(configuration.seed, .noise, UInt64(step), UInt64(index)))
            for j in 0..<latentDim { worker.noise[row * latentDim + j] = Float(rng.nextGaussian()) }
        }
        if lead { timings.render += clock.lap() }
        let sums = worker.network.forward(
            input: worker.batch, count: count, noise: worker.noise,
            parameters: worker.parameters(atStep: step), scale: 1 / Float(configuration.batchSize))
        worker.reconstruction = sums.reconstruction
        switch configuration.loss.objective {
        case .elbo: break
        case .capacity: worker.kl = worker.network.summedKL(count: count)
        case .betaTCVAE:
            if let batchStatistics {
                worker.network.latentStatistics(
                    count: count,
                    into: batchStatistics + worker.share.lowerBound * 3 * latentDim)
            }
        }
        if lead { timings.forward += clock.lap() }
    }

    /// The backward pass into the worker's gradient, with the KL weighted by `klWeight` and
    /// `latentTerms` (see `Autoencoder.backward`) added.
    private func computeBackward(
        _ worker: Worker, klWeight: Float, latentTerms: UnsafePointer<Float>?, clock: inout Stopwatch,
        lead: Bool
    ) {
        let count = worker.share.count
        guard count > 0 else {
            // Nothing to compute (a batch smaller than the workers), but the reduction may
            // have written into this gradient: it must be 0 again.
            worker.gradientBound = 0
            worker.gradient(atStep: step).update(repeating: 0, count: layout.parameterCount)
            return
        }
        let backward = worker.network.backward(
            input: worker.batch, count: count, parameters: worker.parameters(atStep: step),
            gradient: worker.gradient(atStep: step), scale: 1 / Float(configuration.batchSize),
            klWeight: klWeight, latentTerms: latentTerms)
        worker.kl = backward.kl
        worker.gradientBound = backward.gradientBound
        if lead { timings.backward += clock.lap() }
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
