/// One dense layer's place in the flat parameter buffer: y = x W + b.
///
/// W is [inputs, outputs] row-major and b is [outputs], stored back to back at `weightOffset`.
/// All parameters of a model live in one contiguous buffer, so the gradient is one buffer too
/// and a step needs one allreduce.
public struct DenseLayer: Hashable, Sendable {
    public let name: String
    public let inputs: Int
    public let outputs: Int
    public let weightOffset: Int
    public var biasOffset: Int { weightOffset + inputs * outputs }
    public var parameterCount: Int { (inputs + 1) * outputs }
    /// Whether a ReLU follows the layer (every layer but the encoder head and the output).
    public let relu: Bool
    /// Rows each sample contributes: 1, or the pixel count for the spatial broadcast decoder's
    /// layers, which run once per pixel.
    public var rowsPerSample: Int = 1
}

/// A named slice of the parameter buffer, as the checkpoint lists it.
public struct TensorDescriptor: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// The layers of an MLP autoencoder, in the order their parameters are stored:
/// encoder 784 -> hidden... -> head, then decoder latent -> reversed hidden... -> 784.
///
/// The VAE's head is one layer of width 2 x latent: columns [0, latent) are the mean and
/// [latent, 2 latent) the log-variance (one GEMM instead of two).
public struct NetworkLayout: Hashable, Sendable {
    public let model: ModelConfiguration
    public let encoder: [DenseLayer]
    public let decoder: [DenseLayer]
    public let parameterCount: Int

    public init(_ model: ModelConfiguration) {
        self.model = model
        var offset = 0
        func layer(_ name: String, _ inputs: Int, _ outputs: Int, relu: Bool, rows: Int = 1)
            -> DenseLayer
        {
            defer { offset += (inputs + 1) * outputs }
            return DenseLayer(
                name: name, inputs: inputs, outputs: outputs, weightOffset: offset,
                relu: relu, rowsPerSample: rows)
        }
        let widths = [model.inputSize] + model.hidden
        var encoder: [DenseLayer] = []
        for i in 0..<model.hidden.count {
            encoder.append(layer("encoder.\(i)", widths[i], widths[i + 1], relu: true))
        }
        encoder.append(layer("encoder.head", widths.last!, model.encoderOutputSize, relu: false))
        // The MLP ends in a logit per pixel; the broadcast decoder's first layer reads (z, x, y)
        // at every pixel and its last gives that pixel's one logit.
        let decoderWidths: [Int]
        let rows: Int
        switch model.decoder {
        case .mlp:
            decoderWidths = [model.latentDim] + model.hidden.reversed() + [model.inputSize]
            rows = 1
        case .spatialBroadcast(let hidden):
            decoderWidths = [model.latentDim + 2] + hidden + [1]
            rows = model.inputSize
        }
        var decoder: [DenseLayer] = []
        for i in 0..<(decoderWidths.count - 1) {
            let isOutput = i == decoderWidths.count - 2
            decoder.append(
                layer(
                    isOutput ? "decoder.output" : "decoder.\(i)", decoderWidths[i],
                    decoderWidths[i + 1], relu: !isOutput, rows: rows))
        }
        self.encoder = encoder
        self.decoder = decoder
        self.parameterCount = offset
    }

    /// Whether the decoder is the spatial broadcast decoder: its first layer's weight rows are
    /// [latent..., x, y] and it runs on every (sample, pixel) pair.
    public var broadcasts: Bool {
        if case .spatialBroadcast = model.decoder { return true }
        return false
    }

    public var layers: [DenseLayer] { encoder + decoder }

    /// Every weight and bias tensor, in storage order.
    public var tensors: [TensorDescriptor] {
        layers.flatMap { l in
            [
                TensorDescriptor(
                    name: l.name + ".weight", shape: [l.inputs, l.outputs],
                    offset: l.weightOffset),
                TensorDescriptor(name: l.name + ".bias", shape: [l.outputs], offset: l.biasOffset),
            ]
        }
    }

    /// Widest activation of any layer per sample, over all its rows (sizes the backward pass's
    /// scratch buffers).
    public var maxWidth: Int {
        layers.map { max($0.inputs, $0.outputs) * $0.rowsPerSample }.max() ?? 0
    }

    /// Multiply-adds of one sample's forward pass. The broadcast layer multiplies z once per
    /// sample (the coordinates' share is one small product per batch, left out).
    public var forwardMultiplyAdds: Int {
        layers.enumerated().reduce(0) { total, item in
            let (index, l) = item
            if broadcasts && index == encoder.count { return total + model.latentDim * l.outputs }
            return total + l.inputs * l.outputs * l.rowsPerSample
        }
    }

    /// GEMM floating-point operations per training sample: forward, weight gradients and input
    /// gradients (none for the image input), as shared/anchors counts them.
    public var trainingFLOPPerSample: Int {
        let first = encoder[0]
        return 6 * forwardMultiplyAdds - 2 * first.inputs * first.outputs
    }

    /// PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)) for W and b, drawn
    /// from (seed, layer index) so it is the same on every rank without communication.
    public func initialParameters(seed: UInt64) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        for (index, l) in layers.enumerated() {
            var rng = SplitMix64(seed: SplitMix64.hash(seed, .initialisation, UInt64(index)))
            let bound = 1 / Float(l.inputs).squareRoot()
            for k in l.weightOffset..<(l.biasOffset + l.outputs) {
                p[k] = (2 * rng.nextUnitFloat() - 1) * bound
            }
        }
        return p
    }
}
