import COpenBLAS
import Foundation

/// The machine's own limit for a model: the rate at which `sgemm` alone runs the matrix
/// products of one training step (forward, weight gradients, input gradients) at a given local
/// batch, with nothing else in between. Training throughput is quoted as a share of it.
public enum GEMMBenchmark {
    /// GFLOP/s of the step's GEMMs, timed over at least `seconds` after one warm-up pass.
    public static func measure(_ layout: NetworkLayout, batch: Int, seconds: Double = 1) -> Double {
        let width = layout.maxWidth
        let a = alignedFloats(batch * width), b = alignedFloats(batch * width)
        let weights = alignedFloats(layout.parameterCount)
        let gradient = alignedFloats(layout.parameterCount)
        defer { for p in [a, b, weights, gradient] { free(p) } }
        let layers = layout.layers
        let first = layout.encoder[0]
        func pass() {
            for layer in layers {
                let m = Int32(batch), n = Int32(layer.outputs), k = Int32(layer.inputs)
                let w = weights + layer.weightOffset
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, w, n, 0, b, n)
                cblas_sgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1, a, k, b, n, 0,
                    gradient + layer.weightOffset, n)
                if layer != first {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1, b, n, w, n, 0, a, k)
                }
            }
        }
        pass()
        var passes = 0
        let start = Stopwatch.now()
        var elapsed = 0.0
        while elapsed < seconds {
            pass()
            passes += 1
            elapsed = Stopwatch.now() - start
        }
        let flop = Double(layout.trainingFLOPPerSample) * Double(batch) * Double(passes)
        return flop / elapsed / 1e9
    }
}
