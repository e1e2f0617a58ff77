import Foundation
import XCTest

@testable import VAECore

final class CheckpointRoundTripTests: XCTestCase {
    /// Property: for random configurations and arbitrary float bit patterns (NaN payloads,
    /// infinities, -0, subnormals), decode(encode(c)) is c, bit for bit, and encoding is
    /// deterministic.
    func testRoundTripIsIdentityOverRandomConfigurations() throws {
        var random = RandomCheckpoints(seed: 0x5EED)
        let cases = 300
        for _ in 0..<cases {
            let original = random.checkpoint()
            let bytes = try CheckpointCodec.encode(original)
            XCTAssertEqual(bytes.count, try CheckpointCodec.encodedSize(original))
            XCTAssertEqual(try CheckpointCodec.encode(original), bytes)
            assertIdentical(try CheckpointCodec.decode(bytes), original)
        }
    }

    /// The encoder writes what the spec says: prefix fields, the canonical table and an
    /// 8-byte-aligned data section.
    func testEncodedPrefixAndAlignmentFollowTheSpec() throws {
        var random = RandomCheckpoints(seed: 7)
        let checkpoint = random.checkpoint()
        let bytes = try CheckpointCodec.encode(checkpoint)
        XCTAssertEqual(Array(bytes[0..<8]), Array("VAEMPICK".utf8))
        XCTAssertEqual(bytes[8..<12].reversed().reduce(0) { $0 << 8 | UInt32($1) }, 2)
        let headerLength = Int(bytes[12..<20].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        XCTAssertEqual((20 + headerLength) % 8, 0)
        let count = checkpoint.layout.parameterCount
        XCTAssertEqual(bytes.count, 20 + headerLength + 12 * count + 4)
        // The first parameter is the first float after the header, little-endian.
        let first = bytes[(20 + headerLength)..<(24 + headerLength)].reversed()
            .reduce(0) { $0 << 8 | UInt32($1) }
        XCTAssertEqual(first, checkpoint.parameters[0].bitPattern)
    }

    /// A checkpoint without the objective's keys (written before they existed) reads as the
    /// ELBO with the default capacity settings; one with them reads them by name.
    func testObjectiveKeysAreOptionalAndReadByName() throws {
        let old = try CheckpointCodec.decode(HandMadeCheckpoint().bytes())
        XCTAssertEqual(old.configuration.loss.objective, .elbo)
        // Before the prior was a setting every run had the Gaussian one.
        var trainedWith = LossConfiguration()
        trainedWith.prior = .gaussian
        XCTAssertEqual(old.configuration.loss, trainedWith)
        var made = HandMadeCheckpoint()
        made.configuration["loss"] = [
            "beta": 6, "kl": "standard", "reconstruction": "bce", "objective": "beta-tcvae",
            "capacity": 2.5, "capacitySteps": 40, "gamma": 300,
        ] as [String: Any]
        let loss = try CheckpointCodec.decode(made.bytes()).configuration.loss
        XCTAssertEqual(loss.objective, .betaTCVAE)
        XCTAssertEqual(loss.beta, 6)
        XCTAssertEqual(loss.capacity, 2.5)
        XCTAssertEqual(loss.capacitySteps, 40)
        XCTAssertEqual(loss.gamma, 300)
        made.configuration["loss"] = [
            "beta": 1, "kl": "standard", "reconstruction": "bce", "objective": "tcvae",
        ] as [String: Any]
        XCTAssertThrowsError(try CheckpointCodec.decode(made.bytes()), "an unknown objective")
    }

    /// Ada-GVAE's settings read by name; `pairChanges` is optional (a random k when absent)
    /// and written only when set; a trainer's checkpoint of an Ada-GVAE run survives the file
    /// and resumes it bit for bit.
    func testAdaGVAESettingsRoundTrip() throws {
        var made = HandMadeCheckpoint()
        made.configuration["loss"] =
            [
                "beta": 2, "kl": "standard", "reconstruction": "bce", "objective": "ada-gvae",
            ] as [String: Any]
        var loss = try CheckpointCodec.decode(made.bytes()).configuration.loss
        XCTAssertEqual(loss.objective, .adaGVAE)
        XCTAssertNil(loss.pairChanges)
        made.configuration["loss"] =
            [
                "beta": 2, "kl": "standard", "reconstruction": "bce", "objective": "ada-gvae",
                "pairChanges": 1,
            ] as [String: Any]
        loss = try CheckpointCodec.decode(made.bytes()).configuration.loss
        XCTAssertEqual(loss.pairChanges, 1)

        var configuration = TrainingConfiguration()
        configuration.images.count = 96
        configuration.batchSize = 16
        configuration.model.hidden = [16]
        configuration.model.latentDim = 3
        (configuration.images.radius, configuration.images.maxRadius) = (2, 5)
        configuration.loss.objective = .adaGVAE
        let communicator = SingleProcessCommunicator()
        for changes in [nil, 2] {
            configuration.loss.pairChanges = changes
            let straight = try Trainer(configuration: configuration, communicator: communicator, threads: 2)
            for _ in 0..<9 { _ = try straight.trainStep() }
            let first = try Trainer(configuration: configuration, communicator: communicator, threads: 2)
            for _ in 0..<5 { _ = try first.trainStep() }
            let bytes = try CheckpointCodec.encode(first.collectCheckpoint())
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self).contains("pairChanges"), changes != nil)
            let read = try CheckpointCodec.decode(bytes)
            XCTAssertEqual(read.configuration, configuration)
            let resumed = try Trainer(
                configuration: configuration, communicator: communicator, threads: 2, resuming: read)
            for _ in 5..<9 { _ = try resumed.trainStep() }
            assertIdentical(try resumed.collectCheckpoint(), try straight.collectCheckpoint())
        }
    }

    /// The world's factors are optional keys: a checkpoint without them (written before they
    /// existed) reads as a fixed radius at full intensity, one with them reads them by name, and
    /// a fixed full-intensity world is written without them, as before.
    func testWorldKeysAreOptionalAndWrittenOnlyWhenTheFactorsDiffer() throws {
        let old = try CheckpointCodec.decode(HandMadeCheckpoint().bytes()).configuration.images
        XCTAssertNil(old.maxRadius)
        XCTAssertEqual(old.intensity, 1)
        XCTAssertNil(old.maxIntensity)
        XCTAssertEqual(old.radii, 1...1)
        var made = HandMadeCheckpoint()
        made.configuration["images"] = [
            "antialias": true, "centres": ["uniform": [String: Any]()], "count": 8,
            "integerCentres": false, "radius": 0.5, "maxRadius": 1.5, "intensity": 0.25,
            "maxIntensity": 0.75, "seed": 0, "side": 4,
        ] as [String: Any]
        let images = try CheckpointCodec.decode(made.bytes()).configuration.images
        XCTAssertEqual(images.radii, 0.5...1.5)
        XCTAssertEqual(images.intensities, 0.25...0.75)

        var checkpoint = try CheckpointCodec.decode(HandMadeCheckpoint().bytes())
        func header() throws -> String {
            let bytes = try CheckpointCodec.encode(checkpoint)
            let length = Int(bytes[12..<20].reversed().reduce(0) { $0 << 8 | UInt64($1) })
            return String(decoding: bytes[20..<(20 + length)], as: UTF8.self)
        }
        for key in ["maxRadius", "intensity", "maxIntensity"] {
            XCTAssertFalse(try header().contains("\"\(key)\""), key)
        }
        checkpoint.configuration.images.maxRadius = 2
        checkpoint.configuration.images.intensity = 0.5
        XCTAssertTrue(try header().contains("\"maxRadius\":2"))
        XCTAssertTrue(try header().contains("\"intensity\":0.5"))
        XCTAssertFalse(try header().contains("\"maxIntensity\""))
        assertIdentical(try CheckpointCodec.decode(try CheckpointCodec.encode(checkpoint)), checkpoint)
    }

    /// A world the images cannot hold is refused on reading, like the flags that would make it.
    func testImpossibleWorldsAreRefused() throws {
        for (key, value) in [("maxRadius", 0.5), ("maxRadius", 2.5), ("intensity", 0), ("maxIntensity", 1.5)] {
            var made = HandMadeCheckpoint()
            var images = made.configuration["images"] as? [String: Any] ?? [:]
            images[key] = value
            made.configuration["images"] = images
            XCTAssertThrowsError(try CheckpointCodec.decode(made.bytes()), "\(key) \(value)")
        }
    }

    /// The trainer's own state survives a file round trip.
    func testTrainerCheckpointSurvivesTheFile() throws {
        var configuration = TrainingConfiguration()
        configuration.images.count = 64
        configuration.batchSize = 16
        configuration.model.hidden = [8]
        let trainer = try Trainer(
            configuration: configuration,
            communicator: SingleProcessCommunicator())
        for _ in 0..<5 { _ = try trainer.trainStep() }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ck.bin"
        let state = try trainer.collectCheckpoint()
        try CheckpointCodec.write(state, to: path)
        let read = try CheckpointCodec.read(from: path)
        assertIdentical(read, state)
        XCTAssertEqual(read.optimizer.stepCount, 5)
    }

    /// Stop after k steps, rebuild the trainer from the checkpoint file, run n more: the same
    /// bytes as k + n steps without stopping. After an even and an odd k, one thread and two
    /// (the workers' two buffers swap roles each step, so a resume must start in the right one).
    func testResumedTrainerMatchesUninterruptedBitForBit() throws {
        var configuration = TrainingConfiguration()
        configuration.images.count = 96
        configuration.batchSize = 16  // 6 steps per epoch: the resume crosses an epoch
        configuration.model.hidden = [16]
        let communicator = SingleProcessCommunicator()
        for threads in [1, 2] {
            let straight = try Trainer(
                configuration: configuration, communicator: communicator, threads: threads)
            for _ in 0..<13 { _ = try straight.trainStep() }
            for stop in [4, 5] {
                let first = try Trainer(
                    configuration: configuration, communicator: communicator, threads: threads)
                for _ in 0..<stop { _ = try first.trainStep() }
                let bytes = try CheckpointCodec.encode(first.collectCheckpoint())
                let resumed = try Trainer(
                    configuration: configuration, communicator: communicator, threads: threads,
                    resuming: CheckpointCodec.decode(bytes))
                for _ in stop..<13 { _ = try resumed.trainStep() }
                assertIdentical(try resumed.collectCheckpoint(), try straight.collectCheckpoint())
            }
        }
    }

    /// A checkpoint of a 3-rank run resumed by 3 ranks continues it bit for bit; resumed by 1
    /// rank it stays within summation-order noise of the 1-rank run. (Ranks on threads, through
    /// the tests' in-process stand-in for MPI.)
    func testResumeAtAnotherRankCount() throws {
        var configuration = TrainingConfiguration()
        configuration.images.count = 96
        configuration.batchSize = 32  // split 11, 11, 10 over 3 ranks
        configuration.model.hidden = [16]
        func run(ranks: Int, steps: Int, from start: Checkpoint? = nil) throws -> Checkpoint {
            try ThreadGroup(size: ranks).run { communicator -> Checkpoint in
                let trainer = try Trainer(
                    configuration: configuration, communicator: communicator,
                    resuming: start)
                for _ in 0..<steps { _ = try trainer.trainStep() }
                return try trainer.collectCheckpoint()
            }[0]
        }
        let saved = try CheckpointCodec.decode(CheckpointCodec.encode(run(ranks: 3, steps: 5)))
        assertIdentical(try run(ranks: 3, steps: 5, from: saved), try run(ranks: 3, steps: 10))

        let resumedAlone = try run(ranks: 1, steps: 5, from: saved)
        let alone = try run(ranks: 1, steps: 10)
        XCTAssertEqual(resumedAlone.step, 10)
        let worst = zip(resumedAlone.parameters, alone.parameters).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4, "largest parameter difference")
    }
}
