import ArgumentParser
import Foundation
import VAEAnalysis
import VAECore
import VAEDistributed
import VAEReport

extension VAEMPI {
    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Train every configuration of a grid at every seed, in groups of ranks, and write one study report.",
            discussion: """
                The job's ranks split into groups of --ranks-per-run; each group trains its share \
                of the runs data-parallel, as `train` would, into --out/runs/<configuration>-seed<S>/ \
                (checkpoint.bin, checkpoint.jsonl, checkpoint-analysis/). Rank 0 then writes study.html, \
                study.csv, study.json and study.png in --out. Run again after an interruption: \
                finished runs are skipped, a run stopped midway continues from its checkpoint. \
                See docs/sweep.md.
                """)

        @Option(help: "Seeds of the runs (each run's --seed): 0-9, 0,3,5 or 0-4,8.")
        var seeds: String

        @Option(
            help: """
                Axes of the grid, space-separated: key=value1,value2 where key is a train flag \
                without -- (beta=1,4 model=vae,ae); values holding commas are separated by | \
                (hidden=512,256|64). The configurations are every combination. (default: one, \
                the flags given)
                """)
        var grid: String?

        @Option(help: "Ranks that train each run together; the job's ranks must be a multiple.")
        var ranksPerRun: Int = 1

        @Option(help: "Directory of the study and of every run's files.")
        var out: String = "sweep"

        @Option(help: "Log every this many steps (and at each epoch's end) in each run's checkpoint.jsonl.")
        var logEvery: Int = 10

        @OptionGroup var options: TrainingOptions

        @OptionGroup var parallel: ParallelOptions

        func validate() throws {
            if ranksPerRun < 1 { throw ValidationError("ranks-per-run must be positive, got \(ranksPerRun)") }
            if logEvery <= 0 { throw ValidationError("log-every must be positive, got \(logEvery)") }
            if let problem = OutputDirectory.problem(out) {
                throw ValidationError("--out \(out): \(problem)")
            }
            _ = try plan()
        }

        func plan() throws -> SweepPlan {
            try SweepPlan(options: options, seeds: seeds, grid: grid, ranksPerRun: ranksPerRun, out: out)
        }

        func run() throws {
            // Before MPI's start-up, so that every thread it starts blocks the stop signals too.
            StopSignal.install()
            let plan = try plan()
            var interruption: Int32? = nil
            try runJob(threads: parallel.threads) { world, threads in
                interruption = try SweepJob(
                    plan: plan, ranksPerRun: ranksPerRun, logEvery: logEvery,
                    sharedMemory: parallel.sharedMemory
                ).run(world: world, threads: threads)
            }
            if let interruption { throw ExitCode(128 + interruption) }
        }
    }
}

/// A run's failure, named by its run. Only its group knows of it, so the job aborts.
struct SweepRunError: Error, CustomStringConvertible {
    let run: String
    let error: Error
    var description: String { "run \(run): \(error)" }
}

/// The sweep on the job's ranks: split into groups, train each group's runs, gather the study.
struct SweepJob {
    let plan: SweepPlan
    let ranksPerRun: Int
    let logEvery: Int
    let sharedMemory: Bool

    /// Where a run stands, from its files.
    enum State: UInt8 {
        /// No checkpoint: train from the start.
        case untrained
        /// A checkpoint before the last step: continue from it.
        case partial
        /// Trained to the end but not analysed: analyse only.
        case trained
        /// Trained and analysed: skip.
        case finished
    }

