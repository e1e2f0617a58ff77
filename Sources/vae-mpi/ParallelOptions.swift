import ArgumentParser

/// How a rank spreads its work: the flags `train` and `bench` share.
struct ParallelOptions: ParsableArguments {
    @Option(
        name: [.customLong("threads"), .customLong("blas-threads")], parsing: .unconditional,
        help: """
            Worker threads per rank, each training on its share of the rank's batch with \
            single-threaded matrix products (--blas-threads is the older name). (default: the rank's share \
            of this machine's cores: 1 when the ranks fill them, every core alone)
            """)
    var threads: Int?

    @Flag(
        inversion: .prefixedNo,
        help: """
            Ranks on one machine sum gradients, and swap updated parameters, in memory they \
            all map; --no-shared-memory exchanges them by message (reduce-scatter and \
            allgather), as ranks on different machines do.
            """)
    var sharedMemory = true

    func validate() throws {
        if let threads, !(1...256).contains(threads) {
            throw ValidationError("threads must be in 1...256, got \(threads)")
        }
    }
}
