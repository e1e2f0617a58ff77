import ArgumentParser
import Foundation
import VAEAnalysis
import VAECore
import VAEReport

extension VAEMPI {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show and measure what a model's latent space learned (one report for one or several checkpoints).",
            discussion: """
                Encodes fresh circles (a data seed the training did not use, with the image settings \
                the checkpoint was trained on unless overridden) and writes latents.csv, metrics.json, \
                PNG figures, an animated GIF and report.html. With several checkpoints, each gets a \
                subdirectory and report.html compares them.
                """)

        @Argument(help: "Checkpoint files written by `vae-mpi train`.")
        var checkpoints: [String]

        @Option(help: "Output directory. (default: <checkpoint>-analysis next to the (first) checkpoint)")
        var out: String?

        @Option(
            help: ArgumentHelp(
                "Training log (JSON lines) whose curves the report draws.",
                discussion: "Default: the checkpoint's path with .bin replaced by .jsonl, when that file exists. One checkpoint only; with several, each uses its own."))
        var log: String?

        @OptionGroup var settings: AnalysisOptions

        @Flag(
            help:
                "Also write each model as model.safetensors next to its metrics.json (what `vae-mpi export` writes).")
        var export = false

        func validate() throws {
            if checkpoints.isEmpty { throw ValidationError("give at least one checkpoint") }
            if log != nil, checkpoints.count > 1 {
                throw ValidationError("--log takes one checkpoint; with several, each uses its own <name>.jsonl")
            }
            if let out, let problem = OutputDirectory.problem(out) {
                throw ValidationError("--out \(out): \(problem)")
            }
        }

        func run() throws {
            let directory = out ?? AnalysisRun.defaultDirectory(for: checkpoints)
            let report = try AnalysisRun.run(
                checkpoints: checkpoints, directory: directory,
                options: settings, log: log, export: export)
            print(report)
        }
    }
}

/// The analysis settings `analyze` takes beyond its paths.
struct AnalysisOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Circles to encode.")
    var samples: Int = 4000

    @Option(
        parsing: .unconditional,
        help: "Data seed of the circles. (default: the training's data seed + 1, never seen in training)")
    var seed: UInt64?

    @Option(
        parsing: .unconditional,
        help: "Bins per variable for the mutual information gap (disentanglement_lib uses 20).")
    var bins: Int = MutualInformation.defaultBins

    @OptionGroup var imageOptions: ImageOptions

    func validate() throws {
        if samples < 10 || samples > 1_000_000 {
            throw ValidationError("samples must be in 10...1000000, got \(samples)")
        }
        if bins < 2 || bins > 1000 { throw ValidationError("bins must be in 2...1000, got \(bins)") }
    }

    /// The analysis settings for a checkpoint trained with `trained`.
    /// - Throws: `ValidationError` (a usage error, exit 64) when the overridden images cannot be
    ///   drawn for this model.
    func settings(for trained: TrainingConfiguration) throws -> LatentAnalysis.Settings {
        var check = trained
        let images: ImageConfiguration
        do {
            images = try imageOptions.apply(to: trained.images)
            check.images = images
            check.images.count = samples
            check.batchSize = 1
            // The analysis encodes single images: the objective (Ada-GVAE's pairs) has no say.
            check.loss.objective = .elbo
            check.loss.pairChanges = nil
            try check.validate()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        var s = LatentAnalysis.Settings()
        s.samples = samples
        s.seed = seed
        s.bins = bins
        s.images = images
        return s
    }
}

/// `train`'s switch for the analysis it runs at the end (rank 0 writes what
/// `analyze <checkpoint>` would write).
struct TrainingAnalysisOptions: ParsableArguments {
    @Flag(help: "Do not write the latent analysis next to the final checkpoint.")
    var noAnalysis = false
}

/// Loading checkpoints, analysing them and writing the report, with progress on stderr.
enum AnalysisRun {
    /// `<dir>/<name>-analysis` for one checkpoint; for several, next to the first, named after
    /// up to three of them (`a-vs-b-analysis`) or `comparison-analysis`.
    static func defaultDirectory(for checkpoints: [String]) -> String {
        let names = reportNames(for: checkpoints)
        let parent = (checkpoints[0] as NSString).deletingLastPathComponent
        let name = names.count <= 3 ? names.joined(separator: "-vs-") + "-analysis" : "comparison-analysis"
        return parent.isEmpty ? name : (parent as NSString).appendingPathComponent(name)
    }

