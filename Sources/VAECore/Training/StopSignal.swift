import Foundation
import Synchronization

/// The number of the first SIGINT or SIGTERM taken, 0 while none has.
private let firstSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM.
private func stopSignals() -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    return set
}

/// A polite stop: SIGINT and SIGTERM (which `mpirun` forwards to every rank) only record that
/// they came, and the training loop stops at the next step boundary and saves a checkpoint.
/// Repeats are ignored, so that a second Ctrl-C cannot cut the final save short; `kill -9`
/// still ends the process at once (and `mpirun` sends it a second after its SIGTERM).
///
/// The signals are blocked rather than handled: they wait, pending, until the training loop
/// takes them with `sigtimedwait` between steps, so no signal frame is ever pushed onto a
/// thread that is inside a product. oneDNN's JIT `sgemm` kernels (2.6.3, Debian's) point the
/// stack pointer into their heap workspace while they run, and a handler that only set an atomic
/// flag corrupted the heap in about 1 stopped run in 20 (oneDNN issue 4845;
/// docs/checkpoints.md).
public enum StopSignal {
    /// Blocks SIGINT and SIGTERM in the calling thread and so in every thread it starts later,
    /// which inherit the mask. Call it before any other thread starts (before `MPI_Init`, which
    /// starts Open MPI's): a thread that does not block them would take them and die. Processes
    /// started from such a thread inherit the mask too (Open MPI's `orted` resets its own).
    public static func install() {
        var set = stopSignals()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The signal that asked this process to stop, if any: takes every pending SIGINT and
    /// SIGTERM without waiting and remembers the first.
    public static var received: Int32? {
        var set = stopSignals()
        var noWait = timespec(tv_sec: 0, tv_nsec: 0)
        while case let number = sigtimedwait(&set, nil, &noWait), number > 0 {
            _ = firstSignal.compareExchange(expected: 0, desired: number, ordering: .relaxed)
        }
        let number = firstSignal.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// Whether any rank received a stop signal: every rank calls this at the same step and gets
    /// the same answer, so all stop together. One tiny allreduce.
    /// - Returns: the signal number (the largest, if ranks saw different ones), or nil.
    public static func agreed(by communicator: Communicator) throws -> Int32? {
        var flag = Double(received ?? 0)
        // One value on the stack: nothing allocated per step.
        try withUnsafeMutablePointer(to: &flag) {
            try communicator.allreduceMax(UnsafeMutableBufferPointer(start: $0, count: 1))
        }
        return flag > 0 ? Int32(flag) : nil
    }

    /// Forgets a received signal (for tests).
    static func reset() {
        _ = received
        firstSignal.store(0, ordering: .relaxed)
    }
}
