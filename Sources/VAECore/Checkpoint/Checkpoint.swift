/// Everything needed to resume a run or analyse its model.
public struct Checkpoint: Sendable {
    public var configuration: TrainingConfiguration
    /// Optimiser steps completed.
    public var step: Int
    public var parameters: [Float]
    public var optimizer: Adam

    public init(
        configuration: TrainingConfiguration, step: Int, parameters: [Float],
        optimizer: Adam
    ) {
        self.configuration = configuration
        self.step = step
        self.parameters = parameters
        self.optimizer = optimizer
    }

    public var layout: NetworkLayout { NetworkLayout(configuration.model) }

    /// The epoch the next step belongs to (0-based).
    public var epoch: Int { step / configuration.stepsPerEpoch }
}
