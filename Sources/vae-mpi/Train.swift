import ArgumentParser
import Foundation
import VAECore
import VAEReport

extension VAEMPI {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train an AE or VAE on circle images (alone, or as every rank of mpirun).")

        @OptionGroup var options: TrainingOptions

        @Option(
            name: .customLong("checkpoint"),
            help:
                "Where to write the checkpoint (end of every epoch and of the run). (default: checkpoint.bin, or the --resume file)"
        )
        var checkpointOption: String?

        @Option(parsing: .unconditional, help: "Also write the checkpoint every this many steps.")
        var checkpointEvery: Int?

        @Option(help: "Continue the run saved in this checkpoint, with its settings.")
        var resume: String?

        var checkpoint: String { checkpointOption ?? resume ?? "checkpoint.bin" }

        @Option(
            name: .customLong("log"),
            help:
                "Append a JSON line per logged step to this file. (default: the checkpoint's path with .jsonl for .bin, started anew by a fresh run)"
        )
        var logOption: String?

        /// The training log: `--log`, else next to the checkpoint, where `analyze` finds it.
        var log: String { logOption ?? TrainingLog.defaultPath(forCheckpoint: checkpoint) }

        @Option(
            parsing: .unconditional,
            help: "Stop after this many optimiser steps in all (for tests and benchmarks).")
        var steps: Int?

        @Option(parsing: .unconditional, help: "Log every this many steps (and at each epoch's end).")
        var logEvery: Int = 10

        @Option(
            parsing: .unconditional,
            help:
                "Check that every rank holds the same parameters every this many steps (and at each epoch's end)."
        )
        var checkEvery: Int = 100

        @OptionGroup var parallel: ParallelOptions

        @Option(help: .hidden)
        var injectFault: FaultInjection?

        @OptionGroup var analysis: TrainingAnalysisOptions

        func validate() throws {
            _ = try options.validatedConfiguration()
            if let steps, steps <= 0 { throw ValidationError("steps must be positive, got \(steps)") }
            if logEvery <= 0 { throw ValidationError("log-every must be positive, got \(logEvery)") }
            if let checkpointEvery, checkpointEvery <= 0 {
                throw ValidationError("checkpoint-every must be positive, got \(checkpointEvery)")
            }
            if checkEvery <= 0 { throw ValidationError("check-every must be positive, got \(checkEvery)") }
            if let problem = OutputPath.problem(writing: checkpoint) {
                throw ValidationError("--checkpoint \(checkpoint): \(problem)")
            }
            if let problem = OutputPath.problem(writing: log) {
                throw ValidationError("--log \(log): \(problem)")
            }
        }

        func run() throws {
            // Before MPI's start-up, so that every thread it starts blocks the stop signals too.
            StopSignal.install()
            var exit: ExitCode? = nil
            try runJob(threads: parallel.threads, fault: injectFault) {
                exit = try train($0, threads: $1)
            }
            // Every rank has finalised; now exit as the run asked.
            if let exit { throw exit }
        }

        /// This rank's part of the run.
        /// - Returns: how every rank must exit when not with 0: 128 + the signal that
        ///   interrupted the run, or 64 when it cannot fit in memory (a rank has said why).
        private func train(_ communicator: Communicator, threads: Int) throws -> ExitCode? {
            var configuration = try options.configuration()
            var resumed: (checkpoint: Checkpoint, path: String)? = nil
            if let resume {
                let saved = try CheckpointCodec.read(from: resume)
                configuration = try Resume.configuration(
                    options, checkpoint: saved.configuration,
                    path: resume)
                resumed = (saved, resume)
            }
            let run = TrainingRun(
                configuration: configuration, resumed: resumed, checkpoint: checkpoint, log: log,
                // A fresh run starts its default log anew; a resumed one, or a --log, appends.
                startsLogAnew: logOption == nil && resume == nil, steps: steps, logEvery: logEvery,
                checkEvery: checkEvery,
                checkpointEvery: checkpointEvery, sharedMemory: parallel.sharedMemory,
                analysis: !analysis.noAnalysis)
            return try run.run(on: communicator, threads: threads)
        }
    }
}
