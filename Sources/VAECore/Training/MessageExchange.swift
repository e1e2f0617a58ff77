import Foundation

/// The exchange of ranks on several machines, by message. The rank's workers share one copy
/// of the parameters and keep one gradient each: they sum the rank's gradients slice by slice,
/// one `reduceScatter` gives each rank its block of the total, and after the update one
/// `allgather` hands the blocks back to every rank.
final class MessageExchange: GradientExchange {
    private let communicator: Communicator
    private let blocks: BlockPartition
    /// The rank's parameters, which its workers share.
    private let parameterMemory: LocalFloats
    private let gradientMemory: LocalFloats
    /// The rank's workers' gradients.
    private let workerGradients: [UnsafeMutablePointer<Float>]
    /// The part of the rank's gradient each worker sums over the workers.
    private let slices: BlockPartition
    /// This rank's block of the summed gradient.
    private let blockGradient: UnsafeMutablePointer<Float>
    /// `blockGradient`, indexed by parameter number.
    private let adamGradients: [UnsafeMutablePointer<Float>]

    init(communicator: Communicator, blocks: BlockPartition, threads: Int, count: Int) {
        self.communicator = communicator
        self.blocks = blocks
        parameterMemory = LocalFloats(count: count)
        gradientMemory = LocalFloats(count: threads * count)
        let own = gradientMemory.segment(of: 0)
        own.update(repeating: 0, count: threads * count)
        workerGradients = (0..<threads).map { own + $0 * count }
        slices = BlockPartition(count: count, ranks: threads)
        let block = blocks.range(of: communicator.rank)
        blockGradient = alignedFloats(block.count)
        adamGradients = [blockGradient - block.lowerBound]
    }

    deinit { free(blockGradient) }

    func parameters(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float> {
        parameterMemory.segment(of: 0)
    }

    func gradient(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float> { workerGradients[w] }

    func reduce(worker w: Int, sync: StepSync) -> Bool {
        sum(workerGradients, into: workerGradients[0], over: slices.range(of: w))
        sync.communicate(w) { sync.team.barrier() }
        if w == 0 {
            sync.communicate(w) {
                try communicator.reduceScatterSum(workerGradients[0], into: blockGradient, blocks: blocks)
            }
        }
        return sync.everyone(w)
    }

    func blockGradients(step s: Int) -> [UnsafeMutablePointer<Float>] { adamGradients }

    var adamOutput: Adam.Output { .inPlace }

    func handBack(worker w: Int, sync: StepSync) {
        sync.communicate(w) { sync.team.barrier() }
        if w == 0 {
            sync.communicate(w) { try communicator.allgather(parameterMemory.segment(of: 0), blocks: blocks) }
        }
    }
}
