import ArgumentParser
import Foundation
import VAECore

extension VAEMPI {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train an AE or VAE on circle images (alone, or as every rank of mpirun).")

        @OptionGroup var options: TrainingOptions

        @Option(help: "Where to write the checkpoint (end of every epoch and of the run).")
        var checkpoint: String = "checkpoint.bin"

        @Option(help: "Append a JSON line per logged step to this file.")
        var log: String?

        @Option(help: "Stop after this many optimiser steps in all (for tests and benchmarks).")
        var steps: Int?

        @Option(help: "Log every this many steps (and at each epoch's end).")
        var logEvery: Int = 10

        @Option(help: "Check that every rank holds the same parameters every this many steps (and at each epoch's end).")
        var checkEvery: Int = 100

        @Option(help: "BLAS threads per rank. (default: the rank's share of this machine's cores: 1 when the ranks fill them, every core alone)")
        var blasThreads: Int?

        @Option(help: .hidden)
        var injectFault: FaultInjection?

        @OptionGroup var analysis: TrainingAnalysisOptions

        func validate() throws {
            _ = try options.validatedConfiguration()
            if let steps, steps <= 0 { throw ValidationError("steps must be positive, got \(steps)") }
            if logEvery <= 0 { throw ValidationError("log-every must be positive, got \(logEvery)") }
            if checkEvery <= 0 { throw ValidationError("check-every must be positive, got \(checkEvery)") }
            if let blasThreads, !(1...1024).contains(blasThreads) {
                throw ValidationError("blas-threads must be in 1...1024, got \(blasThreads)")
            }
            if let problem = OutputPath.problem(writing: checkpoint) {
                throw ValidationError("--checkpoint \(checkpoint): \(problem)")
            }
            if let log, let problem = OutputPath.problem(writing: log) {
                throw ValidationError("--log \(log): \(problem)")
            }
        }

        /// What every rank must agree on before the first collective.
        private struct RunSettings: Encodable {
            var training: TrainingConfiguration
            var steps: Int?
            var checkEvery: Int
        }

        func run() throws {
            try runJob(blasThreads: blasThreads, fault: injectFault) { try train($0) }
        }

        private func train(_ communicator: Communicator) throws {
            let configuration = options.configuration()
            try communicator.checkAgreement(
                on: RunSettings(training: configuration, steps: steps, checkEvery: checkEvery))
            let trainer = try Trainer(configuration: configuration, communicator: communicator)
            let isRoot = communicator.isRoot
            let lastStep = min(configuration.totalSteps, steps ?? Int.max)
            var logFile: LogFile? = nil
            if isRoot, let log { logFile = try LogFile(path: log) }
            let progress = Progress(enabled: isRoot, ranks: communicator.size, totalSteps: lastStep,
                                    batchSize: configuration.batchSize)
            progress.start(configuration)

            var windowStart = Stopwatch.now()
            var windowSteps = 0
            let runStart = windowStart
            while trainer.step < lastStep {
                let report = try trainer.trainStep()
                windowSteps += 1
                let endOfEpoch = report.step % configuration.stepsPerEpoch == 0
                let isLast = report.step == lastStep
                if report.step % logEvery == 0 || endOfEpoch || isLast {
                    let now = Stopwatch.now()
                    let samplesPerSecond = Double(windowSteps * configuration.batchSize) / max(now - windowStart, 1e-9)
                    windowStart = now
                    windowSteps = 0
                    progress.update(report, samplesPerSecond: samplesPerSecond)
                    try logFile?.append(report, samplesPerSecond: samplesPerSecond,
                                        ranks: communicator.size)
                }
                if report.step % checkEvery == 0 || endOfEpoch || isLast {
                    try trainer.checkParameterAgreement()
                }
                if endOfEpoch || isLast {
                    let state = try trainer.collectCheckpoint()  // collective
                    if isRoot { try CheckpointCodec.write(state, to: checkpoint) }
                }
            }
            let elapsed = Stopwatch.now() - runStart
            progress.finish(trainer: trainer, elapsed: elapsed, checkpoint: checkpoint)
            try analysis.run(after: checkpoint, isRoot: isRoot)
        }
    }
}
