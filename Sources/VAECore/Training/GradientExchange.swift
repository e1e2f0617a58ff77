/// How the gradients of a step become the next step's parameters on every worker of every rank:
/// ZeRO stage 1 (optimizer-state sharding, Rajbhandari et al. 2020). The parameters are cut
/// into one block per worker of every rank; the workers' gradients are summed and reduced to the
/// blocks (`reduce`), each worker updates its block with Adam from the summed gradient, keeping
/// Adam's moments current for that block alone, and the blocks are handed back to everyone
/// (`handBack`). Every parameter gets the same update on every rank.
///
/// Two implementations, picked once per run: `SharedMemoryExchange` (one rank, or ranks on one
/// machine) and `MessageExchange` (ranks on several machines).
protocol GradientExchange: AnyObject {
    /// Where worker `w` reads the parameters of step `s`.
    func parameters(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float>
    /// Where worker `w` writes the gradient of its share of step `s`'s batch.
    func gradient(worker w: Int, step s: Int) -> UnsafeMutablePointer<Float>
    /// Sums the workers' gradients and reduces them to this rank's block. Every worker calls it
    /// once every gradient of every rank is written and visible; false: the step is abandoned.
    func reduce(worker w: Int, sync: StepSync) -> Bool
    /// What Adam sums for step `s`, in this order, indexed by parameter number.
    func blockGradients(step s: Int) -> [UnsafeMutablePointer<Float>]
    /// Where Adam writes the updated block.
    var adamOutput: Adam.Output { get }
    /// Hands every worker's updated block to every worker of every rank, in time for the next
    /// step (the end of `WorkerTeam.run` is the rank's last barrier).
    func handBack(worker w: Int, sync: StepSync)
}
