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
                study.csv, study.json and study.png in --out. A run whose loss diverges is recorded \
                as diverged (not disentangled) and the sweep goes on; the exit status is 1 when any \
                run diverged. Run again after an interruption: finished and diverged runs are \
                skipped, a run stopped midway continues from its checkpoint. See docs/sweep.md.
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

        @Flag(
            help:
                "Also write each finished run's model as model.safetensors next to its metrics.json (what `vae-mpi export` writes)."
        )
        var export = false

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
            var outcome = SweepJob.Outcome.finished
            try runJob(threads: parallel.threads) { world, threads in
                outcome = try SweepJob(
                    plan: plan, ranksPerRun: ranksPerRun, logEvery: logEvery,
                    sharedMemory: parallel.sharedMemory, export: export
                ).run(world: world, threads: threads)
            }
            switch outcome {
            case .finished: break
            case .diverged: throw ExitCode.failure
            case .interrupted(let signal): throw ExitCode(128 + signal)
            }
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
    /// Write each analysed run's model.safetensors (rank 0, with the study).
    var export = false

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
        /// Diverged (`DivergedRun`): skip; the study counts it as not disentangled.
        case diverged
    }

    /// How the sweep ended, the same on every rank.
    enum Outcome: Equatable {
        /// Every run trained and analysed, and the study written.
        case finished
        /// The study written, with some runs diverged.
        case diverged
        /// Stopped by this signal before the study.
        case interrupted(Int32)
    }

    /// How one run ended on its group.
    private enum RunOutcome: Equatable {
        case finished
        case diverged
        case interrupted(Int32)
    }

    /// Every rank's part: how the sweep ended, once rank 0 has written the study (or was
    /// interrupted before it).
    func run(world: MPICommunicator, threads: Int) throws -> Outcome {
        guard world.size % ranksPerRun == 0 else {
            throw ConfigurationError(
                "--ranks-per-run \(ranksPerRun) does not divide the job's ranks (\(world.size))")
        }
        let groups = world.size / ranksPerRun
        // Neighbouring ranks form a group: mpirun places them on the same machine first.
        let group = try world.split(color: world.rank / ranksPerRun, key: world.rank)
        let states = try agreedStates(world)
        let pending = plan.runs.indices.filter { states[$0] != .finished && states[$0] != .diverged }
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
        var diverged = false
        let progress = SweepProgress(plan: plan, alreadyDone: plan.runs.count - pending.count)
        for index in mine {
            interruption = try StopSignal.agreed(by: group)
            if interruption != nil { break }
            let run = plan.runs[index]
            let outcome: RunOutcome
            do {
                outcome = try train(run, state: states[index], group: group, threads: threads)
            } catch {
                throw SweepRunError(run: run.name, error: error)
            }
            if case .interrupted(let signal) = outcome {
                interruption = signal
                break
            }
            if outcome == .diverged { diverged = true }
            if group.isRoot { progress.finished(run, diverged: outcome == .diverged) }
        }
        group.free()
        // Groups done early wait here for the others without taking their cores.
        try world.idleBarrier()
        var ended = [Double(interruption ?? 0), diverged || states.contains(.diverged) ? 1 : 0]
        try ended.withUnsafeMutableBufferPointer { try world.allreduceMax($0) }
        if ended[0] > 0 {
            if world.isRoot {
                printError(
                    "sweep: interrupted with \(progress.done()) of \(plan.runs.count) runs done; "
                        + "run the same command again to continue")
            }
            return .interrupted(Int32(ended[0]))
        }
        if world.isRoot { try writeStudy() }
        return ended[1] > 0 ? .diverged : .finished
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
        if let diverged = try DivergedRun.read(run) {
            guard diverged.configuration == run.training else {
                throw ConfigurationError(
                    "\(DivergedRun.path(of: run)) records a run with other settings; use another --out, "
                        + "or delete \(run.path) to train that run again")
            }
            return .diverged
        }
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
    /// or, trained already, only analyses it. A loss or gradient that stops being finite (every
    /// rank of the group throws it alike) is the run's result: its group's rank 0 records it.
    private func train(_ run: SweepPlan.Run, state: State, group: MPICommunicator, threads: Int) throws
        -> RunOutcome
    {
        if state == .trained {
            if group.isRoot {
                try AnalysisRun.run(
                    checkpoints: [run.checkpoint], directory: run.analysis,
                    options: try AnalysisOptions.parse([]),
                    verbose: false)
            }
            return .finished
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
        let exit: ExitCode?
        do {
            exit = try training.run(on: communicator, threads: threads)
        } catch {
            guard let diverged = DivergedRun(error, configuration: run.training) else { throw error }
            if group.isRoot { try diverged.write(run) }
            return .diverged
        }
        guard let exit else { return .finished }
        guard exit.rawValue > 128 else { throw exit }
        return .interrupted(exit.rawValue - 128)
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

    /// Rank 0: the study from every run's metrics.json, its files, and the counts on stdout;
    /// with `export`, first each analysed run's model.safetensors that is missing or older than
    /// its checkpoint.
    private func writeStudy() throws {
        if export {
            for run in plan.runs where FileManager.default.fileExists(atPath: run.metrics) {
                let file = AnalysisRun.exportPath(directory: run.analysis, name: nil)
                func modified(_ path: String) -> Date? {
                    (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
                }
                if let written = modified(file), let trained = modified(run.checkpoint), written >= trained { continue }
                do {
                    try ModelExportFile.write(try CheckpointCodec.read(from: run.checkpoint), to: file)
                } catch {
                    throw SweepRunError(run: run.name, error: error)
                }
            }
        }
        let configurations = try plan.configurations.enumerated().map { index, c in
            let runs = plan.runs.filter { $0.configuration == index }
            let metrics = try runs.map { run in
                try FileManager.default.contents(atPath: run.metrics).map { (data: $0, metrics: try StudyMetrics(json: $0, path: run.metrics)) }
            }
            // UDR compares the seeds' latent means on the analysis's circles, which the seeds of
            // a configuration share (the analysis's data seed follows the data seed, not --seeds).
            let models = try zip(runs, metrics).map { run, m -> UDR.Model? in
                guard let m else { return nil }
                let path = (run.analysis as NSString).appendingPathComponent("latents.csv")
                guard let csv = FileManager.default.contents(atPath: path) else { return nil }
                return try StudyUDR.model(latentsCSV: csv, metricsJSON: m.data, path: path)
            }
            let udr = StudyUDR.scores(models)
            return StudyConfiguration(
                name: c.name, axes: c.axes,
                runs: try runs.indices.map { k in
                    StudyRun(
                        seed: runs[k].seed, directory: runs[k].directory, metricsPath: runs[k].relativeMetrics,
                        metrics: metrics[k]?.metrics, divergence: try DivergedRun.read(runs[k])?.divergence,
                        udr: udr[k])
                })
        }
        let page = try StudyReport.write(configurations, to: plan.out)
        for c in configurations {
            print("\(StudyReport.describe(c)): \(c.disentangledCount)/\(c.measured) disentangled")
        }
        print("(disentangled: \(Disentanglement.criterion))")
        let diverged = configurations.reduce(0) { $0 + $1.divergedCount }
        if diverged > 0 {
            printError(
                "sweep: \(diverged) of \(plan.runs.count) runs diverged (status diverged in study.csv); "
                    + "each counts as not disentangled")
        }
        print(page)
    }
}

/// Runs done of all, and when the rest should be: on stderr, from each group's rank 0 as its
/// runs finish. The count is read from the files, so it includes every group's runs.
struct SweepProgress {
    let plan: SweepPlan
    let alreadyDone: Int
    let start = Date()

    /// Runs whose analysis, or record of divergence, is written.
    func done() -> Int {
        plan.runs.filter {
            FileManager.default.fileExists(atPath: $0.metrics)
                || FileManager.default.fileExists(atPath: DivergedRun.path(of: $0))
        }.count
    }

    func finished(_ run: SweepPlan.Run, diverged: Bool) {
        let done = done()
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(max(1, done - alreadyDone)) / max(elapsed, 1e-9)
        let eta = formatDuration(Double(plan.runs.count - done) / rate)
        printError(
            "sweep: \(run.name) \(diverged ? "diverged" : "done"); \(done)/\(plan.runs.count) runs done, "
                + "\(formatDuration(elapsed)) elapsed, ETA \(eta)")
    }
}