    /// Analyses the checkpoints and writes the report; returns the path of report.html.
    /// - Parameters:
    ///   - log: the training log of the (single) checkpoint; nil: each checkpoint's default log
    ///     (`TrainingLog.defaultPath`), when it exists.
    ///   - export: also write each model's safetensors file (`exportPath`).
    ///   - verbose: progress on stderr; off, only errors and notes speak.
    @discardableResult
    static func run(
        checkpoints: [String], directory: String, options: AnalysisOptions, log: String? = nil,
        export: Bool = false, verbose: Bool = true
    ) throws -> String {
        let start = Date()
        let progress = { (message: String) in
            guard verbose else { return }
            printError(String(format: "analyze [%4.1f s] %@", Date().timeIntervalSince(start), message))
        }
        let names = reportNames(for: checkpoints)
        var records: [AnalysisRecord] = []
        for (path, name) in zip(checkpoints, names) {
            let checkpoint: Checkpoint
            do {
                checkpoint = try CheckpointCodec.read(from: path)
            } catch let error as CheckpointError {
                throw ValidationFailure(error.description)  // already "path: problem"
            } catch {
                throw ValidationFailure("\(path): not a readable checkpoint")
            }
            let settings = try options.settings(for: checkpoint.configuration)
            let trainingLog = try readLog(
                log ?? TrainingLog.defaultPath(forCheckpoint: path), required: log != nil,
                lastStep: checkpoint.step)
            if let seed = settings.seed, seed == checkpoint.configuration.images.seed {
                printError(
                    "analyze: note: --seed \(seed) is \(name)'s training data seed, so these circles include training images"
                )
            }
            progress(
                "\(name): \(checkpoint.configuration.model.kind.rawValue.uppercased()) at step \(checkpoint.step)"
            )
            let analysis = LatentAnalysis(model: LatentModel(checkpoint: checkpoint), settings: settings) {
                progress("\(name): \($0)")
            }
            records.append(
                AnalysisRecord(analysis: analysis, name: name, checkpointPath: path, log: trainingLog))
            progress("\(name): \(analysis.finding.sentence)")
            if export {
                let file = exportPath(directory: directory, name: checkpoints.count == 1 ? nil : name)
                try FileManager.default.createDirectory(
                    atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try ModelExportFile.write(checkpoint, to: file)
                progress("\(name): wrote \(file)")
            }
        }
        let report: String
        do {
            report =
                records.count == 1
                ? try ReportWriter.write(records[0], to: directory, progress: progress)
                : try ReportWriter.writeComparison(records, to: directory, progress: progress)
        } catch let error as ReportError {
            throw ValidationFailure(error.description)
        }
        progress("wrote \(report)")
        return report
    }
}

extension AnalysisRun {
    /// `model.safetensors` next to the model's metrics.json: in `directory`, or in its
    /// subdirectory `name` when the report compares several checkpoints.
    static func exportPath(directory: String, name: String?) -> String {
        let folder = name.map { (directory as NSString).appendingPathComponent($0) } ?? directory
        return (folder as NSString).appendingPathComponent("model.safetensors")
    }

    /// The training log at `path` up to `lastStep`; nil when it does not exist and was not asked
    /// for by name.
    /// - Throws: `ValidationFailure` naming the file (and line) when it cannot be read or parsed.
    static func readLog(_ path: String, required: Bool, lastStep: Int) throws -> TrainingLog? {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !exists || isDirectory.boolValue {
            guard required else { return nil }
            throw ValidationFailure("--log \(path): \(exists ? "is a directory" : "no such file")")
        }
        do {
            return try TrainingLog.read(path: path, lastStep: lastStep)
        } catch let error as ReportError {
            throw ValidationFailure("training log \(error.description)")
        }
    }
}

/// Checks on an output directory made before any work.
enum OutputDirectory {
    /// Why `path` cannot be (created and) written as a directory, or nil if it can.
    static func problem(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { return "is a file, not a directory" }
            return access(path, W_OK) == 0 ? nil : "is not writable"
        }
        // createDirectory makes the missing parents too: the nearest existing one must do.
        var ancestor = path
        repeat {
            ancestor = (ancestor as NSString).deletingLastPathComponent
            if ancestor.isEmpty { ancestor = "." }
        } while !FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory)
        if !isDirectory.boolValue { return "cannot be created: \(ancestor) is not a directory" }
        return access(ancestor, W_OK) == 0 ? nil : "cannot be created: \(ancestor) is not writable"
    }
}
