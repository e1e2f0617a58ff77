/// The order in which an epoch visits the images: a Fisher–Yates shuffle keyed by
/// (seed, epoch), the same on every rank, so the global batch of step s is a fixed slice of it
/// whatever the number of processes.
public struct EpochPermutation: Sendable {
    public private(set) var epoch: Int = -1
    public private(set) var order: [Int32]

    public init(count: Int) {
        precondition(count > 0 && count <= Int(Int32.max), "image count out of range")
        order = [Int32](repeating: 0, count: count)
    }

    /// Refills `order` in place for `epoch` (no allocation).
    public mutating func shuffle(seed: UInt64, epoch: Int) {
        self.epoch = epoch
        var rng = SplitMix64(seed: SplitMix64.hash(seed, .permutation, UInt64(epoch)))
        let n = order.count
        order.withUnsafeMutableBufferPointer { o in
            for i in 0..<n { o[i] = Int32(i) }
            var i = n - 1
            while i > 0 {
                let j = Int(rng.next() % UInt64(i + 1))
                o.swapAt(i, j)
                i -= 1
            }
        }
    }
}
