import Foundation

/// Writes the fuzzer's seed corpus: small valid checkpoints (4x4 and 6x6 images, so a file is a
/// few kilobytes and most mutations land in the header and the table rather than in floats),
/// covering both model kinds, no and two hidden layers, both losses, both centre distributions,
/// a fresh run and one part-way with non-zero Adam moments (signed zeros, subnormals and
/// infinities among them). `Launch/fuzz` builds this with VAECore's sources, uninstrumented.
@main
struct MakeSeeds {
    static func main() throws {
        guard CommandLine.arguments.count == 2 else {
            FileHandle.standardError.write(Data("usage: make-seeds <directory>\n".utf8))
            exit(64)
        }
        let directory = CommandLine.arguments[1]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, checkpoint) in seeds() {
            let bytes = try CheckpointCodec.encode(checkpoint)
            // A seed the reader refuses would only teach the fuzzer the first check.
            _ = try CheckpointCodec.decode(bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name + ".bin"))
        }
    }

    static func seeds() -> [(String, Checkpoint)] {
        func configuration(
            side: Int, kind: ModelConfiguration.Kind, hidden: [Int], latent: Int
        ) -> TrainingConfiguration {
            var c = TrainingConfiguration()
            c.images.side = side
            c.images.radius = 1
            c.images.count = 8
            c.model.kind = kind
            c.model.inputSize = side * side
            c.blur = BlurSchedule(sigma: 1, annealFraction: 0.5)  // fits the tiny images
            c.model.hidden = hidden
            c.model.latentDim = latent
            c.batchSize = 4
            c.epochs = 3
            return c
        }
        func checkpoint(_ c: TrainingConfiguration, step: Int, odd: Bool) -> Checkpoint {
            let layout = NetworkLayout(c.model)
            var adam = Adam(configuration: c.optimizer, parameterCount: layout.parameterCount)
            if odd {
                let specials: [Float] = [-0.0, .leastNonzeroMagnitude, 1e-40, .infinity, 3.5, -2]
                for k in 0..<layout.parameterCount {
                    adam.firstMoment[k] = specials[k % specials.count]
                    adam.secondMoment[k] = Float(k) * 1e-3
                }
                adam.stepCount = step
            }
            return Checkpoint(
                configuration: c, step: step, parameters: layout.initialParameters(seed: UInt64(step)),
                optimizer: adam)
        }
        let fresh = configuration(side: 4, kind: .vae, hidden: [3], latent: 1)
        var ae = configuration(side: 4, kind: .ae, hidden: [], latent: 2)
        ae.loss.reconstruction = .mse
        ae.images.centres = .normal(sigma: 1.5)
        ae.images.integerCentres = true
        var deep = configuration(side: 6, kind: .vae, hidden: [5, 2], latent: 1)
        deep.loss.kl = .seed
        deep.loss.prior = .gaussian  // the seed KL alters the Gaussian prior alone
        deep.loss.beta = 0.5
        deep.images.antialias = false
        return [
            ("vae-16-3-1-fresh", checkpoint(fresh, step: 0, odd: false)),
            ("vae-16-3-1-step3", checkpoint(fresh, step: 3, odd: true)),
            ("ae-16-2-step5", checkpoint(ae, step: 5, odd: true)),
            ("vae-36-5-2-1-step4", checkpoint(deep, step: 4, odd: true)),
        ]
    }
}
