import _VAECoreShims

/// Subnormal floats (magnitude below 2^-126 ≈ 1.2e-38) flushed to zero on every thread that
/// computes: flush-to-zero (a subnormal result becomes 0) and denormals-are-zero (a subnormal
/// input reads as 0), the x86 MXCSR bits PyTorch's `set_flush_denormal` sets.
///
/// Why: training produces subnormals. Once the blur has annealed the decoder's background
/// logits grow confident, their sigmoid gradients and the activations behind them pass through
/// the subnormal range, and so do Adam's moments of parameters whose gradient has stopped. On
/// many x86 cores (Intel's especially) an operation with a subnormal operand takes a microcode
/// assist, and the matrix products slow down several times over (figures: docs/performance.md).
/// The mode is per thread, so it is set:
/// - once where a thread the project starts begins (`WorkerTeam`'s threads, the CLI's main
///   thread), and left on;
/// - around the work on a thread the project borrows from a library caller (`WorkerTeam.run`,
///   hence every training step and the sgemm bound; the analysis's `LatentModel`; `Adam.update`),
///   restoring the caller's mode before handing the thread back.
///
/// What it changes: a value that would be subnormal is 0 instead. Every worker of every rank
/// flushes alike, so the determinism contract (the same model from 1, 2 and 4 ranks) holds as
/// before; numbers this small are far below any loss term's rounding. Storing and loading
/// (checkpoints, the exchange of parameters) do no arithmetic and keep a subnormal's bits.
/// On CPUs other than x86 this does nothing (`isOn` is false).
public enum SubnormalFlush {
    /// Turns the flush on for the rest of this thread's life: for threads the project owns.
    public static func enable() { _ = vae_enter_flush_to_zero() }

    /// Runs `body` with the flush on and gives the caller's mode back afterwards.
    @inline(__always)
    public static func during<R>(_ body: () throws -> R) rethrows -> R {
        let mode = vae_enter_flush_to_zero()
        defer { vae_restore_floating_point_mode(mode) }
        return try body()
    }

    /// Whether this thread flushes subnormals now (both bits set).
    public static var isOn: Bool { vae_flushes_subnormals() != 0 }
}
