/// The collective operations the training loop needs, and nothing else.
///
/// The core is written against this protocol so it never sees MPI: `SingleProcessCommunicator`
/// below is the one-rank case (and the in-process stand-in the unit tests use); the MPI layer
/// provides the real one over `MPI_COMM_WORLD`.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size.
    var rank: Int { get }
    /// How many processes share the work.
    var size: Int { get }

    /// In place: every element becomes the sum of that element over all ranks.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// In place: every element becomes the sum of that element over all ranks. Like
    /// `barrier`, it orders `SharedFloats`: writes made before it by any rank are visible to
    /// every rank after it.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// In place: every element becomes the maximum of that element over all ranks.
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Every rank's `buffer` receives root's bytes.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Sums `send` (the whole vector) over all ranks and gives each rank only its block of the
    /// sum: `receive` gets elements `blocks.range(of: rank)`.
    func reduceScatterSum(
        _ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
        blocks: BlockPartition) throws
    /// In place: every rank's block of `buffer` is copied into everyone else's `buffer`.
    func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws
    /// Returns once every rank has called it. Writes to `SharedFloats` made before it by any
    /// rank are visible to every rank after it.
    func barrier() throws
    /// Collective: memory that every rank addresses directly, `count` floats of it this rank's
    /// segment (the counts may differ between ranks). nil when the ranks do not all share one
    /// machine's memory; the trainer then exchanges gradients by message.
    func allocateShared(count: Int) throws -> SharedFloats?
}

/// Floats that every rank of a group can read and write in place.
public protocol SharedFloats: AnyObject {
    /// The start of `rank`'s segment.
    func segment(of rank: Int) -> UnsafeMutablePointer<Float>
}

/// A vector cut into one contiguous block per rank, in the int arrays MPI's v-collectives take.
/// Blocks start on 16-float (64-byte) boundaries so no two ranks' blocks share a cache line.
public struct BlockPartition: Sendable, Equatable {
    public let count: Int
    public let counts: [Int32]
    public let displacements: [Int32]

    public init(count: Int, ranks: Int) {
        precondition(count <= Int(Int32.max), "vector too long for MPI's int counts")
        self.count = count
        let lines = count / 16
        var counts: [Int32] = [], displacements: [Int32] = []
        for r in 0..<ranks {
            let share = contiguousShare(of: lines, rank: r, size: ranks)
            let upper = r == ranks - 1 ? count : share.upperBound * 16
            displacements.append(Int32(share.lowerBound * 16))
            counts.append(Int32(upper - share.lowerBound * 16))
        }
        self.counts = counts
        self.displacements = displacements
    }

    /// Blocks of the given sizes, back to back in rank order (no alignment): for example each
    /// rank's rows of a batch-sized buffer, as `allgather` hands them round.
    public init(sizes: [Int]) {
        let total = sizes.reduce(0, +)
        precondition(sizes.allSatisfy { $0 >= 0 } && total <= Int(Int32.max), "bad block sizes")
        count = total
        counts = sizes.map { Int32($0) }
        var start = 0
        displacements = sizes.map { size in
            defer { start += size }
            return Int32(start)
        }
    }

    public func range(of rank: Int) -> Range<Int> {
        let start = Int(displacements[rank])
        return start..<(start + Int(counts[rank]))
    }
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// The contiguous share of `count` items that this rank takes: the first `count % size`
    /// ranks take one more, so any global batch splits over any rank count.
    public func share(of count: Int) -> Range<Int> {
        contiguousShare(of: count, rank: rank, size: size)
    }
}

/// The contiguous share of `count` items for `rank` of `size` (see `Communicator.share`).
public func contiguousShare(of count: Int, rank: Int, size: Int) -> Range<Int> {
    let base = count / size
    let extra = count % size
    let start = rank * base + min(rank, extra)
    return start..<(start + base + (rank < extra ? 1 : 0))
}

/// One process alone: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func reduceScatterSum(
        _ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
        blocks: BlockPartition
    ) throws {
        receive.update(from: send, count: blocks.count)
    }
    public func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws {}
    public func barrier() throws {}
    /// Alone, there is nothing to share: the trainer uses its own memory.
    public func allocateShared(count: Int) throws -> SharedFloats? { nil }
}
