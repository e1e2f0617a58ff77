/// The loss of one optimiser step, averaged over the global batch.
public struct StepReport: Sendable {
    /// Optimiser steps completed, counting this one (1-based).
    public var step: Int
    /// Epoch of this step (0-based).
    public var epoch: Int
    public var reconstruction: Double
    public var kl: Double
    /// The objective's value (`LossConfiguration.objectiveValue`): reconstruction + beta * kl
    /// for the ELBO; the reconstruction alone for the AE.
    public var loss: Double
    /// beta-TCVAE: the batch's total-correlation estimate (nil for other objectives).
    public var totalCorrelation: Double? = nil
    /// The capacity objective: the step's target C (nil for other objectives).
    public var capacityTarget: Double? = nil
}

/// Where the time of the steps went, summed since the last `resetTimings`.
public struct StepTimings: Sendable {
    public var render: Double = 0
    public var forward: Double = 0
    public var backward: Double = 0
    public var allreduce: Double = 0
    public var optimizer: Double = 0
    /// The part of `allreduce` spent in barriers and collectives rather than adding: waiting
    /// for other workers and ranks, and moving messages.
    public var communication: Double = 0
    public var steps: Int = 0
    public var compute: Double { forward + backward }

    public init() {}
    public var total: Double { render + forward + backward + allreduce + optimizer }
}
