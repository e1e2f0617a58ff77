import Foundation

/// The machine's own limit for a model: the rate at which `sgemm` alone runs the matrix
/// products of one training step (forward, weight gradients, input gradients) at a given local
/// batch, with nothing else in between. Training throughput is quoted as a share of it.
public enum GEMMBenchmark {
    /// GFLOP/s of the step's GEMMs, with `threads` threads each multiplying its share of
    /// `batch` side by side (as a trainer's workers do), timed over at least `seconds` after
    /// one warm-up pass.
    public static func measure(
        _ layout: NetworkLayout, batch: Int, threads: Int = 1, seconds: Double = 1
    ) -> Double {
        let team = WorkerTeam(size: threads)
        let shares = (0..<threads).map { contiguousShare(of: batch, rank: $0, size: threads).count }
        let width = layout.maxWidth
        let buffers = shares.map { share in
            (
                alignedFloats(share * width), alignedFloats(share * width),
                alignedFloats(layout.parameterCount),
                alignedFloats(layout.parameterCount)
            )
        }
        defer { for (a, b, w, g) in buffers { for p in [a, b, w, g] { free(p) } } }
        let first = layout.encoder[0]
        func pass(_ worker: Int) {
            let (a, b, weights, gradient) = buffers[worker]
            guard shares[worker] > 0 else { return }
            for (index, layer) in layout.layers.enumerated() {
                // The broadcast layer multiplies the latents once per sample (`forwardMultiplyAdds`).
                let broadcast = layout.broadcasts && index == layout.encoder.count
                let m = shares[worker] * (broadcast ? 1 : layer.rowsPerSample)
                let n = layer.outputs, k = broadcast ? layout.model.latentDim : layer.inputs
                let w = weights + layer.weightOffset
                GEMM.multiply(a, lda: k, w, ldb: n, into: b, ldc: n, m: m, n: n, k: k)
                GEMM.multiply(
                    a, lda: k, b, ldb: n, into: gradient + layer.weightOffset, ldc: n,
                    m: k, n: n, k: m, transposingA: true)
                if layer != first {
                    GEMM.multiply(
                        b, lda: n, w, ldb: n, into: a, ldc: k, m: m, n: k, k: n, transposingB: true)
                }
            }
        }
        team.run(pass)
        var passes = 0
        let start = Stopwatch.now()
        var elapsed = 0.0
        while elapsed < seconds {
            team.run(pass)
            passes += 1
            elapsed = Stopwatch.now() - start
        }
        let flop = Double(layout.trainingFLOPPerSample) * Double(batch) * Double(passes)
        return flop / elapsed / 1e9
    }
}
