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
    /// The part of `allreduce` spent in barriers and collectives rather than adding: waiting
    /// for other workers and ranks, and moving messages.
    public var communication: Double = 0
    public var steps: Int = 0
    public var compute: Double { forward + backward }

    public init() {}
    public var total: Double { render + forward + backward + allreduce + optimizer }
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
/// Summing, in one of two ways:
/// - shared memory (one rank, or ranks on one machine): every worker's gradient lives in
///   memory all ranks map. Each worker updates its block of the parameters with Adam, summing
///   every worker's gradient on the way, in a fixed order; with several ranks (or two threads
///   alone, see `Worker.parameters`) it publishes the block where the others copy it from (see
///   `BlockExchange`). The allreduce and a barrier order the phases; no message carries a
///   gradient.
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
    /// This rank's copy of the parameters (two copies for two threads alone: see
    /// `Worker.parameters`).
    private let parameterMemory: LocalFloats
    private let gradientMemory: SharedFloats
    /// This rank's parameters in place (for `parameterDigest` too, which must not copy them).
    var parameterPointer: UnsafeMutablePointer<Float> { parameterMemory.segment(of: 0) }
    /// Every worker's gradient that this rank sums: all ranks' with shared memory, else its own.
    private let gradientSources: [UnsafeMutablePointer<Float>]
    /// What Adam sums, indexed by parameter number: `gradientSources` with shared memory, else
    /// this rank's block of the summed gradient.
    private let adamGradients: [UnsafePointer<Float>]
    /// The parameters cut into one block per rank (for gathering the Adam moments, and for
    /// `reduceScatter` when summing by message).
    private let blocks: BlockPartition
    /// With messages: this rank's block of the summed gradient.
    private let blockGradient: UnsafeMutablePointer<Float>
    /// Reconstruction, KL and the bounds on the workers' gradient magnitudes, summed over workers
    /// then ranks; then a flag that tells every worker to abandon the step (a failed
    /// collective on worker 0).
    private let terms = UnsafeMutablePointer<Double>.allocate(capacity: 4)
    /// Whether the Adam moments outside this rank's block are current (see `collectCheckpoint`).
    private var momentsGathered = true
    private var failure: Error?
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
        /// With shared memory: the blocks the same worker of every other rank updates (for two
        /// threads alone, the other worker's block), which this worker copies into its
        /// parameters (see `exchange`).
        let peerBlocks: [Range<Int>]
        /// With shared memory and several ranks, or two threads alone.
        let exchange: BlockExchange?
        /// The copy of the parameters this worker reads and updates: its rank's, shared with the
        /// rank's other workers, except for two threads alone, where each has its own and they
        /// trade blocks as two ranks do (one copy updated in place by both made Adam up to twice
        /// as slow in some hours: docs/performance.md).
        let parameters: UnsafeMutablePointer<Float>
        /// With messages: the part of the rank's gradient this worker sums over its workers.
        let slice: Range<Int>
        let network: Autoencoder
        let batch: UnsafeMutablePointer<Float>
        let noise: UnsafeMutablePointer<Float>
        let gradient: UnsafeMutablePointer<Float>
        var reconstruction = 0.0
        var kl = 0.0
        /// See `BackwardSums.gradientBound`.
        var gradientBound = 0.0

        init(
            share: Range<Int>, block: Range<Int>, peerBlocks: [Range<Int>],
            exchange: BlockExchange?, parameters: UnsafeMutablePointer<Float>, slice: Range<Int>,
            gradient: UnsafeMutablePointer<Float>,
            layout: NetworkLayout, loss: LossConfiguration
        ) {
            self.share = share
            self.block = block
            self.peerBlocks = peerBlocks
            self.exchange = exchange
            self.parameters = parameters
            self.slice = slice
            self.gradient = gradient
            let capacity = max(1, share.count)
            network = Autoencoder(layout: layout, loss: loss, capacity: capacity)
            batch = alignedFloats(capacity * layout.model.inputSize)
            noise = alignedFloats(capacity * layout.model.latentDim)
        }

        deinit {
            free(batch)
            free(noise)
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
        layout = NetworkLayout(configuration.model)
        images = CircleImages(configuration.images)
        permutation = EpochPermutation(count: configuration.images.count)
        let count = layout.parameterCount
        let (rank, ranks) = (communicator.rank, communicator.size)
        blocks = BlockPartition(count: count, ranks: ranks)

        // Collective: every rank gets the same answer, so all take the same path.
        var shared: (gradients: SharedFloats, exchange: UnsafeMutablePointer<Float>?)? = nil
        if ranks > 1, sharedMemory, let gradients = try communicator.allocateShared(count: threads * count) {
            var exchange: UnsafeMutablePointer<Float>? = nil
            if ranks > 2 {
                guard let memory = try communicator.allocateShared(count: rank == 0 ? count : 0) else {
                    throw TrainingError.configurationMismatch(
                        "shared memory for the gradients but not the parameters")
                }
                exchange = memory.segment(of: 0)
            }
            shared = (gradients, exchange)
        }
        usesSharedMemory = shared != nil || ranks == 1
        let gradientMemory = shared?.gradients ?? LocalFloats(count: threads * count)
        self.gradientMemory = gradientMemory
        let twoThreadsAlone = ranks == 1 && threads == 2
        parameterMemory = LocalFloats(count: twoThreadsAlone ? 2 * count : count)
        let ownGradients = gradientMemory.segment(of: shared == nil ? 0 : rank)
        ownGradients.update(repeating: 0, count: threads * count)
        gradientSources = (0..<(shared == nil ? 1 : ranks)).flatMap { r in
            (0..<threads).map { gradientMemory.segment(of: shared == nil ? 0 : r) + $0 * count }
        }
        blockGradient = alignedFloats(usesSharedMemory ? 0 : blocks.range(of: rank).count)
        adamGradients =
            usesSharedMemory
            ? gradientSources.map { UnsafePointer($0) }
            : [UnsafePointer(blockGradient - blocks.range(of: rank).lowerBound)]

        let rankShare = communicator.share(of: configuration.batchSize)
        let layout = layout
        let slices = BlockPartition(count: count, ranks: threads)
        let blocks = blocks
        /// Rank r's block cut into one piece per worker.
        func workerBlock(rank r: Int, worker w: Int) -> Range<Int> {
            let rankBlock = blocks.range(of: r)
            let piece = BlockPartition(count: rankBlock.count, ranks: threads).range(of: w)
            return (rankBlock.lowerBound + piece.lowerBound)..<(rankBlock.lowerBound + piece.upperBound)
        }
        let peers = (0..<ranks).filter { $0 != rank }
        let parameterPointer = parameterMemory.segment(of: 0)
        workers = (0..<threads).map { w in
            let share = contiguousShare(of: rankShare.count, rank: w, size: threads)
            let gradient = ownGradients + w * count
            var exchange: BlockExchange? = nil
            if let shared, let buffer = shared.exchange {
                exchange = .throughBuffer(buffer)
            } else if let shared, let peer = peers.first {
                exchange = .throughGradients(
                    peer: shared.gradients.segment(of: peer) + w * count, own: gradient)
            } else if twoThreadsAlone {
                exchange = .throughGradients(peer: ownGradients + (1 - w) * count, own: gradient)
            }
            return Worker(
                share: (rankShare.lowerBound + share.lowerBound)..<(rankShare.lowerBound + share.upperBound),
                block: workerBlock(rank: rank, worker: w),
                peerBlocks: twoThreadsAlone
                    ? [workerBlock(rank: rank, worker: 1 - w)]
                    : peers.map { workerBlock(rank: $0, worker: w) },
                exchange: exchange, parameters: parameterPointer + (twoThreadsAlone ? w * count : 0),
                slice: slices.range(of: w), gradient: gradient,
                layout: layout, loss: configuration.loss)
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
        parameterPointer.update(from: initial, count: count)
        stepBody = { [unowned self] w in runStep(worker: w, inputs: stepInputs!) }
        try communicator.broadcast(
            UnsafeMutableRawBufferPointer(start: parameterPointer, count: count * 4), root: 0)
        for worker in workers where worker.parameters != parameterPointer {
            worker.parameters.update(from: parameterPointer, count: count)
        }
    }

    deinit {
        free(blockGradient)
        terms.deallocate()
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
        terms.update(repeating: 0, count: 4)
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
        let loss = self.loss(reconstruction: reconstruction, kl: kl)
        optimizer.stepCount += 1
        momentsGathered = communicator.size == 1
        timings.steps += 1
        step += 1
        return StepReport(step: step, epoch: epoch, reconstruction: reconstruction, kl: kl, loss: loss)
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
                terms[3] = 1
            }
            if lead { timings.communication += Stopwatch.now() - start }
        }
        // A barrier, then whether to go on: false once a collective has failed (every worker
        // must still pass the same barriers, so they leave together).
        func everyone() -> Bool {
            communicate { team.barrier() }
            return terms[3] == 0
        }
        // The same across ranks too: every worker of every rank has got here.
        func everyoneOnEveryRank() -> Bool {
            communicate { team.barrier() }
            if several, lead { communicate { try communicator.barrier() } }
            return everyone()
        }

        computeGradient(worker, order: inputs.order, clock: &clock, lead: lead)
        // With shared memory the allreduce also orders memory: after it every rank's gradients
        // are complete and visible.
        communicate { team.barrier() }
        if lead {
            for other in workers {
                terms[0] += other.reconstruction
                terms[1] += other.kl
                terms[2] += other.gradientBound
            }
            communicate {
                try communicator.allreduceSum(UnsafeMutableBufferPointer(start: terms, count: 3))
            }
        }
        guard everyone() else { return }
        lap(\.allreduce)
        // The same test as `trainStep` makes afterwards.
        guard summedTermsProblem() == nil else { return }

        if !usesSharedMemory {
            sum(gradientSources, into: gradientSources[0], over: worker.slice)
            communicate { team.barrier() }
            if lead {
                communicate {
                    try communicator.reduceScatterSum(
                        gradientSources[0], into: blockGradient, blocks: blocks)
                }
            }
            guard everyone() else { return }
            lap(\.allreduce)
        }
        adamGradients.withUnsafeBufferPointer { gradients in
            Adam.apply(
                inputs.update, parameters: worker.parameters, summing: gradients,
                m: inputs.firstMoment, v: inputs.secondMoment, range: worker.block,
                copyingTo: worker.exchange?.adamCopy)
        }
        lap(\.optimizer)
        if let exchange = worker.exchange {
            let parameters = worker.parameters
            if case .throughBuffer(let buffer) = exchange {
                let start = worker.block.lowerBound
                (buffer + start).update(from: parameters + start, count: worker.block.count)
            }
            guard everyoneOnEveryRank() else { return }
            for peer in worker.peerBlocks {
                (parameters + peer.lowerBound).update(
                    from: exchange.peerSource + peer.lowerBound, count: peer.count)
            }
            lap(\.allreduce)
        } else if several {
            communicate { team.barrier() }
            if lead {
                communicate { try communicator.allgather(parameterPointer, blocks: blocks) }
                lap(\.allreduce)
            }
        }
        // Otherwise the end of `team.run` is the only barrier needed before the next forward.
    }

    /// reconstruction + beta * kl for the VAE, the reconstruction alone for the AE.
    private func loss(reconstruction: Double, kl: Double) -> Double {
        configuration.model.kind == .vae
            ? reconstruction + Double(configuration.loss.beta) * kl : reconstruction
    }

    /// Why the step must stop before any parameter changes, read from the summed `terms` (the
    /// same on every worker of every rank): a non-finite loss, or gradients whose bounds could
    /// let their sum overflow.
    private func summedTermsProblem() -> TrainingError? {
        if !loss(reconstruction: terms[0], kl: terms[1]).isFinite { return .nonFiniteLoss(step: step + 1) }
        if !(terms[2] <= Trainer.summableLimit) { return .nonFiniteGradient(step: step + 1) }
        return nil
    }

    /// How large the bounds on the workers' gradient magnitudes may sum to: below it, no partial
    /// sum of the workers' gradients, in any order, can overflow a float (half the range leaves
    /// room for rounding). A gradient that may hold a NaN or infinity has an infinite bound, so
    /// the step stops whenever a summed gradient could be non-finite (and, the bound being
    /// conservative, for some finite gradients near the top of the float range too).
    static let summableLimit = Double(Float.greatestFiniteMagnitude) / 2

    /// Renders the worker's images, then runs forward and backward into its gradient.
    private func computeGradient(
        _ worker: Worker, order: UnsafeBufferPointer<Int32>, clock: inout Stopwatch, lead: Bool
    ) {
        let count = worker.share.count
        guard count > 0 else {
            // Nothing to compute (a batch smaller than the workers), but the reduction may
            // have written into this gradient: it must be 0 again.
            (worker.reconstruction, worker.kl, worker.gradientBound) = (0, 0, 0)
            worker.gradient.update(repeating: 0, count: layout.parameterCount)
            return
        }
        let pixels = configuration.model.inputSize
        let latentDim = configuration.model.latentDim
        let batchStart = (step % configuration.stepsPerEpoch) * configuration.batchSize
        for (row, slot) in worker.share.enumerated() {
            let index = Int(order[batchStart + slot])
            images.render(
                index, into: UnsafeMutableBufferPointer(start: worker.batch + row * pixels, count: pixels))
            var rng = SplitMix64(
                seed: SplitMix64.hash(configuration.seed, .noise, UInt64(step), UInt64(index)))
            for j in 0..<latentDim { worker.noise[row * latentDim + j] = Float(rng.nextGaussian()) }
        }
        if lead { timings.render += clock.lap() }
        let scale = 1 / Float(configuration.batchSize)
        let sums = worker.network.forward(
            input: worker.batch, count: count, noise: worker.noise,
            parameters: worker.parameters, scale: scale)
        if lead { timings.forward += clock.lap() }
        let backward = worker.network.backward(
            input: worker.batch, count: count, parameters: worker.parameters,
            gradient: worker.gradient, scale: scale)
        (worker.reconstruction, worker.kl) = (sums.reconstruction, backward.kl)
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

/// Writes sum over `sources` of source[k] into `destination[k]` for k in `range`, adding the
/// sources in their order (so every run adds in the same order). A lone source that is the
/// destination is left as it is.
func sum(
    _ sources: [UnsafeMutablePointer<Float>], into destination: UnsafeMutablePointer<Float>,
    over range: Range<Int>
) {
    if sources.count == 1, sources[0] == destination { return }
    sources.withUnsafeBufferPointer { sources in
        let width = FloatVector.scalarCount
        var k = range.lowerBound
        while k + width <= range.upperBound {
            var total = FloatVector.load(sources[0] + k)
            for s in 1..<sources.count { total += FloatVector.load(sources[s] + k) }
            total.store(destination + k)
            k += width
        }
        while k < range.upperBound {
            var total = sources[0][k]
            for s in 1..<sources.count { total += sources[s][k] }
            destination[k] = total
            k += 1
        }
    }
}

/// Memory of this process alone, in the shape of `SharedFloats` (one segment).
final class LocalFloats: SharedFloats {
    private let base: UnsafeMutablePointer<Float>
    init(count: Int) { base = alignedFloats(count) }
    deinit { free(base) }
    func segment(of rank: Int) -> UnsafeMutablePointer<Float> { base }
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

/// How the updated blocks travel between ranks that share memory (or two threads alone): each
/// worker updates its block in its own copy of the parameters, publishes it, and after a
/// barrier copies the others' blocks (all pointers indexed by parameter number). Each keeps its
/// own copy: updating one shared copy in place made Adam up to 5 times slower in some runs,
/// when the other core held the lines written (docs/performance.md).
enum BlockExchange {
    /// Two ranks, or two threads alone: Adam writes the block into the peer worker's gradient
    /// at the block's place as it goes. It reads that gradient there in the same pass, so the
    /// lines are at hand; nobody else reads them, and the peer overwrites them only in its next
    /// backward pass, after copying the block out of its own gradient (`own`). No buffer of its
    /// own keeps 4 MB fewer in the caches (faster: docs/performance.md).
    case throughGradients(peer: UnsafeMutablePointer<Float>, own: UnsafeMutablePointer<Float>)
    /// More ranks: after Adam, each block is copied into one shared buffer that all ranks copy
    /// from, so that it is written once rather than once per reader. (Adam writing it there as
    /// it goes was slower: those lines are held by the cores that read them last.)
    case throughBuffer(UnsafeMutablePointer<Float>)

    /// Where Adam writes the updated block besides the rank's parameters.
    var adamCopy: UnsafeMutablePointer<Float>? {
        if case .throughGradients(let peer, _) = self { peer } else { nil }
    }

    /// Where this worker finds the others' blocks after the barrier.
    var peerSource: UnsafeMutablePointer<Float> {
        switch self {
        case .throughGradients(_, let own): own
        case .throughBuffer(let buffer): buffer
        }
    }
}
