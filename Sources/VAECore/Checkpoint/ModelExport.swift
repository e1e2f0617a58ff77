import Foundation

/// A checkpoint's model as PyTorch would hold it: the `state_dict` of
/// `encoder = nn.Sequential(Linear, ReLU, ..., Linear)` and `decoder` likewise, in safetensors
/// (docs/export.md gives the module in full).
///
/// The k-th Linear of a Sequential that alternates Linear and ReLU sits at index 2k, so the
/// names are `encoder.0.weight`, `encoder.0.bias`, `encoder.2.weight`, ...; a weight is
/// PyTorch's [out, in], the transpose of the [in, out] the trainer stores.
public enum ModelExport {
    /// The state-dict name of `layer`'s weight or bias (`part`: "weight" or "bias").
    static func name(of layer: DenseLayer, in layout: NetworkLayout, _ part: String) -> String {
        if let k = layout.encoder.firstIndex(of: layer) { return "encoder.\(2 * k).\(part)" }
        let k = layout.decoder.firstIndex(of: layer) ?? 0
        return "decoder.\(2 * k).\(part)"
    }

    /// The safetensors file of `checkpoint`'s parameters (Adam's moments stay behind), with its
    /// settings in `__metadata__`: `model`, `world` (the images) and `training` (the whole
    /// configuration) as JSON text, `step`, `architecture` and `format` "pt".
    public static func file(_ checkpoint: Checkpoint) throws -> Safetensors.File {
        let layout = checkpoint.layout
        let p = checkpoint.parameters
        var tensors: [(name: String, tensor: Safetensors.Tensor)] = []
        for layer in layout.layers {
            var weight = [Float](repeating: 0, count: layer.inputs * layer.outputs)
            for i in 0..<layer.inputs {
                for o in 0..<layer.outputs {
                    weight[o * layer.inputs + i] = p[layer.weightOffset + i * layer.outputs + o]
                }
            }
            tensors.append(
                (
                    name(of: layer, in: layout, "weight"),
                    .init(shape: [layer.outputs, layer.inputs], values: weight)
                ))
            tensors.append(
                (
                    name(of: layer, in: layout, "bias"),
                    .init(
                        shape: [layer.outputs],
                        values: Array(p[layer.biasOffset..<(layer.biasOffset + layer.outputs)]))
                ))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func text<T: Encodable>(_ value: T) throws -> String {
            String(decoding: try encoder.encode(value), as: UTF8.self)
        }
        let c = checkpoint.configuration
        let metadata = [
            "format": "pt",
            "producer": "vae-mpi",
            "model": try text(c.model),
            "world": try text(c.images),
            "training": try text(c),
            "step": String(checkpoint.step),
            "architecture": architecture(layout),
        ]
        return Safetensors.File(tensors: tensors, metadata: metadata)
    }

    /// The parameters in the trainer's layout from an exported file of a model of `layout`:
    /// the inverse of `file`.
    /// - Throws: `SafetensorsError.malformedHeader` naming a missing, extra or misshapen tensor.
    public static func parameters(from file: Safetensors.File, layout: NetworkLayout) throws -> [Float] {
        var p = [Float](repeating: 0, count: layout.parameterCount)
        var expected = Set<String>()
        for layer in layout.layers {
            let (w, b) = (name(of: layer, in: layout, "weight"), name(of: layer, in: layout, "bias"))
            expected.formUnion([w, b])
            guard let weight = file[w], weight.shape == [layer.outputs, layer.inputs] else {
                throw SafetensorsError.malformedHeader(
                    "tensor \(w): missing or not [\(layer.outputs), \(layer.inputs)]")
            }
            guard let bias = file[b], bias.shape == [layer.outputs] else {
                throw SafetensorsError.malformedHeader("tensor \(b): missing or not [\(layer.outputs)]")
            }
            for i in 0..<layer.inputs {
                for o in 0..<layer.outputs {
                    p[layer.weightOffset + i * layer.outputs + o] = weight.values[o * layer.inputs + i]
                }
            }
            p.replaceSubrange(layer.biasOffset..<(layer.biasOffset + layer.outputs), with: bias.values)
        }
        if let extra = file.tensors.map(\.name).first(where: { !expected.contains($0) }) {
            throw SafetensorsError.malformedHeader("tensor \(extra): not part of the model")
        }
        return p
    }

    /// The PyTorch module in one line: `encoder = nn.Sequential(nn.Linear(784, 512), nn.ReLU(),
    /// ...)`, what the encoder's output means, and the decoder likewise.
    static func architecture(_ layout: NetworkLayout) -> String {
        func sequential(_ layers: [DenseLayer]) -> String {
            "nn.Sequential("
                + layers.map { "nn.Linear(\($0.inputs), \($0.outputs))" + ($0.relu ? ", nn.ReLU()" : "") }
                .joined(separator: ", ") + ")"
        }
        let head =
            layout.model.kind == .vae
            ? "mean, log_variance = encoder(x).chunk(2, dim=-1)" : "z = encoder(x)"
        let decode =
            layout.broadcasts
            ? "the spatial broadcast decoder runs per pixel: rows = cat(z tiled over the \(layout.model.inputSize) "
                + "pixels, the pixel's (x, y) with x = linspace(-1, 1, side)[column], y = linspace(-1, 1, side)[row]); "
                + "pixels = torch.sigmoid(decoder(rows)).reshape(batch, \(layout.model.inputSize)) (logits per pixel)"
            : "pixels = torch.sigmoid(decoder(z)) (the decoder gives logits)"
        return "encoder = \(sequential(layout.encoder)); decoder = \(sequential(layout.decoder)); "
            + "x: [batch, \(layout.model.inputSize)] pixels in [0, 1]; \(head); " + decode
    }
}
