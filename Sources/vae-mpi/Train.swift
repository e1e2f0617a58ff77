import ArgumentParser
import Foundation
import VAECore

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

        /// What every rank must agree on before the first collective.
        private struct RunSettings: Encodable {
            var training: TrainingConfiguration
            var steps: Int?
            var checkEvery: Int
            /// Saves are collective, so every rank must save at the same steps.
            var checkpointEvery: Int?
            /// Every rank must have read the same checkpoint.
            var resumedStep: Int?
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
            var resumed: Checkpoint? = nil
            if let resume {
                let saved = try CheckpointCodec.read(from: resume)
                configuration = try Resume.configuration(
                    options, checkpoint: saved.configuration,
                    path: resume)
                resumed = saved
            }
            try communicator.checkAgreement(
                on: RunSettings(
                    training: configuration, steps: steps, checkEvery: checkEvery,
                    checkpointEvery: checkpointEvery, resumedStep: resumed?.step))
            let memory = MemoryCheck(
                configuration, communicator: communicator, threads: threads,
                sharedMemory: parallel.sharedMemory)
            guard try memory.everyRankFits(communicator) else { return .validationFailure }
            let trainer = try Trainer(
                configuration: configuration, communicator: communicator, threads: threads,
                sharedMemory: parallel.sharedMemory, resuming: resumed)
            let isRoot = communicator.isRoot
            let lastStep = min(configuration.totalSteps, steps ?? Int.max)
            if let resume, trainer.step >= lastStep {
                // A ConfigurationError: every rank throws it alike, so the MPI layer ends the job
                // with one message.
                throw ConfigurationError(
                    "--resume \(resume): the checkpoint is at step \(trainer.step) "
                        + "and the run ends at step \(lastStep); give a larger --steps or --epochs")
            }
            let initial = try trainer.collectCheckpoint()  // collective
            if isRoot {
                try AtomicFile.checkWritable(checkpoint, bytes: CheckpointCodec.encodedSize(initial))
            }
            var logFile: LogFile? = nil
            // A fresh run starts its default log anew; a resumed one, or a --log, appends.
            if isRoot { logFile = try LogFile(path: log, truncating: logOption == nil && resume == nil) }
            let progress = Progress(
                enabled: isRoot, ranks: communicator.size, threads: threads, totalSteps: lastStep,
                batchSize: configuration.batchSize)
            progress.start(configuration)
            if isRoot, let resume {
                printError("resuming \(resume) at step \(trainer.step) (epoch \(trainer.epoch + 1))")
            }

            var windowStart = Stopwatch.now()
            var windowSteps = 0
            let runStart = windowStart
            var savedStep: Int? = nil
            var interruption: Int32? = nil
            while trainer.step < lastStep {
                // Every rank asks at the same step, so all stop at the same boundary.
                interruption = try StopSignal.agreed(by: communicator)
                if interruption != nil { break }
                let report = try trainer.trainStep()
                windowSteps += 1
                let endOfEpoch = report.step % configuration.stepsPerEpoch == 0
                let isLast = report.step == lastStep
                if report.step % logEvery == 0 || endOfEpoch || isLast {
                    let now = Stopwatch.now()
                    let samplesPerSecond =
                        Double(windowSteps * configuration.batchSize) / max(now - windowStart, 1e-9)
                    windowStart = now
                    windowSteps = 0
                    progress.update(report, samplesPerSecond: samplesPerSecond)
                    try logFile?.append(
                        report, klPerLatent: trainer.lastStepKLPerLatent,
                        klWeight: configuration.loss.klWeight(atStep: report.step - 1),
                        blur: configuration.blur.sigma(atStep: report.step - 1, of: configuration.totalSteps),
                        samplesPerSecond: samplesPerSecond, ranks: communicator.size)
                }
                if report.step % checkEvery == 0 || endOfEpoch || isLast {
                    try trainer.checkParameterAgreement()
                }
                let due = checkpointEvery.map { report.step % $0 == 0 } ?? false
                if endOfEpoch || isLast || due {
                    let state = try trainer.collectCheckpoint()  // collective
                    if isRoot { try CheckpointCodec.write(state, to: checkpoint) }
                    savedStep = report.step
                }
            }
            if let interruption {
                if savedStep != trainer.step {
                    let state = try trainer.collectCheckpoint()  // collective
                    if isRoot { try CheckpointCodec.write(state, to: checkpoint) }
                }
                if isRoot {
                    if progress.live { printError("") }
                    printError("interrupted at step \(trainer.step); resume with --resume \(checkpoint)")
                }
                return ExitCode(128 + interruption)
            }
            let elapsed = Stopwatch.now() - runStart
            progress.finish(trainer: trainer, elapsed: elapsed, checkpoint: checkpoint)
            try analysis.run(after: checkpoint, isRoot: isRoot)
            return nil
        }
    }
}
