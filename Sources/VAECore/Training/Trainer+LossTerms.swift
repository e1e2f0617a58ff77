/// The loss terms of a step that need more than one worker's share: those the backward pass
/// needs from the whole batch (objectives other than the ELBO), and the summed terms every
/// rank checks before any parameter changes.
extension Trainer {
    /// What the backward pass of worker `w` needs from the whole batch: the KL's weight (the
    /// capacity objective's depends on the batch's KL, summed over workers and ranks: one
    /// value) and the total correlation's gradient by the worker's rows (beta-TCVAE, after the
    /// ranks gather every sample's statistics); nil when the step is abandoned.
    func batchTerms(worker w: Int) -> (klWeight: Float, latentTerms: UnsafePointer<Float>?)? {
        let worker = workers[w]
        let several = communicator.size > 1
        switch configuration.loss.objective {
        case .elbo, .adaGVAE:
            return (configuration.loss.klWeight(atStep: step), nil)
        case .capacity:
            sync.communicate(w) { sync.team.barrier() }
            if w == 0 {
                batchKL[0] = workers.reduce(0) { $0 + $1.kl }
                if several {
                    sync.communicate(w) {
                        try communicator.allreduceSum(UnsafeMutableBufferPointer(start: batchKL, count: 1))
                    }
                }
            }
            guard sync.everyone(w) else { return nil }
            let weight = configuration.loss.capacityWeight(
                meanKL: batchKL[0] / Double(configuration.batchSize), atStep: step)
            return (weight, nil)
        case .betaTCVAE:
            guard let batchStatistics, let estimator = worker.totalCorrelation, let terms = worker.latentTerms
            else { preconditionFailure("beta-TCVAE without its buffers") }
            sync.communicate(w) { sync.team.barrier() }
            if w == 0, several {
                sync.communicate(w) { try communicator.allgather(batchStatistics, blocks: statisticBlocks) }
            }
            guard sync.everyone(w) else { return nil }
            let weight = configuration.loss.klWeight(atStep: step)
            guard worker.share.count > 0 else { return (weight, nil) }
            let tc = estimator.evaluate(batchStatistics)
            if w == 0 { stepTotalCorrelation = tc }
            estimator.gradient(
                rows: worker.share, scale: configuration.loss.totalCorrelationWeight(atStep: step),
                into: terms)
            return (weight, UnsafePointer(terms))
        }
    }

    /// Sums the loss terms and gradient bounds over the workers, then the ranks (one
    /// allreduce, which also orders memory: after it every rank's gradients are complete and
    /// visible); false when the step is abandoned or must stop (`summedTermsProblem`, the test
    /// `trainStep` makes afterwards).
    func sumLossTerms(worker w: Int) -> Bool {
        sync.communicate(w) { sync.team.barrier() }
        if w == 0 {
            for other in workers {
                terms[0] += other.reconstruction
                terms[1] += other.kl
                terms[2] += other.gradientBound
                guard other.share.count > 0 else { continue }
                for (j, kl) in other.network.klPerLatent.enumerated() { terms[3 + j] += kl }
            }
            sync.communicate(w) {
                try communicator.allreduceSum(
                    UnsafeMutableBufferPointer(start: terms, count: summedTermCount))
            }
        }
        return sync.everyone(w) && summedTermsProblem() == nil
    }

    /// The objective's value at optimiser step `step` (0-based) for the VAE
    /// (`LossConfiguration.objectiveValue`), the reconstruction alone for the AE.
    func loss(reconstruction: Double, kl: Double, atStep step: Int) -> Double {
        configuration.model.kind == .vae
            ? configuration.loss.objectiveValue(
                reconstruction: reconstruction, kl: kl, totalCorrelation: stepTotalCorrelation, atStep: step)
            : reconstruction
    }

    /// The mean KL of each latent over the global batch of the last step (0 before any).
    public var lastStepKLPerLatent: [Double] {
        guard step > 0 else { return Array(repeating: 0, count: configuration.model.latentDim) }
        return (0..<configuration.model.latentDim).map { terms[3 + $0] / Double(configuration.batchSize) }
    }

    /// Why the step must stop before any parameter changes, read from the summed `terms` (the
    /// same on every worker of every rank): a non-finite loss, or gradients whose bounds could
    /// let their sum overflow.
    func summedTermsProblem() -> TrainingError? {
        if !loss(reconstruction: terms[0], kl: terms[1], atStep: step).isFinite {
            return .nonFiniteLoss(step: step + 1)
        }
        if !(terms[2] <= Trainer.summableLimit) { return .nonFiniteGradient(step: step + 1) }
        return nil
    }

    /// How large the bounds on the workers' gradient magnitudes may sum to: below it, no partial
    /// sum of the workers' gradients, in any order, can overflow a float (half the range leaves
    /// room for rounding). A gradient that may hold a NaN or infinity has an infinite bound, so
    /// the step stops whenever a summed gradient could be non-finite (and, the bound being
    /// conservative, for some finite gradients near the top of the float range too).
    static let summableLimit = Double(Float.greatestFiniteMagnitude) / 2

}
