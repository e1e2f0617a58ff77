import ArgumentParser
import Foundation
import VAECore

extension VAEMPI {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Measure training throughput against the machine's sgemm bound (alone or under mpirun).",
            discussion: """
                Trains the benchmark workload of shared/anchors (or any configuration the flags \
                give) without writing checkpoints, and prints per epoch: samples/s, GFLOP/s, the \
                share of the sgemm bound and where the step time went; then the whole run's \
                samples/s with its slowest epoch against its fastest, and one JSON line. \
                samples_per_s counts full epochs after the first, as the anchors do; \
                whole_run_samples_per_s counts every epoch. With --preset standard (the default \
                recipe) it runs that recipe's whole schedule, blur annealing included, as train \
                does (--images makes it shorter): the figure that matters there is the whole run.
                """)

        @OptionGroup var options: TrainingOptions

        @OptionGroup var parallel: ParallelOptions

        @Option(
            parsing: .unconditional,
            help: "Seconds spent measuring the sgemm bound before training (0 skips it).")
        var boundSeconds: Double = 1

        @Option(help: "A JSON file from an earlier --save-baseline run: report the ratio to it.")
        var baseline: String?

        @Option(help: "Write this run's JSON summary to a file, for later --baseline comparisons.")
        var saveBaseline: String?

        func validate() throws {
            _ = try options.validatedConfiguration(defaultPreset: .bench)
            if !(boundSeconds >= 0) { throw ValidationError("bound-seconds must be >= 0") }
            if let baseline { _ = try Self.readBaseline(baseline) }
        }

        func run() throws {
            var fits = true
            try runJob(threads: parallel.threads, fault: nil) { fits = try run($0, threads: $1) }
            // Every rank has finalised; a rank has said why the run does not fit.
            if !fits { throw ExitCode.validationFailure }
        }

        /// An earlier run's summary and its samples/s, or a one-line error naming the file.
        static func readBaseline(_ path: String) throws -> ([String: Any], Double) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("--baseline \(path): cannot be read")
            }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let reference = object["samples_per_s"] as? Double, reference > 0
            else { throw ValidationError("--baseline \(path): not a bench summary (no samples_per_s)") }
            return (object, reference)
        }

        /// This rank's part of the benchmark; false when it cannot fit in memory.
        private func run(_ communicator: Communicator, threads: Int) throws -> Bool {
            let configuration = try options.configuration(defaultPreset: .bench)
            try communicator.checkAgreement(on: configuration)
            // Bad settings are named before a second is spent on the bound (the trainer, made
            // after it, checks them again).
            try configuration.validate(ranks: communicator.size)
            let layout = NetworkLayout(configuration.model)
            let flopPerSample = Double(layout.trainingFLOPPerSample)
            let ranks = communicator.size
            let isRoot = communicator.isRoot
            let tag = ranks > 1 ? "[\(ranks) ranks] " : ""
            func say(_ line: String) { if isRoot { print(tag + line) } }
            let memory = MemoryCheck(
                configuration, communicator: communicator, threads: threads,
                sharedMemory: parallel.sharedMemory)
            guard try memory.everyRankFits(communicator) else { return false }
            say("memory: \(memory.summary)")

            // Each rank measures its own sgemm rate at its own share of the batch, at the same
            // time as the others (so shared cores count against the bound); the bound is the sum.
            var bound = [0.0]
            if boundSeconds > 0 {
                let localBatch = communicator.share(of: configuration.batchSize).count
                bound[0] = GEMMBenchmark.measure(
                    layout, batch: localBatch, threads: threads, seconds: boundSeconds)
                try bound.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
            }
            // After the bound, whose buffers are freed by then: the peak memory is the larger of
            // the two, not their sum.
            let trainer = try Trainer(
                configuration: configuration, communicator: communicator, threads: threads,
                sharedMemory: parallel.sharedMemory)
            let boundSamples = bound[0] * 1e9 / flopPerSample
            say(
                String(
                    format:
                        "model %@ %d-%@-%d, batch %d over %d rank(s) x %d thread(s), gradients summed %@, %.2f MFLOP/sample",
                    configuration.model.kind.rawValue, configuration.model.inputSize,
                    configuration.model.hidden.map(String.init).joined(separator: "-"),
                    configuration.model.latentDim, configuration.batchSize, ranks,
                    threads, trainer.usesSharedMemory ? "in shared memory" : "by message",
                    flopPerSample / 1e6))
            if boundSeconds > 0 {
                say(
                    String(
                        format: "sgemm bound (%@): %.1f GFLOP/s = %.0f samples/s",
                        GEMM.implementation, bound[0], boundSamples))
            }

            var epochRates: [Double] = []
            var runSeconds = 0.0
            var lastLoss = 0.0
            var steady = StepTimings()
            for epoch in 0..<configuration.epochs {
                trainer.resetTimings()
                let start = Stopwatch.now()
                var lossSum = 0.0
                for _ in 0..<configuration.stepsPerEpoch { lossSum += try trainer.trainStep().loss }
                let seconds = Stopwatch.now() - start
                runSeconds += seconds
                let rate = Double(configuration.stepsPerEpoch * configuration.batchSize) / seconds
                epochRates.append(rate)
                lastLoss = lossSum / Double(configuration.stepsPerEpoch)
                let t = trainer.timings
                if epoch > 0 || configuration.epochs == 1 { steady.add(t) }
                say(
                    String(
                        format:
                            "epoch %d: %.2f s, %.0f samples/s, %.1f GFLOP/s, %@ of sgemm bound, loss %.4f | %@",
                        epoch + 1, seconds, rate, rate * flopPerSample / 1e9,
                        boundSeconds > 0 ? String(format: "%.0f%%", 100 * rate / boundSamples) : "n/a",
                        lastLoss, t.split))
            }
            let wholeRun = Double(configuration.totalSteps * configuration.batchSize) / runSeconds
            let slowest = epochRates.indices.min { epochRates[$0] < epochRates[$1] }!
            let fastest = epochRates.indices.max { epochRates[$0] < epochRates[$1] }!
            let slowestRatio = epochRates[slowest] / epochRates[fastest]
            say(
                String(
                    format:
                        "whole run: %.1f s, %.0f samples/s; slowest epoch %d at %.0f samples/s, %.2fx the fastest (epoch %d, %.0f)",
                    runSeconds, wholeRun, slowest + 1, epochRates[slowest], slowestRatio, fastest + 1,
                    epochRates[fastest]))
            let steadyRates = epochRates.count > 1 ? Array(epochRates.dropFirst()) : epochRates
            let samplesPerSecond = Double(steadyRates.count) / steadyRates.map { 1 / $0 }.reduce(0, +)
            var summary: [String: Any] = [
                "samples_per_s": samplesPerSecond.rounded(),
                "whole_run_samples_per_s": wholeRun.rounded(),
                "whole_run_seconds": (runSeconds * 1000).rounded() / 1000,
                "slowest_epoch_ratio": (slowestRatio * 1000).rounded() / 1000,
                "gflops": (samplesPerSecond * flopPerSample / 1e7).rounded() / 100,
                "ranks": ranks, "threads_per_rank": threads, "gemm": GEMM.implementation,
                "exchange": trainer.usesSharedMemory ? "shared-memory" : "messages",
                "batch": configuration.batchSize, "epochs": configuration.epochs,
                "final_loss": (lastLoss * 1e4).rounded() / 1e4,
                "memory_estimate_bytes": memory.estimate.total,
                "time_share": steady.shares.mapValues { ($0 * 1000).rounded() / 1000 },
            ]
            if boundSeconds > 0 {
                summary["sgemm_bound_gflops"] = (bound[0] * 100).rounded() / 100
                summary["share_of_bound"] = (samplesPerSecond / boundSamples * 1000).rounded() / 1000
            }
            if let baseline, isRoot {
                let (object, reference) = try Self.readBaseline(baseline)
                summary["baseline_samples_per_s"] = reference
                summary["ratio_to_baseline"] = (samplesPerSecond / reference * 1000).rounded() / 1000
                // A ratio between different set-ups says little: name what differs.
                let differences = ["ranks", "threads_per_rank", "batch", "exchange", "gemm"]
                    .compactMap {
                        key -> String? in
                        let (there, here) = (
                            object[key].map { "\($0)" } ?? "?", summary[key].map { "\($0)" } ?? "?"
                        )
                        return there == here ? nil : "\(key) \(there) there, \(here) here"
                    }
                say(
                    String(
                        format: "baseline %@: %.0f samples/s; this run %.2fx%@", baseline, reference,
                        samplesPerSecond / reference,
                        differences.isEmpty
                            ? "" : " (not comparable: " + differences.joined(separator: ", ") + ")"))
            }
            let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            if isRoot {
                print(String(decoding: json, as: UTF8.self))
                if let saveBaseline {
                    try json.write(to: URL(fileURLWithPath: saveBaseline), options: .atomic)
                }
            }
            return true
        }
    }
}

extension StepTimings {
    mutating func add(_ other: StepTimings) {
        render += other.render
        forward += other.forward
        backward += other.backward
        allreduce += other.allreduce
        optimizer += other.optimizer
        communication += other.communication
        steps += other.steps
    }

    /// Each phase's share of the step time.
    var shares: [String: Double] {
        let t = max(total, 1e-12)
        return [
            "render": render / t, "forward": forward / t, "backward": backward / t,
            "allreduce": allreduce / t, "optimizer": optimizer / t, "communication": communication / t,
        ]
    }

    /// "render 1% forward 30% ..." for the per-epoch lines.
    var split: String {
        let s = shares
        return ["render", "forward", "backward", "allreduce", "optimizer"]
            .map { String(format: "%@ %.0f%%", $0, 100 * (s[$0] ?? 0)) }.joined(separator: " ")
            + String(format: " (communication %.1f%%)", 100 * (s["communication"] ?? 0))
    }
}
