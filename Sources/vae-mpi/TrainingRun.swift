import ArgumentParser
import Foundation
import VAECore

/// One run of the trainer on a given communicator, with its files: the checkpoint (end of every
/// epoch and of the run), the JSON-lines log and the latent analysis next to the checkpoint.
/// `train` makes one from its flags; `sweep` one per configuration and seed, on its group's
/// communicator. Every rank of `communicator` calls `run` with the same values.
struct TrainingRun {
    var configuration: TrainingConfiguration
    /// The checkpoint this run continues, and the path it was read from.
    var resumed: (checkpoint: Checkpoint, path: String)?
    var checkpoint: String
    var log: String
    /// Start the log anew (a fresh run's default log) rather than append to it.
    var startsLogAnew: Bool
    /// Stop after this many optimiser steps in all.
    var steps: Int?
    var logEvery = 10
    var checkEvery = 100
    var checkpointEvery: Int?
    var sharedMemory = true
    /// Write the latent analysis next to the final checkpoint.
    var analysis = true
    /// Per-step progress and the analysis's steps on stderr (rank 0); off, only errors speak.
    var verbose = true

    /// What every rank must agree on before the first collective.
    private struct Settings: Encodable {
        var training: TrainingConfiguration
        var steps: Int?
        var checkEvery: Int
        /// Saves are collective, so every rank must save at the same steps.
        var checkpointEvery: Int?
        /// Every rank must have read the same checkpoint.
        var resumedStep: Int?
    }

    /// This rank's part of the run.
    /// - Returns: how every rank must exit when not with 0: 128 + the signal that interrupted
    ///   the run, or 64 when it cannot fit in memory (a rank has said why).
    func run(on communicator: Communicator, threads: Int) throws -> ExitCode? {
        try communicator.checkAgreement(
            on: Settings(
                training: configuration, steps: steps, checkEvery: checkEvery,
                checkpointEvery: checkpointEvery, resumedStep: resumed?.checkpoint.step))
        let memory = MemoryCheck(
            configuration, communicator: communicator, threads: threads, sharedMemory: sharedMemory)
        guard try memory.everyRankFits(communicator) else { return .validationFailure }
        let trainer = try Trainer(
            configuration: configuration, communicator: communicator, threads: threads,
            sharedMemory: sharedMemory, resuming: resumed?.checkpoint)
        let isRoot = communicator.isRoot
        let lastStep = min(configuration.totalSteps, steps ?? Int.max)
        if let resumed, trainer.step >= lastStep {
            // A ConfigurationError: every rank throws it alike, so the MPI layer ends the job
            // with one message.
            throw ConfigurationError(
                "--resume \(resumed.path): the checkpoint is at step \(trainer.step) "
                    + "and the run ends at step \(lastStep); give a larger --steps or --epochs")
        }
        let initial = try trainer.collectCheckpoint()  // collective
        if isRoot {
            try AtomicFile.checkWritable(checkpoint, bytes: CheckpointCodec.encodedSize(initial))
        }
        var logFile: LogFile? = nil
        if isRoot { logFile = try LogFile(path: log, truncating: startsLogAnew) }
        let progress = Progress(
            enabled: isRoot && verbose, ranks: communicator.size, threads: threads,
            totalSteps: lastStep, batchSize: configuration.batchSize)
        progress.start(configuration)
        progress.exchange(sharedMemory: trainer.usesSharedMemory)
        if isRoot, verbose, let resumed {
            printError("resuming \(resumed.path) at step \(trainer.step) (epoch \(trainer.epoch + 1))")
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
            if isRoot, verbose {
                if progress.live { printError("") }
                printError("interrupted at step \(trainer.step); resume with --resume \(checkpoint)")
            }
            return ExitCode(128 + interruption)
        }
        let elapsed = Stopwatch.now() - runStart
        progress.finish(trainer: trainer, elapsed: elapsed, checkpoint: checkpoint)
        if isRoot, analysis {
            let directory = AnalysisRun.defaultDirectory(for: [checkpoint])
            // What `analyze <checkpoint> --log <log>` writes: the defaults of `analyze` (parsing
            // no arguments sets up the property wrappers); with the default log, `analyze <checkpoint>`.
            try AnalysisRun.run(
                checkpoints: [checkpoint], directory: directory,
                options: try AnalysisOptions.parse([]), log: log, verbose: verbose)
            if verbose { printError("analysis: \(directory)/report.html") }
        }
        return nil
    }
}
