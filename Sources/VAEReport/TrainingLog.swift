import Foundation

/// The training log `vae-mpi train` writes (JSON lines, one object per logged step), read back
/// for the report's training curves.
///
/// Each line is an object with an integer `step` and numbers `loss`, `recon` and `kl` (`null`
/// where a value was not finite), and optionally `kl_latents`, the mean KL of each latent.
/// Other keys are ignored. A resumed run appends to the same file, so a line whose step is not
/// after the previous one starts again from there: the points from that step on are replaced.
public struct TrainingLog: Sendable {
    /// One logged step.
    public struct Point: Hashable, Sendable {
        public let step: Int
        public let loss: Double?
        public let reconstruction: Double?
        public let kl: Double?
        /// Mean KL per latent (nats); nil when the line has none.
        public let klLatents: [Double?]?
    }

    public let path: String
    /// The points in step order.
    public let points: [Point]

    /// Where `train` writes a run's log unless `--log` says otherwise, and where `analyze` looks:
    /// `runs/vae.bin` -> `runs/vae.jsonl` (any other name gains `.jsonl`).
    public static func defaultPath(forCheckpoint checkpoint: String) -> String {
        (checkpoint.hasSuffix(".bin") ? String(checkpoint.dropLast(4)) : checkpoint) + ".jsonl"
    }

    /// Reads and parses a log file.
    /// - Parameter lastStep: points after this step (a later checkpoint's) are left out.
    /// - Throws: `ReportError` "path: cannot read" or "path:line: problem".
    public static func read(path: String, lastStep: Int? = nil) throws -> TrainingLog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("\(path): cannot read the training log")
        }
        return try TrainingLog(text: String(decoding: data, as: UTF8.self), path: path, lastStep: lastStep)
    }

    /// Parses the text of a log; `path` names it in errors.
    public init(text: String, path: String, lastStep: Int? = nil) throws {
        self.path = path
        var points: [Point] = []
        var latentCount: (count: Int, line: Int)?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func problem(_ what: String) -> ReportError { ReportError("\(path):\(index + 1): \(what)") }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { throw problem("not a JSON object") }
            guard let step = (object["step"] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
                step >= 0
            else { throw problem("no non-negative integer \"step\"") }
            func number(_ key: String) throws -> Double? {
                switch object[key] {
                case nil, is NSNull: return nil
                case let n as NSNumber: return n.doubleValue
                default: throw problem("\"\(key)\" is not a number")
                }
            }
            var klLatents: [Double?]?
            if let value = object["kl_latents"], !(value is NSNull) {
                guard let array = value as? [Any] else { throw problem("\"kl_latents\" is not an array") }
                klLatents = try array.map { item in
                    if item is NSNull { return nil }
                    guard let n = item as? NSNumber else { throw problem("\"kl_latents\" holds a non-number") }
                    return n.doubleValue
                }
                if let known = latentCount, known.count != array.count {
                    throw problem(
                        "\"kl_latents\" has \(array.count) values, line \(known.line) had \(known.count)")
                }
                latentCount = latentCount ?? (array.count, index + 1)
                if array.isEmpty { klLatents = nil }  // the plain autoencoder's: no KL at all
            }
            let point = Point(
                step: step, loss: try number("loss"), reconstruction: try number("recon"),
                kl: try number("kl"), klLatents: klLatents)
            if let lastStep, step > lastStep { continue }
            while let last = points.last, last.step >= step { points.removeLast() }
            points.append(point)
        }
        self.points = points
    }

    /// The number of latents `kl_latents` gives, nil when no point has a non-empty one.
    public var latentCount: Int? { points.lazy.compactMap { $0.klLatents?.count }.first }
}
