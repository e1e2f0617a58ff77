// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vae-mpi",
    products: [
        .executable(name: "vae-mpi", targets: ["vae-mpi"]),
        .library(name: "VAECore", targets: ["VAECore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        // System libraries, installed by Launch/setup.
        // oneDNN for the matrix products (headers in /usr/include, no pkg-config file).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) as functions Swift can call.
        .target(name: "_MPIShims", dependencies: ["CMPI"]),
        .systemLibrary(name: "CGD", pkgConfig: "gdlib", providers: [.apt(["libgd-dev"])]),

        // What Swift cannot say for Adam: the floating-point control register (flush-to-zero) and
        // a vector square root (Swift's SIMD squareRoot runs lane by lane).
        .target(name: "_VAECoreShims"),

        // The pure-Swift core: data, model, losses, Adam, training loop, checkpoint. No MPI.
        .target(
            name: "VAECore",
            dependencies: ["CDNNL", "CZlib", "_VAECoreShims"]
        ),

        // The MPI layer: the only Swift code that imports MPI.
        .target(
            name: "VAEDistributed",
            dependencies: ["VAECore", "CMPI", "_MPIShims"]
        ),

        // What the latent space learned: sampling, encoding and the metrics. Pure Swift, no I/O.
        .target(name: "VAEAnalysis", dependencies: ["VAECore"]),

        // Figures (PNG and animated GIF through libgd) and the HTML report of an analysis.
        .target(name: "VAEReport", dependencies: ["VAEAnalysis", "CGD"]),

        // The command-line tool: argument parsing and error reporting only.
        .executableTarget(
            name: "vae-mpi",
            dependencies: [
                "VAECore",
                "VAEDistributed",
                "VAEReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test-only: counts heap allocations, to prove the training step makes none.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(name: "VAECoreTests", dependencies: ["VAECore", "CDNNL", "AllocationCounter"]),
        // Test-only: runs the built binary with a deadline (CLI and analysis tests).
        .target(name: "BinaryTesting", path: "Tests/BinaryTesting"),
        .testTarget(name: "CLITests", dependencies: ["vae-mpi", "BinaryTesting"]),
        // Launches the built binary under mpirun: determinism across rank counts, failure paths.
        .testTarget(name: "VAEDistributedTests", dependencies: ["VAECore", "vae-mpi"]),
        // A one-machine Slurm cluster and test hosts in network namespaces, started by
        // Launch/cluster's scripts: sbatch, scancel, several hosts over TCP, a cut link.
        .testTarget(name: "ClusterTests", dependencies: ["VAECore", "vae-mpi"]),
        .testTarget(
            name: "VAEAnalysisTests",
            dependencies: ["VAEAnalysis", "VAEReport", "CGD", "vae-mpi", "BinaryTesting"]),
    ],
    swiftLanguageModes: [.v5]
)