    /// Every rank's part. Returns the signal that stopped the sweep, or nil once rank 0 has
    /// written the study.
    func run(world: MPICommunicator, threads: Int) throws -> Int32? {
        guard world.size % ranksPerRun == 0 else {
            throw ConfigurationError(
                "--ranks-per-run \(ranksPerRun) does not divide the job's ranks (\(world.size))")
        }
        let groups = world.size / ranksPerRun
        // Neighbouring ranks form a group: mpirun places them on the same machine first.
        let group = try world.split(color: world.rank / ranksPerRun, key: world.rank)
        let states = try agreedStates(world)
        let pending = plan.runs.indices.filter { states[$0] != .finished }
        if world.isRoot {
            func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
            let seeds = plan.runs.count / max(1, plan.configurations.count)
            let continuing = pending.filter { states[$0] == .partial }.count
            printError(
                "sweep: \(count(plan.configurations.count, "configuration")) x \(count(seeds, "seed")) = "
                    + "\(count(plan.runs.count, "run")), \(count(groups, "group")) of "
                    + "\(count(ranksPerRun, "rank")) (\(count(threads, "thread")) each); "
                    + "\(plan.runs.count - pending.count) done, \(continuing) to continue, "
                    + "\(pending.count - continuing) to train or analyse")
            printError("sweep: disentangled = \(Disentanglement.criterion)")
        }
        // Static assignment: the k-th unfinished run goes to group k mod groups.
        let mine = pending.enumerated().filter { $0.offset % groups == world.rank / ranksPerRun }.map(
            \.element)
        var interruption: Int32? = nil
        let progress = SweepProgress(plan: plan, alreadyDone: plan.runs.count - pending.count)
        for index in mine {
            interruption = try StopSignal.agreed(by: group)
            if interruption != nil { break }
            let run = plan.runs[index]
            do {
                interruption = try train(run, state: states[index], group: group, threads: threads)
            } catch {
                throw SweepRunError(run: run.name, error: error)
            }
            if interruption != nil { break }
            if group.isRoot { progress.finished(run) }
        }
        group.free()
        // Groups done early wait here for the others without taking their cores.
        try world.idleBarrier()
        var signal = [Double(interruption ?? 0)]
        try signal.withUnsafeMutableBufferPointer { try world.allreduceMax($0) }
        if signal[0] > 0 {
            if world.isRoot {
                printError(
                    "sweep: interrupted with \(progress.done()) of \(plan.runs.count) runs done; "
                        + "run the same command again to continue")
            }
            return Int32(signal[0])
        }
        if world.isRoot { try writeStudy() }
        return nil
    }

    /// Rank 0 reads every run's state from the files; every rank gets the same list. A run
    /// whose files belong to other settings stops the sweep before any work, on every rank.
    private func agreedStates(_ world: MPICommunicator) throws -> [State] {
        var codes = [UInt8](repeating: 0, count: plan.runs.count)
        var problem: String? = nil
        if world.isRoot {
            do {
                codes = try plan.runs.map { try Self.state(of: $0).rawValue }
            } catch {
                problem = "\(error)"
            }
        }
        var failed = [problem == nil ? 0.0 : 1.0]
        try failed.withUnsafeMutableBufferPointer {
            try world.broadcast(UnsafeMutableRawBufferPointer($0), root: 0)
        }
        if failed[0] > 0 { throw ConfigurationError(problem ?? "a run's files do not belong to this sweep") }
        try codes.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        return codes.map { State(rawValue: $0) ?? .untrained }
    }

    /// - Throws: `ConfigurationError` when the run's checkpoint is unreadable or was trained
    ///   with other settings (nothing is overwritten).
    static func state(of run: SweepPlan.Run) throws -> State {
        guard FileManager.default.fileExists(atPath: run.checkpoint) else { return .untrained }
        let saved: Checkpoint
        do {
            saved = try CheckpointCodec.read(from: run.checkpoint)
        } catch {
            throw ConfigurationError("\(error); delete \(run.path) to train that run again")
        }
        guard saved.configuration == run.training else {
            let differences = Resume.differences(run.training, saved.configuration)
            throw ConfigurationError(
                "\(run.checkpoint) was trained with other settings"
                    + (differences.isEmpty ? "" : " (\(differences.joined(separator: "; ")))")
                    + "; use another --out, or delete \(run.path) to train that run again")
        }
        if saved.step < run.training.totalSteps { return .partial }
        return analysedStep(run) == saved.step ? .finished : .trained
    }

