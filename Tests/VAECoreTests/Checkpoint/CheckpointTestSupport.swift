import Foundation
import XCTest

@testable import VAECore

/// A checkpoint assembled byte by byte from the spec (docs/checkpoint-format.md), without the
/// encoder: the tiny VAE 16-3-1 (4x4 images), whose tensor table is written out by hand.
struct HandMadeCheckpoint {
    static let parameterCount = 129  // (16+1)*3 + (3+1)*2 + (1+1)*3 + (3+1)*16
    static let dataLength = 3 * parameterCount * 4

    var magic = Array("VAEMPICK".utf8)
    var version: UInt32 = 2
    /// Replaces the true header length in the prefix.
    var headerLengthOverride: UInt64? = nil
    var configuration: [String: Any] = [
        "batchSize": 4, "epochs": 1, "seed": 0,
        "images": [
            "antialias": true, "centres": ["uniform": [String: Any]()], "count": 8,
            "integerCentres": false, "radius": 1, "seed": 0, "side": 4,
        ] as [String: Any],
        "loss": ["beta": 1, "kl": "standard", "reconstruction": "bce"] as [String: Any],
        "model": ["hidden": [3], "inputSize": 16, "kind": "vae", "latentDim": 1] as [String: Any],
        "optimizer": ["beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "learningRate": 0.001],
    ]
    var state: [String: Any] = ["step": 3, "epoch": 1, "adam_step_count": 3]
    var tensors: [[String: Any]] = HandMadeCheckpoint.canonicalTable()
    /// Parameters, Adam m, Adam v: element k of group g holds 1000 g + k.
    var data: [UInt8] = (0..<(3 * HandMadeCheckpoint.parameterCount)).flatMap { k -> [UInt8] in
        let g = k / HandMadeCheckpoint.parameterCount
        let value = Float(1000 * g + k % HandMadeCheckpoint.parameterCount)
        return withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }
    /// Replaces the header bytes entirely.
    var rawHeader: [UInt8]? = nil

    static func canonicalTable() -> [[String: Any]] {
        let shapes: [(String, [Int])] = [
            ("encoder.0.weight", [16, 3]), ("encoder.0.bias", [3]),
            ("encoder.head.weight", [3, 2]), ("encoder.head.bias", [2]),
            ("decoder.0.weight", [1, 3]), ("decoder.0.bias", [3]),
            ("decoder.output.weight", [3, 16]), ("decoder.output.bias", [16]),
        ]
        var table: [[String: Any]] = []
        var offset = 0
        for group in ["parameters", "adam_m", "adam_v"] {
            for (name, shape) in shapes {
                let length = 4 * shape.reduce(1, *)
                table.append([
                    "name": group + "/" + name, "dtype": "F32", "shape": shape,
                    "offset": offset, "length": length,
                ])
                offset += length
            }
        }
        return table
    }

    func headerBytes() -> [UInt8] {
        if let rawHeader { return rawHeader }
        let object: [String: Any] = [
            "configuration": configuration, "state": state,
            "tensors": tensors,
        ]
        // Sorted keys: the same bytes in every process (dictionary order follows a per-process
        // hash seed), so the fuzz test's mutations, and any failure, reproduce. Test data is
        // well-formed; a failure here is a bug in the test itself.
        return [UInt8](
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// Prefix, header, data and the CRC-32 of all of them.
    func bytes() -> [UInt8] {
        let header = headerBytes()
        var bytes = magic
        withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: (headerLengthOverride ?? UInt64(header.count)).littleEndian) {
            bytes += $0
        }
        bytes += header + data
        return Self.withChecksum(bytes)
    }

    /// `body` followed by zlib's CRC-32 of it.
    static func withChecksum(_ body: [UInt8]) -> [UInt8] {
        var bytes = body
        withUnsafeBytes(of: CheckpointCodec.crc32(body).littleEndian) { bytes += $0 }
        return bytes
    }

    /// Replaces the last 4 bytes with the CRC-32 of the rest, so a mutation reaches the
    /// validation that comes before the checksum.
    static func rechecksummed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 4 else { return bytes }
        return withChecksum(Array(bytes.dropLast(4)))
    }

    /// The offset of the data section in `bytes()`.
    var dataStart: Int { 20 + headerBytes().count }
}

/// Small random configurations and checkpoints for property tests.
struct RandomCheckpoints {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func configuration() -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.images.side = int(4...9)
        c.images.radius = Double.random(in: 0.5...2, using: &rng)
        c.images.centres =
            Bool.random(using: &rng)
            ? .uniform : .normal(sigma: Double.random(in: 0.1...10, using: &rng))
        c.images.integerCentres = Bool.random(using: &rng)
        c.images.antialias = Bool.random(using: &rng)
        c.images.count = int(1...5000)
        c.images.seed = rng.next()
        c.model.kind = Bool.random(using: &rng) ? .vae : .ae
        c.model.inputSize = c.images.pixelCount
        c.model.hidden = (0..<int(0...3)).map { _ in int(1...12) }
        c.model.latentDim = int(1...4)
        c.loss.reconstruction = Bool.random(using: &rng) ? .bce : .mse
        c.loss.kl = Bool.random(using: &rng) ? .standard : .seed
        // The seed experiment's KL alters the Gaussian prior's alone.
        let priors: [Prior] = [.gaussian, .laplace, .generalizedGaussian(power: 8)]
        c.loss.prior = c.loss.kl == .seed ? .gaussian : priors[Int(rng.next() % 3)]
        c.blur = BlurSchedule(sigma: Double(rng.next() % 4), annealFraction: 0.5)
        c.loss.beta = Float.random(in: 0...8, using: &rng)
        if c.model.kind == .vae, c.loss.kl == .standard {
            c.loss.objective = LossConfiguration.Objective.allCases.randomElement(using: &rng) ?? .elbo
        }
        c.loss.capacity = Double.random(in: 0...50, using: &rng)
        c.loss.capacitySteps = int(0...100_000)
        c.loss.gamma = Float.random(in: 0...2000, using: &rng)
        c.optimizer.learningRate = Float.random(in: 1e-6...1, using: &rng)
        c.optimizer.beta1 = Float.random(in: 0..<1, using: &rng)
        c.optimizer.beta2 = Float.random(in: 0..<1, using: &rng)
        c.optimizer.epsilon = Float.random(in: 1e-12...1e-3, using: &rng)
        c.batchSize = int(1...c.images.count)
        c.epochs = int(1...100)
        c.seed = rng.next()
        // The world's factors, drawn last so the draws above are those of fixed worlds.
        let largest = Double(c.images.side) / 2
        if Bool.random(using: &rng) { c.images.maxRadius = Double.random(in: c.images.radius...largest, using: &rng) }
        if Bool.random(using: &rng) { c.images.intensity = Double.random(in: 0.01...1, using: &rng) }
        if Bool.random(using: &rng) {
            c.images.maxIntensity = Double.random(in: c.images.intensity...1, using: &rng)
        }
        // Ada-GVAE's pairs: an even batch, and a k that leaves a factor of this world shared.
        if c.loss.objective == .adaGVAE {
            let factors = c.images.varyingFactors.count
            c.images.count = max(2, c.images.count)
            c.batchSize = 2 * max(1, c.batchSize / 2)
            if factors < 2 {
                c.loss.objective = .elbo
            } else if Bool.random(using: &rng) {
                c.loss.pairChanges = int(1...(factors - 1))
            }
        }
        return c
    }

