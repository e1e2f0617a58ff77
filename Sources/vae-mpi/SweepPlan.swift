import ArgumentParser
import Foundation
import VAECore
import VAEReport

/// What a sweep trains: the grid's configurations, each at every seed, and where each run's
/// files go. Built on every rank from the command line alone, before MPI starts, so every rank
/// holds the same plan and a bad `--seeds` or `--grid` stops the job before any work.
struct SweepPlan {
    /// One point of the grid: the sweep's train flags with the grid's values on top.
    struct Configuration {
        /// File-name-safe, unique: `beta=4,model=ae`, or `base` without a grid.
        let name: String
        let axes: [(key: String, value: String)]
        /// Without the seed, which each run sets.
        let training: TrainingConfiguration
    }

    /// One configuration at one seed, in `out/runs/<configuration>-seed<S>/`.
    struct Run {
        let configuration: Int
        let seed: UInt64
        let training: TrainingConfiguration
        /// Relative to the sweep's directory.
        let directory: String
        let out: String

        var name: String { (directory as NSString).lastPathComponent }
        var path: String { (out as NSString).appendingPathComponent(directory) }
        var checkpoint: String { (path as NSString).appendingPathComponent("checkpoint.bin") }
        /// Where `train` puts a checkpoint's log, and `analyze` looks for it.
        var log: String { TrainingLog.defaultPath(forCheckpoint: checkpoint) }
        /// Where the training's own analysis goes (as `train` puts it next to its checkpoint).
        var analysis: String { AnalysisRun.defaultDirectory(for: [checkpoint]) }
        var metrics: String { (out as NSString).appendingPathComponent(relativeMetrics) }
        /// The analysis's metrics.json, relative to the sweep's directory.
        var relativeMetrics: String {
            let analysis = AnalysisRun.defaultDirectory(for: [
                (directory as NSString).appendingPathComponent("checkpoint.bin")
            ])
            return (analysis as NSString).appendingPathComponent("metrics.json")
        }
    }

    let configurations: [Configuration]
    /// Configuration by configuration, each seed in `--seeds` order.
    let runs: [Run]
    let out: String

    /// Runs beyond this are refused (a typo such as `0-99999` would otherwise plan for hours).
    static let maximumRuns = 10_000

    /// - Throws: `ValidationError` naming the first bad `--seeds`, `--grid` or configuration.
    init(options: TrainingOptions, seeds: String, grid: String?, ranksPerRun: Int, out: String) throws {
        if let seed = options.seed {
            throw ValidationError("--seed \(seed): a sweep's seeds are given by --seeds")
        }
        let seedList = try Self.seeds(seeds)
        let axes = try Self.grid(grid ?? "")
        // Each value alone first, so an error names the value that caused it.
        for axis in axes {
            for value in axis.values {
                _ = try Self.parse(
                    try Self.arguments(key: axis.key, value: value), point: [(axis.key, value)])
            }
        }
        var points: [[(key: String, value: String)]] = [[]]
        for axis in axes {
            points = points.flatMap { point in axis.values.map { point + [(axis.key, $0)] } }
        }
        guard points.count * seedList.count <= Self.maximumRuns else {
            throw ValidationError(
                "\(points.count) configurations x \(seedList.count) seeds is more than \(Self.maximumRuns) runs"
            )
        }
        var configurations: [Configuration] = []
        var names = Set<String>()
        for point in points {
            let name = Self.name(point)
            guard names.insert(name).inserted else {
                throw ValidationError("--grid: two configurations would share the directory name \(name)")
            }
            let training = try Self.configuration(options, point, name: name, ranks: ranksPerRun)
            configurations.append(Configuration(name: name, axes: point, training: training))
        }
        self.configurations = configurations
        self.out = out
        runs = configurations.enumerated().flatMap { index, c in
            seedList.map { seed in
                var training = c.training
                training.seed = seed
                return Run(
                    configuration: index, seed: seed, training: training,
                    directory: "runs/\(c.name)-seed\(seed)", out: out)
            }
        }
    }

