import CDNNL

/// The step's matrix products, through oneDNN's `sgemm`.
///
/// Why oneDNN and not a BLAS: on this model's shapes (at most 784 x 512, 32 to 128 rows) its
/// `sgemm` runs 7-13 % faster than OpenBLAS's on the 2-core Zen 4 this was tuned on (side by
/// side: docs/performance.md, docs/gemm-libraries.c), and it picks the CPU's best kernels (AVX2,
/// AVX-512) itself when it loads.
public enum GEMM {
    /// C = op(A) op(B), overwriting C [m, n], where op transposes or not. Row-major, leading
    /// dimensions as stored.
    @inline(__always)
    static func multiply(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int,
        transposingA: Bool = false, transposingB: Bool = false
    ) {
        let status = dnnl_sgemm(
            transposingA ? transposed : plain, transposingB ? transposed : plain,
            Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), b, Int64(ldb), 0, c, Int64(ldc))
        precondition(status == dnnl_success, "oneDNN sgemm refused \(m)x\(n)x\(k): status \(status)")
    }

    private static let plain = CChar(UInt8(ascii: "N"))
    private static let transposed = CChar(UInt8(ascii: "T"))

    /// Makes the products called from this thread run on this thread alone. Workers make their
    /// calls side by side, one per core, and threads of the library's own inside them would
    /// oversubscribe. (The setting is OpenMP's, and OpenMP keeps it per thread.)
    public static func useOneThreadHere() {
        if threadsHere != 1 { omp_set_num_threads(1) }
    }

    /// Runs `body` with the products called from this thread on this thread alone, then gives
    /// the caller's thread count back: for threads borrowed from a library caller, whose
    /// OpenMP threads would not flush subnormals (`SubnormalFlush`).
    public static func onThisThreadAlone<R>(_ body: () throws -> R) rethrows -> R {
        let threads = threadsHere
        useOneThreadHere()
        defer { if threads != 1 { omp_set_num_threads(Int32(threads)) } }
        return try body()
    }

    /// How many threads a product called from this thread would use.
    public static var threadsHere: Int { Int(omp_get_max_threads()) }

    /// The library and the instruction set it chose, e.g. "oneDNN 2.6.3 avx512_core_bf16", for
    /// the benchmark's header and summary.
    public static var implementation: String {
        let version = dnnl_version().pointee
        return "oneDNN \(version.major).\(version.minor).\(version.patch) \(isaName)"
    }

    private static var isaName: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case let other: return "isa 0x\(String(other.rawValue, radix: 16))"
        }
    }
}
