import Foundation
import Synchronization

/// The number of the first SIGINT or SIGTERM received, 0 while none has. A lock-free atomic is
/// what a signal handler may safely touch.
private let receivedSignal = Atomic<Int32>(0)

/// A polite stop: SIGINT and SIGTERM (which `mpirun` forwards to every rank) only record that
/// they came, and the training loop stops at the next step boundary and saves a checkpoint.
/// Repeats are ignored, so that a second Ctrl-C cannot cut the final save short; `kill -9`
/// still ends the process at once (and `mpirun` sends it a second after its SIGTERM).
public enum StopSignal {
    /// Installs the handlers for SIGINT and SIGTERM.
    public static func install() {
        _ = receivedSignal.load(ordering: .relaxed)  // initialise the global outside the handler
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { number in
                _ = receivedSignal.compareExchange(
                    expected: 0, desired: number,
                    ordering: .relaxed)
            }
        }
    }

    /// The signal that asked this process to stop, if any.
    public static var received: Int32? {
        let number = receivedSignal.load(ordering: .relaxed)
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
    static func reset() { receivedSignal.store(0, ordering: .relaxed) }
}
