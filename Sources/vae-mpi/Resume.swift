import VAECore

/// `train --resume`: the checkpoint's configuration is the run's. Flags may lengthen the run
/// (`--epochs`, `--steps`) but not change what is trained, since the continuation would then no
/// longer be the run the checkpoint started.
enum Resume {
    /// The checkpoint's configuration with `--epochs` applied.
    /// - Throws: `ConfigurationError` naming every flag that contradicts the checkpoint (every
    ///   rank throws it alike, so the MPI layer ends the job with one message).
    static func configuration(
        _ options: TrainingOptions, checkpoint: TrainingConfiguration,
        path: String
    ) throws -> TrainingConfiguration {
        let requested = try options.configuration(base: checkpoint)
        var conflicts = differences(requested, checkpoint)
        if let preset = options.preset {
            conflicts.insert("--preset \(preset.rawValue) cannot apply to a resumed run", at: 0)
        }
        var unlisted = requested
        unlisted.epochs = checkpoint.epochs
        if conflicts.isEmpty, unlisted != checkpoint {
            conflicts = ["the configuration differs"]
        }
        guard conflicts.isEmpty else {
            throw ConfigurationError(
                "--resume \(path): \(conflicts.joined(separator: "; ")); "
                    + "a resumed run keeps the checkpoint's settings (only --epochs and --steps may grow)")
        }
        return requested
    }

    /// "--flag value contradicts the checkpoint's value" for each differing setting.
    static func differences(_ a: TrainingConfiguration, _ b: TrainingConfiguration) -> [String] {
        var found: [String] = []
        func compare<T: Equatable>(
            _ flag: String, _ path: KeyPath<TrainingConfiguration, T>,
            _ show: (T) -> String = { "\($0)" }
        ) {
            if a[keyPath: path] != b[keyPath: path] {
                found.append(
                    "--\(flag) \(show(a[keyPath: path])) contradicts the checkpoint's "
                        + show(b[keyPath: path]))
            }
        }
        let widths = { (w: [Int]) in w.isEmpty ? "\"\"" : w.map(String.init).joined(separator: ",") }
        compare("model", \.model.kind, { $0.rawValue })
        compare("hidden", \.model.hidden, widths)
        compare("latent-dim", \.model.latentDim)
        compare("beta", \.loss.beta)
        compare("recon", \.loss.reconstruction, { $0.rawValue })
        compare("kl", \.loss.kl, { $0.rawValue })
        compare("prior", \.loss.prior, { $0.name })
        compare("beta-warmup", \.loss.betaWarmupSteps)
        compare("objective", \.loss.objective, { $0.rawValue })
        compare("capacity", \.loss.capacity)
        compare("capacity-steps", \.loss.capacitySteps)
        compare("gamma", \.loss.gamma)
        compare("pair-changes", \.loss.pairChanges, { $0.map(String.init) ?? "random" })
        compare("blur", \.blur.sigma)
        compare("blur-anneal", \.blur.annealFraction)
        compare("images", \.images.count)
        compare("batch-size", \.batchSize)
        compare("lr", \.optimizer.learningRate)
        compare("adam-beta1", \.optimizer.beta1)
        compare("adam-beta2", \.optimizer.beta2)
        compare("adam-epsilon", \.optimizer.epsilon)
        compare("seed", \.seed)
        compare("data-seed", \.images.seed)
        let range = { (r: ClosedRange<Double>) in
            r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)"
        }
        compare("radius", \.images.radii, range)
        compare("intensity", \.images.intensities, range)
        compare(
            "centres", \.images.centres,
            { centres in
                switch centres {
                case .uniform: return "uniform"
                case .normal(let sigma): return "normal --centre-sigma \(sigma)"
                }
            })
        compare("integer-centres", \.images.integerCentres)
        compare("antialias", \.images.antialias)
        return found
    }
}
