import ArgumentParser
import VAECore

@main
struct VAEMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-mpi",
        abstract: "Train variational autoencoders on circle images, data-parallel over MPI.",
        subcommands: [Train.self, Bench.self, Analyze.self]
    )

    static func main() {
        OpenBLASKernels.preferFasterKernels()
        main(nil)
    }
}
