extension ModelConfiguration {
    /// The parameters of this model: sum of (inputs + 1) x outputs over its dense layers, the
    /// count `NetworkLayout` gives, computed without building the layers (a checkpoint header
    /// may list a million hidden widths before the reader refuses it). Saturates at `Int.max`.
    public var parameterCount: Int {
        let encoder = [inputSize] + hidden + [encoderOutputSize]
        let decoder: [Int]
        switch self.decoder {
        case .mlp: decoder = [latentDim] + hidden.reversed() + [inputSize]
        case .spatialBroadcast(let widths): decoder = [latentDim &+ 2] + widths + [1]
        }
        var total = 0
        for widths in [encoder, decoder] {
            for (inputs, outputs) in zip(widths, widths.dropFirst()) {
                let (layer, o1) = (inputs &+ 1).multipliedReportingOverflow(by: outputs)
                let (sum, o2) = total.addingReportingOverflow(layer)
                if o1 || o2 { return .max }
                total = sum
            }
        }
        return total
    }
}
