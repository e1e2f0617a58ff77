/// The exchange of one rank, or of ranks on one machine, through memory every rank maps.
///
/// Every worker has two buffers, and they swap roles each step: it reads the step's parameters
/// from one and writes its gradient into the other. Each worker updates its block with Adam,
/// summing every worker's gradient on the way in, in a fixed order, and writes the new values
/// over all those gradients (`Adam.Output.overGradients`). So once every worker has written its
/// block, each worker's gradient buffer holds the whole of the next step's parameters: nothing
/// is copied, and no message carries a gradient. (One copy per rank that its workers update in
/// place made Adam up to twice as slow in some hours; copying the blocks instead cost 2-7 % of
/// the step at two ranks: docs/performance.md.)
final class SharedMemoryExchange: GradientExchange {
    private let memory: SharedFloats
    /// Worker w's buffers: (parameters at even steps, parameters at odd steps); the gradient of
    /// a step goes to the other one.
    private let buffers: [(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)]
    /// Every worker's gradient of every rank, in rank then worker order, at even and odd steps.
    private let gradients: [[UnsafeMutablePointer<Float>]]
    private let ranks: Int

    /// - Parameters:
    ///   - memory: `2 threads count` floats per rank: every rank's segment when `shared`, else
    ///     this rank's alone (one rank).
    init(memory: SharedFloats, shared: Bool, rank: Int, ranks: Int, threads: Int, count: Int) {
        precondition(shared || ranks == 1, "ranks exchange in memory that all of them map")
        self.memory = memory
        self.ranks = ranks
        func buffer(rank r: Int, worker w: Int, _ b: Int) -> UnsafeMutablePointer<Float> {
            memory.segment(of: shared ? r : 0) + (2 * w + b) * count
        }
        buffer(rank: rank, worker: 0, 0).update(repeating: 0, count: 2 * threads * count)
        buffers = (0..<threads).map { w in
            (buffer(rank: rank, worker: w, 1), buffer(rank: rank, worker: w, 0))
        }
        gradients = (0..<2).map { b in
            (0..<ranks).flatMap { r in (0..<threads).map { w in buffer(rank: r, worker: w, b) } }
        }
    }

    func parameters(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float> {
        s % 2 == 0 ? buffers[w].0 : buffers[w].1
    }

    func gradient(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float> {
        s % 2 == 0 ? buffers[w].1 : buffers[w].0
    }

    /// Nothing to do: Adam sums the gradients itself.
    func reduce(worker w: Int, sync: StepSync) -> Bool { true }

    func blockGradients(step s: Int) -> [UnsafeMutablePointer<Float>] { gradients[s % 2] }

    var adamOutput: Adam.Output { .overGradients }

    func handBack(worker w: Int, sync: StepSync) {
        // The next step reads what every worker of every rank has written.
        if ranks > 1 { _ = sync.everyoneOnEveryRank(w) }
    }
}