    /// Any 32-bit pattern: NaNs with payloads, infinities, -0 and subnormals included.
    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
    }

    mutating func checkpoint() -> Checkpoint {
        let configuration = configuration()
        let count = NetworkLayout(configuration.model).parameterCount
        var adam = Adam(configuration: configuration.optimizer, parameterCount: count)
        adam.firstMoment = floats(count)
        adam.secondMoment = floats(count)
        adam.stepCount = int(0...1_000_000)
        return Checkpoint(
            configuration: configuration, step: int(0...1_000_000),
            parameters: floats(count), optimizer: adam)
    }
}

/// Bit patterns, so NaN payloads and -0 count.
func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

func assertIdentical(
    _ a: Checkpoint, _ b: Checkpoint, file: StaticString = #filePath,
    line: UInt = #line
) {
    XCTAssertEqual(a.configuration, b.configuration, file: file, line: line)
    XCTAssertEqual(a.step, b.step, file: file, line: line)
    XCTAssertEqual(bits(a.parameters), bits(b.parameters), file: file, line: line)
    XCTAssertEqual(
        bits(a.optimizer.firstMoment), bits(b.optimizer.firstMoment), file: file,
        line: line)
    XCTAssertEqual(
        bits(a.optimizer.secondMoment), bits(b.optimizer.secondMoment), file: file,
        line: line)
    XCTAssertEqual(a.optimizer.stepCount, b.optimizer.stepCount, file: file, line: line)
    XCTAssertEqual(a.optimizer.configuration, b.optimizer.configuration, file: file, line: line)
}

/// A fresh empty directory under the system's temporary directory.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "vae-mpi-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
