import ArgumentParser
import VAECore

@main
struct VAEMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-mpi",
        abstract: "Train variational autoencoders on circle images, data-parallel over MPI.",
        subcommands: [Train.self, Sweep.self, Bench.self, Analyze.self, Export.self]
    )

    static func main() {
        // Training runs its own worker threads, each with single-threaded products; `analyze`
        // does too, so that it computes the same bits as the analysis at the end of `train`.
        GEMM.useOneThreadHere()
        // Every thread that computes flushes subnormals (SubnormalFlush says why): this one
        // from the start, for training, the analysis and the benchmark alike.
        SubnormalFlush.enable()
        main(nil)
    }
}
