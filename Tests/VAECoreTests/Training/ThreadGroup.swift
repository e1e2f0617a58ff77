import Foundation

@testable import VAECore

/// An in-process stand-in for an MPI job: `size` ranks on threads, with collectives through
/// shared memory and a barrier. Sums are taken in rank order, like a deterministic reduction.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var slots: [UnsafeMutableRawBufferPointer?]

    /// Whether members offer `allocateShared` (else the trainer exchanges by message).
    let sharesMemory: Bool
    private var sharedAllocations: [UnsafeMutablePointer<Float>] = []

    init(size: Int, sharesMemory: Bool = true) {
        self.size = size
        self.sharesMemory = sharesMemory
        slots = Array(repeating: nil, count: size)
    }

    deinit { sharedAllocations.forEach { free($0) } }

    /// Keeps `count` floats alive as long as the group.
    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = alignedFloats(count)
        condition.lock()
        sharedAllocations.append(p)
        condition.unlock()
        return p
    }

    /// Waits until every rank has called.
    func barrier() {
        condition.lock()
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == g { condition.wait() }
        }
        condition.unlock()
    }

    func publish(_ rank: Int, _ buffer: UnsafeMutableRawBufferPointer) {
        condition.lock()
        slots[rank] = buffer
        condition.unlock()
    }

    func slot(_ rank: Int) -> UnsafeMutableRawBufferPointer { slots[rank]! }

    /// Runs `body(rank communicator)` on `size` threads and returns their results by rank.
    func run<T>(_ body: @escaping (Communicator) throws -> T) throws -> [T] {
        let results = ResultSlots<T>(size)
        let threads = (0..<size).map { rank in
            Thread {
                let r = Result { try body(Member(group: self, rank: rank)) }
                results.lock.lock()
                results.values[rank] = r
                results.lock.unlock()
            }
        }
        threads.forEach {
            $0.stackSize = 16 << 20; $0.start()
        }
        while true {
            results.lock.lock()
            let done = results.values.allSatisfy { $0 != nil }
            results.lock.unlock()
            if done { break }
            usleep(1000)
        }
        return try results.values.map { try $0!.get() }
    }

    final class Member: Communicator {
        let group: ThreadGroup
        let rank: Int
        init(group: ThreadGroup, rank: Int) {
            self.group = group
            self.rank = rank
        }
        var size: Int { group.size }

        private func reduce<T: Numeric>(_ buffer: UnsafeMutableBufferPointer<T>, _ combine: (T, T) -> T) {
            group.publish(rank, UnsafeMutableRawBufferPointer(buffer))
            group.barrier()
            var result = [T](repeating: 0, count: buffer.count)
            for r in 0..<size {
                let other = group.slot(r).bindMemory(to: T.self)
                for k in 0..<buffer.count { result[k] = r == 0 ? other[k] : combine(result[k], other[k]) }
            }
            group.barrier()
            for k in 0..<buffer.count { buffer[k] = result[k] }
        }

        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { reduce(buffer, +) }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { reduce(buffer, +) }
        func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
            reduce(buffer, { max($0, $1) })
        }
        func reduceScatterSum(
            _ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
            blocks: BlockPartition
        ) throws {
            group.publish(
                rank,
                UnsafeMutableRawBufferPointer(
                    start: UnsafeMutableRawPointer(mutating: send),
                    count: blocks.count * 4))
            group.barrier()
            let mine = blocks.range(of: rank)
            for (i, k) in mine.enumerated() {
                var sum: Float = 0
                for r in 0..<size { sum += group.slot(r).bindMemory(to: Float.self)[k] }
                receive[i] = sum
            }
            group.barrier()
        }

        func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws {
            group.publish(rank, UnsafeMutableRawBufferPointer(start: buffer, count: blocks.count * 4))
            group.barrier()
            for r in 0..<size where r != rank {
                let other = group.slot(r).bindMemory(to: Float.self)
                for k in blocks.range(of: r) { buffer[k] = other[k] }
            }
            group.barrier()
        }

        func barrier() throws { group.barrier() }

        func allocateShared(count: Int) throws -> SharedFloats? {
            guard group.sharesMemory else { return nil }
            let mine = group.allocate(count)
            group.publish(rank, UnsafeMutableRawBufferPointer(start: mine, count: count * 4))
            group.barrier()
            let segments = (0..<size).map { group.slot($0).baseAddress!.assumingMemoryBound(to: Float.self) }
            group.barrier()
            return Segments(segments)
        }

        private final class Segments: SharedFloats {
            let segments: [UnsafeMutablePointer<Float>]
            init(_ segments: [UnsafeMutablePointer<Float>]) { self.segments = segments }
            func segment(of rank: Int) -> UnsafeMutablePointer<Float> { segments[rank] }
        }

        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
            group.publish(rank, buffer)
            group.barrier()
            if rank != root { buffer.copyMemory(from: UnsafeRawBufferPointer(group.slot(root))) }
            group.barrier()
        }
    }
}

/// Per-thread results behind a lock.
private final class ResultSlots<T>: @unchecked Sendable {
    var values: [Result<T, Error>?]
    let lock = NSLock()
    init(_ n: Int) { values = Array(repeating: nil, count: n) }
}