    /// The checkpoint step that the run's metrics.json describes, if it exists.
    private static func analysedStep(_ run: SweepPlan.Run) -> Int? {
        guard let data = FileManager.default.contents(atPath: run.metrics),
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let checkpoint = root["checkpoint"] as? [String: Any]
        else { return nil }
        return (checkpoint["step"] as? NSNumber)?.intValue
    }

    /// One run on this rank's group: trains it (from the start or from its checkpoint) on a
    /// communicator of its own, freed after the run with any shared memory the trainer took,
    /// or, trained already, only analyses it. Returns the signal that stopped it, if any.
    private func train(_ run: SweepPlan.Run, state: State, group: MPICommunicator, threads: Int) throws
        -> Int32?
    {
        if state == .trained {
            if group.isRoot {
                try AnalysisRun.run(
                    checkpoints: [run.checkpoint], directory: run.analysis,
                    options: try AnalysisOptions.parse([]),
                    verbose: false)
            }
            return nil
        }
        var resumed: (checkpoint: Checkpoint, path: String)? = nil
        if state == .partial { resumed = (try CheckpointCodec.read(from: run.checkpoint), run.checkpoint) }
        if group.isRoot {
            try FileManager.default.createDirectory(atPath: run.path, withIntermediateDirectories: true)
            // A continued run's log keeps what its checkpoint holds: lines past it are trained
            // again. A fresh run's log starts anew.
            if let step = resumed?.checkpoint.step { try Self.truncateLog(run.log, after: step) }
        }
        let communicator = try group.split(color: 0, key: group.rank)
        defer { communicator.free() }
        let training = TrainingRun(
            configuration: run.training, resumed: resumed, checkpoint: run.checkpoint, log: run.log,
            startsLogAnew: resumed == nil, logEvery: logEvery, sharedMemory: sharedMemory, verbose: false)
        // 128 + a signal stops the sweep where it is; any other exit (a run that cannot fit in
        // memory, said by the rank that found it) ends it.
        guard let exit = try training.run(on: communicator, threads: threads) else { return nil }
        guard exit.rawValue > 128 else { throw exit }
        return exit.rawValue - 128
    }

    /// Keeps the log's lines up to `step`.
    static func truncateLog(_ path: String, after step: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let logged = (object["step"] as? NSNumber)?.intValue
            else { return false }
            return logged <= step
        }
        try AtomicFile.write(Array(kept.map { $0 + "\n" }.joined().utf8), to: path)
    }

    /// Rank 0: the study from every run's metrics.json, its files, and the counts on stdout.
    private func writeStudy() throws {
        let configurations = try plan.configurations.enumerated().map { index, c in
            let runs = try plan.runs.filter { $0.configuration == index }.map { run in
                let metrics = try FileManager.default.contents(atPath: run.metrics).map {
                    try StudyMetrics(json: $0, path: run.metrics)
                }
                return StudyRun(
                    seed: run.seed, directory: run.directory, metricsPath: run.relativeMetrics,
                    metrics: metrics)
            }
            return StudyConfiguration(name: c.name, axes: c.axes, runs: runs)
        }
        let page = try StudyReport.write(configurations, to: plan.out)
        for c in configurations {
            print("\(StudyReport.describe(c)): \(c.disentangledCount)/\(c.measured) disentangled")
        }
        print("(disentangled: \(Disentanglement.criterion))")
        print(page)
    }
}

/// Runs done of all, and when the rest should be: on stderr, from each group's rank 0 as its
/// runs finish. The count is read from the files, so it includes every group's runs.
struct SweepProgress {
    let plan: SweepPlan
    let alreadyDone: Int
    let start = Date()

    /// Runs whose analysis is written.
    func done() -> Int { plan.runs.filter { FileManager.default.fileExists(atPath: $0.metrics) }.count }

    func finished(_ run: SweepPlan.Run) {
        let done = done()
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(max(1, done - alreadyDone)) / max(elapsed, 1e-9)
        let eta = formatDuration(Double(plan.runs.count - done) / rate)
        printError(
            "sweep: \(run.name) done; \(done)/\(plan.runs.count) runs done, "
                + "\(formatDuration(elapsed)) elapsed, ETA \(eta)")
    }
}
