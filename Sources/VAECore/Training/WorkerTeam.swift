import Foundation
import Synchronization

/// A fixed team of threads that run one body together, SPMD style: the caller is worker 0 and
/// `size - 1` threads, started once, are the others. Inside the body the workers meet at
/// `barrier()`. Every worker's matrix products run on that worker's thread alone
/// (`GEMM.useOneThreadHere`), and every worker flushes subnormals (`SubnormalFlush`): the
/// team's threads from their start, the caller during `run`.
///
/// Why not Dispatch: `concurrentPerform` allocates its work items on every call, and a step
/// has several fork-join points; a team parked between steps costs one wake-up per step and
/// allocates nothing.
public final class WorkerTeam: @unchecked Sendable {
    public let size: Int
    private let shared: Shared

    /// What the team's threads see (they hold it, not the team, so the team can go away first).
    private final class Shared: @unchecked Sendable {
        let start: Barrier
        let meeting: Barrier
        /// Set before `start` opens, read after: the barrier orders the accesses. (Not an
        /// Optional: storing a closure in one allocates a reabstraction thunk.)
        var body: (Int) -> Void = { _ in }
        var stopping = false

        init(size: Int) {
            start = Barrier(parties: size)
            meeting = Barrier(parties: size)
        }

        func serve(_ worker: Int) {
            GEMM.useOneThreadHere()
            SubnormalFlush.enable()
            while true {
                start.wait()
                if stopping { return }
                body(worker)
                meeting.wait()
            }
        }
    }

    public init(size: Int) {
        precondition(size >= 1, "a team needs at least one worker")
        self.size = size
        let shared = Shared(size: size)
        self.shared = shared
        for worker in 1..<size {
            let thread = Thread { shared.serve(worker) }
            thread.stackSize = 8 << 20
            thread.name = "vae-mpi worker \(worker)"
            thread.start()
        }
    }

    deinit {
        guard size > 1 else { return }
        shared.stopping = true
        shared.start.wait()
    }

    /// Runs `body(worker)` on every worker, the caller being worker 0, and returns when all
    /// have finished, with the caller's floating-point mode as it was. (Escaping, so that a
    /// caller can make its body once and run it every step without allocating: handing over a
    /// non-escaping closure allocates a context.)
    public func run(_ body: @escaping (Int) -> Void) {
        GEMM.useOneThreadHere()
        SubnormalFlush.during {
            guard size > 1 else { return body(0) }
            shared.body = body
            shared.start.wait()
            body(0)
            shared.meeting.wait()
            shared.body = { _ in }
        }
    }

    /// Waits until every worker of the running body gets here. Memory written before it by any
    /// worker is visible to every worker after it.
    public func barrier() {
        if size > 1 { shared.meeting.wait() }
    }
}

/// A reusable barrier that spins for a short while (workers usually arrive within
/// microseconds of each other) and then sleeps, so a parked team costs no CPU.
final class Barrier: @unchecked Sendable {
    private let parties: Int
    private let arrived = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)
    private let sleepers = NSCondition()

    init(parties: Int) { self.parties = parties }

    func wait() {
        let current = generation.load(ordering: .acquiring)
        if arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == parties {
            arrived.store(0, ordering: .relaxed)
            sleepers.lock()
            generation.store(current &+ 1, ordering: .releasing)
            sleepers.broadcast()
            sleepers.unlock()
            return
        }
        var spins = 0
        while generation.load(ordering: .acquiring) == current {
            spins += 1
            if spins == 20_000 { break }
        }
        if spins < 20_000 { return }
        sleepers.lock()
        while generation.load(ordering: .acquiring) == current { sleepers.wait() }
        sleepers.unlock()
    }
}
