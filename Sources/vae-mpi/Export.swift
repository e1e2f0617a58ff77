import ArgumentParser
import Foundation
import VAECore

extension VAEMPI {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a checkpoint's model as a .safetensors file that PyTorch, JAX and numpy load.",
            discussion: """
                The tensors are the state_dict of the PyTorch module docs/export.md gives in full \
                (encoder.0.weight, ... in PyTorch's [out, in] layout); __metadata__ holds the model, \
                world and training settings as JSON text. Written atomically, as the checkpoint is.
                """)

        @Argument(help: "A checkpoint written by `vae-mpi train`.")
        var checkpoint: String

        @Option(help: "The file to write. (default: the checkpoint's path with .safetensors for .bin)")
        var out: String?

        func validate() throws {
            if let problem = OutputPath.problem(writing: path) {
                throw ValidationError("--out \(path): \(problem)")
            }
        }

        var path: String { out ?? ModelExportFile.defaultPath(forCheckpoint: checkpoint) }

        func run() throws {
            let saved: Checkpoint
            do {
                saved = try CheckpointCodec.read(from: checkpoint)
            } catch let error as CheckpointError {
                throw ValidationFailure(error.description)  // already "path: problem"
            }
            try ModelExportFile.write(saved, to: path)
            print(path)
        }
    }
}

/// Writing a model's safetensors file, for `export`, `analyze --export` and `sweep --export`.
enum ModelExportFile {
    /// `model.bin` -> `model.safetensors`; any other name gains `.safetensors`.
    static func defaultPath(forCheckpoint path: String) -> String {
        let stem = path.hasSuffix(".bin") ? String(path.dropLast(4)) : path
        return stem + ".safetensors"
    }

    /// Encodes `checkpoint`'s model, checks that the bytes read back to the same parameters,
    /// and writes them atomically.
    /// - Throws: `ValidationFailure` naming the path and the problem.
    static func write(_ checkpoint: Checkpoint, to path: String) throws {
        do {
            let bytes = try Safetensors.encode(try ModelExport.file(checkpoint))
            let back = try ModelExport.parameters(
                from: try Safetensors.decode(bytes), layout: checkpoint.layout)
            guard back.map(\.bitPattern) == checkpoint.parameters.map(\.bitPattern) else {
                throw ValidationFailure(
                    "\(path): the export does not read back to the checkpoint's parameters")
            }
            try AtomicFile.write(bytes, to: path)
        } catch let error as CheckpointError {
            throw ValidationFailure(error.description)
        } catch let error as SafetensorsError {
            throw ValidationFailure("\(path): \(error)")
        } catch let error as EncodingError {
            throw ValidationFailure("\(path): cannot encode the settings: \(error)")
        }
    }
}
