/// The memory one rank's training takes at its peak, from the sizes `Trainer` and
/// `Autoencoder` allocate (docs/memory.md), so that a run too large for the machine is refused
/// before it allocates instead of ending in a trap or the kernel's OOM killer.
///
/// In 4-byte floats, with P parameters, T worker threads in the rank, R ranks, N images and
/// c_w the samples worker w computes (its share of the rank's batch, at least 1):
///
///     buffers      shared memory (one rank, or ranks on one machine): 2 T P,
///                  two per worker, swapping parameters and gradient every step;
///                  messages: T P + P + P / R (the workers' gradients, the rank's parameters,
///                  its block of the summed gradient)
///     optimizer    2 P (Adam's moments)
///     workspaces   sum over w of c_w x (2 sum(hidden) + 2 head + 2 input + 5 latent + 2 widest + 1):
///                  every layer's output, z, its noise and sigma, dL/dz, dL/dhead, two delta
///                  buffers of the widest layer, a column of ones, the images and their noise
///                  (Ada-GVAE: + 2 latent, each row's pair weights and its pair's shared flags,
///                  rounded up; c_w then counts whole pairs);
///                  plus T (input + 2 ceil(3 blur sigma) + 1 + 2 latent): each worker's blur
///                  scratch image and kernel, and its KL per latent (doubles)
///     permutation  N (the epoch's order, 32-bit indices)
///     checkpoint   4 P: a checkpoint's copy of the parameters and its 3 P encoded floats
///
/// Reading a checkpoint to resume peaks at about 8 P, before the trainer exists, which is no
/// more than the total. Small fixed allocations (the runtime, oneDNN's packing buffers, MPI's
/// own) are left out.
public struct MemoryEstimate: Sendable, Equatable {
    /// Bytes of the workers' parameter and gradient buffers (shared windows included).
    public let buffers: Int
    /// Bytes of Adam's two moments.
    public let optimizer: Int
    /// Bytes of the workers' activations, deltas, images and noise.
    public let workspaces: Int
    /// Bytes of the epoch permutation.
    public let permutation: Int
    /// Bytes a checkpoint in flight adds.
    public let checkpoint: Int

    /// All of it: what the rank needs.
    public var total: Int { saturatingSum([buffers, optimizer, workspaces, permutation, checkpoint]) }

    /// The estimate for `rank` of `ranks`, with `threads` workers; `sharedMemory` as asked of
    /// the trainer (ignored for one rank, which always sums in its own memory).
    public init(
        configuration c: TrainingConfiguration, ranks: Int = 1, rank: Int = 0, threads: Int,
        sharedMemory: Bool = true
    ) {
        let float = MemoryLayout<Float>.size
        let p = c.model.parameterCount
        let shared = ranks == 1 || sharedMemory
        // This rank's block of `BlockPartition`: whole 16-float lines, the last rank the rest.
        let block =
            16 * contiguousShare(of: p / 16, rank: rank, size: ranks).count
            + (rank == ranks - 1 ? p % 16 : 0)
        buffers = saturatingProduct([
            float,
            shared
                ? saturatingProduct([2, threads, p])
                : saturatingSum([saturatingProduct([threads, p]), p, block]),
        ])
        optimizer = saturatingProduct([float, 2, p])
        let m = c.model
        let head = m.encoderOutputSize
        var widest = ([m.inputSize, head, m.latentDim] + m.hidden).max() ?? 0
        // The decoder's activations and the ones vector of its bias gradients per sample, and
        // the broadcast decoder's per-worker table of the pixels' coordinate products.
        var decoder = saturatingSum([saturatingSum(m.hidden), m.inputSize, 1])
        var perWorkerDecoder = 0
        if case .spatialBroadcast(let widths) = m.decoder {
            let pixels = m.inputSize, first = widths.first ?? 0
            let widestLayer = max(m.latentDim + 2, widths.max() ?? 0)
            widest = max(widest, saturatingProduct([pixels, widestLayer]))
            decoder = saturatingSum([
                saturatingProduct([pixels, saturatingSum(widths + [1])]), pixels, 2 * first,
            ])
            perWorkerDecoder = saturatingSum([saturatingProduct([2, pixels, first]), 2 * pixels])
        }
        let perSample = saturatingSum([
            saturatingSum(m.hidden), 2 * head, m.inputSize, 5 * m.latentDim,
            saturatingProduct([2, widest]), decoder, c.loss.objective == .adaGVAE ? 2 * m.latentDim : 0,
        ])
        let unit = c.loss.objective == .adaGVAE ? 2 : 1
        let rankShare = contiguousShare(of: c.batchSize / unit, rank: rank, size: ranks).count
        let samples = (0..<threads).reduce(0) {
            $0 + max(1, unit * contiguousShare(of: rankShare, rank: $1, size: threads).count)
        }
        // Per worker besides: the blur's scratch image and kernel, and the KL per latent
        // (doubles, two floats each).
        let perWorker =
            m.inputSize + 2 * GaussianBlur.radius(sigma: min(max(0, c.blur.sigma), Double(c.images.side))) + 1
            + 2 * m.latentDim + perWorkerDecoder
        workspaces = saturatingProduct([
            float,
            saturatingSum([
                saturatingProduct([samples, perSample]), saturatingProduct([threads, perWorker]),
            ]),
        ])
        permutation = saturatingProduct([MemoryLayout<Int32>.size, c.images.count])
        checkpoint = saturatingProduct([float, 4, p])
    }

    /// "1.5 GiB", "12.0 MiB", "800 KiB": binary units, as `free -h` prints them.
    public static func format(bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) bytes" }
        return value >= 100
            ? "\(Int(value.rounded())) \(units[unit])" : "\((value * 10).rounded() / 10) \(units[unit])"
    }

    /// "buffers 2.0 GiB, Adam moments 1.0 GiB, ...": the parts, for `bench`.
    public var parts: String {
        [
            ("parameter and gradient buffers", buffers), ("Adam moments", optimizer),
            ("workspaces", workspaces), ("permutation", permutation), ("checkpoint", checkpoint),
        ].map { "\($0.0) \(MemoryEstimate.format(bytes: $0.1))" }.joined(separator: ", ")
    }
}

/// Products and sums of sizes that stop at `Int.max` rather than trap: an absurd model must
/// reach the memory check, which then refuses it.
private func saturatingProduct(_ factors: [Int]) -> Int {
    var result = 1
    for factor in factors {
        let (product, overflow) = result.multipliedReportingOverflow(by: factor)
        if overflow { return .max }
        result = product
    }
    return result
}

private func saturatingSum(_ terms: [Int]) -> Int {
    var result = 0
    for term in terms {
        let (sum, overflow) = result.addingReportingOverflow(term)
        if overflow { return .max }
        result = sum
    }
    return result
}
