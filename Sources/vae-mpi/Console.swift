import Foundation
import VAECore

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Checks made before any work, so a long run cannot fail at its first save.
enum OutputPath {
    /// Why a file cannot be written at `path`, or nil if it can.
    static func problem(writing path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "is a directory" }
            return access(path, W_OK) == 0 ? nil : "is not writable"
        }
        let directory = (path as NSString).deletingLastPathComponent
        let parent = directory.isEmpty ? "." : directory
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory),
            isDirectory.boolValue
        else { return "directory \(parent) does not exist" }
        return access(parent, W_OK) == 0 ? nil : "directory \(parent) is not writable"
    }
}

/// The JSON-lines training log: one object per logged step. It lives at `--log`, by default
/// `TrainingLog.defaultPath` (VAEReport), where `analyze` reads it back for the curves.
final class LogFile {
    private let handle: FileHandle

    /// Opens `path` for appending, or with `truncating` as an empty file.
    init(path: String, truncating: Bool = false) throws {
        if truncating || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ValidationFailure("cannot open log \(path) for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// One line: the step's loss terms (means over the global batch), `kl_latents` the KL of
    /// each latent, `kl_weight` the KL's weight (`LossConfiguration.klWeight`: beta, gamma or 1,
    /// less during warm-up), `blur` the training images' blur sigma at that step, and for the
    /// objectives that have them `tc` (beta-TCVAE's total-correlation estimate) or `capacity`
    /// (the capacity objective's target C).
    func append(
        _ report: StepReport, klPerLatent: [Double], klWeight: Float, blur: Double,
        samplesPerSecond: Double, ranks: Int
    ) throws {
        let latents = klPerLatent.map(json).joined(separator: ",")
        let line =
            "{\"step\":\(report.step),\"epoch\":\(report.epoch),\"loss\":\(json(report.loss)),"
            + "\"recon\":\(json(report.reconstruction)),\"kl\":\(json(report.kl)),"
            + "\"kl_latents\":[\(latents)],\"kl_weight\":\(json(Double(klWeight))),\"blur\":\(json(blur)),"
            + (report.totalCorrelation.map { "\"tc\":\(json($0))," } ?? "")
            + (report.capacityTarget.map { "\"capacity\":\(json($0))," } ?? "")
            + "\"samples_per_s\":\(json(samplesPerSecond)),\"ranks\":\(ranks)}\n"
        try handle.write(contentsOf: Data(line.utf8))
    }

    private func json(_ x: Double) -> String { x.isFinite ? String(x) : "null" }
}

/// A failure with a message meant for the user as it stands.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Progress on standard error: a live bar on a terminal, plain lines otherwise. Silent on every
/// rank but 0.
struct Progress {
    let enabled: Bool
    let ranks: Int
    let threads: Int
    let totalSteps: Int
    let batchSize: Int
    let live = isatty(STDERR_FILENO) == 1

    private var prefix: String { ranks > 1 ? "[\(ranks) ranks] " : "" }

    func start(_ c: TrainingConfiguration) {
        guard enabled else { return }
        let hidden = c.model.hidden.map(String.init).joined(separator: ",")
        printError(
            "\(prefix)training \(c.model.kind.rawValue.uppercased()) \(c.model.inputSize)-[\(hidden)]-\(c.model.latentDim), "
                + "\(c.images.count) images, batch \(c.batchSize), \(totalSteps) steps "
                + "(\(c.stepsPerEpoch) per epoch), \(c.loss.reconstruction.rawValue) loss, "
                + "\(threads) thread\(threads == 1 ? "" : "s")\(ranks > 1 ? " per rank" : "")"
        )
    }

    /// How the ranks sum their gradients, said once so that a run's log shows the path it took.
    func exchange(sharedMemory: Bool) {
        guard enabled, ranks > 1 else { return }
        printError(
            prefix + "gradients exchanged "
                + (sharedMemory ? "in shared memory" : "by message (reduce-scatter and allgather)"))
    }

    func update(_ r: StepReport, samplesPerSecond: Double) {
        guard enabled else { return }
        let etaSeconds = Double((totalSteps - r.step) * batchSize) / max(samplesPerSecond, 1e-9)
        let tc = r.totalCorrelation.map { String(format: ", tc %.4f", $0) } ?? ""
        let text = String(
            format: "%@epoch %d step %d/%d  loss %.4f (recon %.4f, kl %.4f%@)  %.0f samples/s  ETA %@",
            prefix, r.epoch + 1, r.step, totalSteps, r.loss, r.reconstruction, r.kl, tc,
            samplesPerSecond, formatDuration(etaSeconds))
        if live {
            let width = 24
            let filled = Int(Double(width) * Double(r.step) / Double(max(1, totalSteps)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(text)\u{1B}[K".utf8))
        } else {
            printError(text)
        }
    }

    func finish(trainer: Trainer, elapsed: Double, checkpoint: String) {
        guard enabled else { return }
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
        let t = trainer.timings
        let samples = Double(t.steps * trainer.configuration.batchSize)
        let share = { (x: Double) in t.total > 0 ? 100 * x / t.total : 0 }
        printError(
            String(
                format:
                    "%@done: %d steps in %.1f s, %.0f samples/s; step time: render %.0f%%, compute %.0f%%, allreduce %.0f%%, optimiser %.0f%%; checkpoint %@",
                prefix, trainer.step, elapsed, samples / max(elapsed, 1e-9),
                share(t.render), share(t.compute), share(t.allreduce), share(t.optimizer),
                checkpoint))
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
}