    /// `0-9`, `0,3,5`, `0-4,8`: seeds in the order given, each once.
    static func seeds(_ text: String) throws -> [UInt64] {
        func fail(_ problem: String) -> ValidationError { ValidationError("--seeds \(text): \(problem)") }
        var seeds: [UInt64] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = bounds.first.flatMap({ UInt64($0) }),
                let last = bounds.last.flatMap({ UInt64($0) })
            else {
                throw fail("'\(part)' is not a seed or a range such as 0-9 (seeds are whole numbers >= 0)")
            }
            guard first <= last else { throw fail("the range \(part) runs backwards") }
            guard last - first < UInt64(maximumRuns) else { throw fail("more than \(maximumRuns) seeds") }
            for seed in first...last {
                guard !seeds.contains(seed) else { throw fail("seed \(seed) is given twice") }
                seeds.append(seed)
            }
            guard seeds.count <= maximumRuns else { throw fail("more than \(maximumRuns) seeds") }
        }
        return seeds
    }

    /// `key=v1,v2 key2=w1,w2`: axes separated by spaces, values by commas, or by `|` where a
    /// value holds commas itself (`hidden=512,256|64`). Keys are train flags without `--`.
    static func grid(_ text: String) throws -> [(key: String, values: [String])] {
        var axes: [(key: String, values: [String])] = []
        for axis in text.split(whereSeparator: \.isWhitespace) {
            func fail(_ problem: String) -> ValidationError { ValidationError("--grid \(axis): \(problem)") }
            guard let equals = axis.firstIndex(of: "="), equals != axis.startIndex else {
                throw fail("an axis is key=value1,value2 (a train flag without --, then its values)")
            }
            let key = String(axis[..<equals])
            let list = axis[axis.index(after: equals)...]
            let values = list.split(
                separator: list.contains("|") ? "|" : ",", omittingEmptySubsequences: false
            )
            .map(String.init)
            guard !values.contains("") else { throw fail("an empty value") }
            if key.hasPrefix("-") { throw fail("give the key without dashes: \(key.drop { $0 == "-" })=...") }
            if key == "seed" { throw fail("the seeds are given by --seeds") }
            if axes.contains(where: { $0.key == key }) { throw fail("\(key) is a grid axis twice") }
            if let repeated = values.first(where: { v in values.filter { $0 == v }.count > 1 }) {
                throw fail("\(repeated) is listed twice")
            }
            axes.append((key, values))
        }
        return axes
    }

    /// The sweep's train flags with the grid point's on top, through train's own parser: the
    /// preset first (the grid's, else the sweep's), then the sweep's flags, then the grid's.
    static func configuration(
        _ options: TrainingOptions, _ point: [(key: String, value: String)], name: String, ranks: Int
    ) throws -> TrainingConfiguration {
        let flags = try point.map { try arguments(key: $0.key, value: $0.value) }
        let grid = try parse(flags.flatMap { $0 }, point: point)
        do {
            let preset = (grid.preset ?? options.preset ?? .standard).rawValue
            let base = try parse(["--preset", preset], point: point).configuration()
            let c = try grid.configuration(base: try options.configuration(base: base))
            try c.validate(ranks: ranks)
            return c
        } catch let error as ConfigurationError {
            throw ValidationError(point.isEmpty ? error.description : "configuration \(name): \(error)")
        }
    }

    /// The train flags for `key=value`: `--key value`, or for a true/false switch `--key` or
    /// `--no-key` (when `--key value` does not parse).
    private static func arguments(key: String, value: String) throws -> [String] {
        let option = ["--\(key)", value]
        guard (try? TrainingOptions.parse(option)) == nil, value == "true" || value == "false" else {
            return option
        }
        let flag = [value == "true" ? "--\(key)" : "--no-\(key)"]
        return (try? TrainingOptions.parse(flag)) != nil ? flag : option
    }

    /// `TrainingOptions.parse`, its error in train's words, prefixed with the grid point.
    private static func parse(_ arguments: [String], point: [(key: String, value: String)]) throws
        -> TrainingOptions
    {
        do {
            return try TrainingOptions.parse(arguments)
        } catch {
            let message = TrainingOptions.message(for: error)
            let label = point.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            throw ValidationError("--grid \(label): \(message)")
        }
    }

    /// The directory name of a grid point: `key=value` pairs joined by commas, with any
    /// character other than letters, digits and `.:+-` in a value made `_`.
    static func name(_ point: [(key: String, value: String)]) -> String {
        guard !point.isEmpty else { return "base" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:+-")
        let safe = { (s: String) in String(s.map { allowed.contains($0) ? $0 : "_" }) }
        return point.map { "\(safe($0.key))=\(safe($0.value))" }.joined(separator: ",")
    }
}
