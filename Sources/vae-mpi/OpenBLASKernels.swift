import Foundation

/// OpenBLAS (built for every x86-64 CPU, as Debian's is) picks its kernels once, when it loads,
/// from the CPU model or from the `OPENBLAS_CORETYPE` environment variable. On AMD Zen 4 it picks
/// its AVX-512 "Cooperlake" kernels, but Zen 4 runs each 512-bit FMA as two 256-bit halves, and
/// its AVX2 "Haswell" kernels train this workload 5-8 % faster there (docs/performance.md). The
/// library is loaded before `main` runs, so the choice is made by starting the program again.
enum OpenBLASKernels {
    /// On Zen 4, with no `OPENBLAS_CORETYPE` set: sets it to Haswell and re-executes this
    /// program (same process, same arguments), so every rank of `mpirun` does the same. A user's
    /// own `OPENBLAS_CORETYPE` always wins; if the re-execution fails, the run goes on with
    /// OpenBLAS's own choice.
    static func preferFasterKernels() {
        guard getenv("OPENBLAS_CORETYPE") == nil, isZen4() else { return }
        setenv("OPENBLAS_CORETYPE", "Haswell", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// AMD family 19h (Zen 3 and Zen 4) with AVX-512, which only Zen 4 has.
    private static func isZen4() -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        let firstCPU = info.split(separator: "\n\n", maxSplits: 1).first ?? ""
        var fields: [String: String] = [:]
        for line in firstCPU.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(
                in: .whitespaces)
        }
        return fields["vendor_id"] == "AuthenticAMD" && fields["cpu family"] == "25"
            && (fields["flags"] ?? "").split(separator: " ").contains("avx512f")
    }
}
