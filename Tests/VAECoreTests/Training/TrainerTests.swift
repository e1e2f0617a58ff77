import XCTest

@testable import VAECore

final class TrainerTests: XCTestCase {
    private func smallConfiguration(kind: ModelConfiguration.Kind = .vae) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.model.kind = kind
        c.model.hidden = [64, 32]
        c.images.count = 2048
        c.batchSize = 32
        c.epochs = 2
        c.seed = 11
        return c
    }

    func testLossFallsOnAShortRun() throws {
        for kind in ModelConfiguration.Kind.allCases {
            let trainer = try Trainer(
                configuration: smallConfiguration(kind: kind),
                communicator: SingleProcessCommunicator())
            var losses: [Double] = []
            while !trainer.isFinished { losses.append(try trainer.trainStep().loss) }
            XCTAssertEqual(losses.count, 128)
            let first = losses.prefix(10).reduce(0, +) / 10
            let last = losses.suffix(10).reduce(0, +) / 10
            XCTAssertLessThan(last, 0.6 * first, "\(kind): loss \(first) -> \(last)")
        }
    }

    func testSameSeedGivesIdenticalParameters() throws {
        func train() throws -> [Float] {
            let t = try Trainer(
                configuration: smallConfiguration(), communicator: SingleProcessCommunicator())
            for _ in 0..<20 { _ = try t.trainStep() }
            return t.parameters
        }
        XCTAssertEqual(try train(), try train())
    }

    /// The determinism contract inside one process: 2 and 3 ranks (3 splits 32 unevenly), in
    /// shared memory or by message, give the model 1 rank gives, up to the summation order of
    /// the gradients.
    func testRankCountsAgreeWithOneRank() throws {
        let config = smallConfiguration()
        let steps = 10
        func train(ranks: Int, shared: Bool) throws -> (
            parameters: [Float], losses: [Double], secondMoment: [Float]
        ) {
            let results = try ThreadGroup(size: ranks, sharesMemory: shared).run {
                communicator -> ([Float], [Double], [Float]) in
                let t = try Trainer(configuration: config, communicator: communicator)
                var losses: [Double] = []
                for _ in 0..<steps { losses.append(try t.trainStep().loss) }
                return (t.parameters, losses, try t.collectCheckpoint().optimizer.secondMoment)
            }
            // Every rank ends with the same parameters and (gathered) Adam state.
            for r in results.dropFirst() {
                XCTAssertEqual(r.0, results[0].0)
                XCTAssertEqual(r.2, results[0].2)
            }
            return results[0]
        }
        let one = try train(ranks: 1, shared: true)
        for (ranks, shared) in [(2, true), (3, true), (2, false), (3, false)] {
            let many = try train(ranks: ranks, shared: shared)
            for (a, b) in zip(one.losses, many.losses) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * abs(a), "\(ranks) ranks: loss trace")
            }
            let worst = zip(one.parameters, many.parameters).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-4, "\(ranks) ranks: largest parameter difference")
            let worstMoment =
                zip(one.secondMoment, many.secondMoment).map { abs($0 - $1) / max($0, 1e-12) }.max()
                ?? .infinity
            XCTAssertLessThan(worstMoment, 1e-2, "\(ranks) ranks: Adam second moments, relative")
        }
    }

    /// Worker threads inside one rank give the model one thread gives, up to the summation
    /// order of the gradients; 3 threads split the batch of 32 unevenly, 40 threads leave some
    /// with no samples at all.
    func testWorkerThreadsAgreeWithOneThread() throws {
        let c = smallConfiguration()
        func train(threads: Int) throws -> ([Float], [Double]) {
            let t = try Trainer(configuration: c, communicator: SingleProcessCommunicator(), threads: threads)
            var losses: [Double] = []
            for _ in 0..<10 { losses.append(try t.trainStep().loss) }
            return (t.parameters, losses)
        }
        let (p1, l1) = try train(threads: 1)
        for threads in [2, 3, 40] {
            let (p, l) = try train(threads: threads)
            for (a, b) in zip(l1, l) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * a, "\(threads) threads: loss trace")
            }
            XCTAssertLessThan(
                zip(p1, p).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, "\(threads) threads: parameters")
        }
    }

    /// Any split of the batch into the same pieces adds the same partial gradients in the same
    /// order, in shared memory: so 4 threads in one rank, 2 ranks of 2 threads and 4 ranks of
    /// one thread train bit-identical models. By message, 2 ranks of 1 thread match too (a
    /// sum of two is the same either way).
    func testSameSplitGivesIdenticalModelsAcrossRanksAndThreads() throws {
        let c = smallConfiguration()
        func train(ranks: Int, threads: Int, shared: Bool = true) throws -> [Float] {
            let results = try ThreadGroup(size: ranks, sharesMemory: shared).run { communicator -> [Float] in
                let t = try Trainer(configuration: c, communicator: communicator, threads: threads)
                XCTAssertEqual(t.usesSharedMemory, shared || ranks == 1)
                for _ in 0..<10 { _ = try t.trainStep() }
                return t.parameters
            }
            for r in results.dropFirst() { XCTAssertEqual(r, results[0]) }
            return results[0]
        }
        let fourThreads = try train(ranks: 1, threads: 4)
        XCTAssertEqual(try train(ranks: 2, threads: 2), fourThreads, "2 ranks x 2 threads")
        XCTAssertEqual(try train(ranks: 4, threads: 1), fourThreads, "4 ranks x 1 thread")
        let twoThreads = try train(ranks: 1, threads: 2)
        XCTAssertNotEqual(twoThreads, fourThreads, "a different split adds in a different order")
        XCTAssertEqual(try train(ranks: 2, threads: 1, shared: false), twoThreads, "2 ranks by message")
    }

    /// The objectives that couple the batch keep the determinism contract: 2 and 3 ranks (in
    /// shared memory and by message), 3 threads and 2 ranks of 2 threads train the model one
    /// rank does, up to summation order, and report the same TC estimates. The same split in
    /// shared memory (4 threads, 2 ranks x 2 threads, 4 ranks x 1) gives the same bits, since
    /// every worker sees the same gathered batch.
    func testCoupledObjectivesAgreeAcrossRanksAndThreads() throws {
        for objective in [LossConfiguration.Objective.capacity, .betaTCVAE] {
            var c = smallConfiguration()
            c.loss.objective = objective
            c.loss.beta = 6
            (c.loss.capacity, c.loss.capacitySteps, c.loss.gamma) = (4, 6, 30)
            c.loss.betaWarmupSteps = 3
            func train(ranks: Int, threads: Int, shared: Bool = true) throws -> (
                parameters: [Float], reports: [StepReport]
            ) {
                let results = try ThreadGroup(size: ranks, sharesMemory: shared).run {
                    communicator -> ([Float], [StepReport]) in
                    let t = try Trainer(configuration: c, communicator: communicator, threads: threads)
                    var reports: [StepReport] = []
                    for _ in 0..<10 { reports.append(try t.trainStep()) }
                    return (t.parameters, reports)
                }
                for r in results.dropFirst() { XCTAssertEqual(r.0, results[0].0, "\(objective): ranks agree") }
                return results[0]
            }
            let one = try train(ranks: 1, threads: 1)
            for (k, report) in one.reports.enumerated() {
                switch objective {
                case .capacity:
                    let target = try XCTUnwrap(report.capacityTarget)
                    XCTAssertEqual(target, 4 * min(1, Double(k) / 6), accuracy: 1e-12, "C at step \(k)")
                    XCTAssertNil(report.totalCorrelation)
                    let weight = 30 * min(1, Double(k) / 3)
                    let expected = report.reconstruction + weight * abs(report.kl - target)
                    XCTAssertEqual(report.loss, expected, accuracy: 1e-6 * expected, "capacity loss")
                default:
                    let tc = try XCTUnwrap(report.totalCorrelation)
                    XCTAssertTrue(tc.isFinite)
                    let warm = min(1, Double(k) / 3)
                    let expected = report.reconstruction + warm * (report.kl + 5 * tc)
                    XCTAssertEqual(report.loss, expected, accuracy: 1e-6 * abs(expected), "beta-TCVAE loss")
                }
            }
            for (ranks, threads, shared) in [(2, 1, true), (3, 1, true), (3, 1, false), (1, 3, true), (2, 2, false)] {
                let label = "\(objective), \(ranks) ranks x \(threads) threads, shared \(shared)"
                let many = try train(ranks: ranks, threads: threads, shared: shared)
                for (a, b) in zip(one.reports, many.reports) {
                    XCTAssertEqual(a.loss, b.loss, accuracy: 1e-4 * abs(a.loss), "\(label): loss")
                    if let tc = a.totalCorrelation {
                        XCTAssertEqual(tc, b.totalCorrelation ?? .nan, accuracy: 1e-4 * max(abs(tc), 1), "\(label): TC")
                    }
                }
                let worst = zip(one.parameters, many.parameters).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-4, "\(label): largest parameter difference")
            }
            let fourThreads = try train(ranks: 1, threads: 4)
            XCTAssertEqual(try train(ranks: 2, threads: 2).parameters, fourThreads.parameters, "\(objective)")
            XCTAssertEqual(try train(ranks: 4, threads: 1).parameters, fourThreads.parameters, "\(objective)")
        }
    }

    func testNonFiniteLossStopsBeforeTheUpdate() throws {
        var c = smallConfiguration()
        c.optimizer.learningRate = 1e30  // the first update overflows the parameters
        let t = try Trainer(configuration: c, communicator: SingleProcessCommunicator())
        _ = try t.trainStep()
        var caught: TrainingError?
        for _ in 0..<5 {
            do { _ = try t.trainStep() } catch let e as TrainingError { caught = e; break }
        }
        guard case .nonFiniteLoss(let step)? = caught else {
            return XCTFail("no error: \(String(describing: caught))")
        }
        XCTAssertEqual(t.step, step - 1, "the failing step must not be applied")
        XCTAssertEqual(caught?.description, "non-finite loss at step \(step)")
    }

    /// Parameters whose loss is finite but whose gradient overflows (with a large KL weight):
    /// the first hidden unit's bias is the largest float and its outgoing weights are 0, so the
    /// forward pass never sees it, but its outgoing weights' gradient is the largest float
    /// times the next layer's delta.
    static func overflowingParameters(_ model: ModelConfiguration) -> [Float] {
        let layout = NetworkLayout(model)
        var p = layout.initialParameters(seed: 2)
        p[layout.encoder[0].biasOffset] = .greatestFiniteMagnitude
        let next = layout.encoder[1]
        for j in 0..<next.outputs { p[next.weightOffset + j] = 0 }
        return p
    }

    /// A gradient that overflows stops every rank before the update, alone, between ranks in
    /// shared memory and by message, with a finite loss.
    func testOverflowingGradientStopsBeforeTheUpdate() throws {
        var c = smallConfiguration()
        c.loss.beta = 1e6
        let start = TrainerTests.overflowingParameters(c.model)
        let checkpoint = Checkpoint(
            configuration: c, step: 0, parameters: start,
            optimizer: Adam(configuration: c.optimizer, parameterCount: start.count))
        for (ranks, shared) in [(1, true), (2, true), (2, false)] {
            let outcomes = try ThreadGroup(size: ranks, sharesMemory: shared).run {
                communicator -> (error: TrainingError?, step: Int, parameters: [Float]) in
                let t = try Trainer(
                    configuration: c, communicator: communicator, threads: 2, resuming: checkpoint)
                do {
                    _ = try t.trainStep()
                    return (nil, t.step, t.parameters)
                } catch let error as TrainingError {
                    return (error, t.step, t.parameters)
                }
            }
            for outcome in outcomes {
                XCTAssertEqual(outcome.error, .nonFiniteGradient(step: 1), "\(ranks) ranks, shared \(shared)")
                XCTAssertEqual(outcome.step, 0)
                XCTAssertTrue(outcome.parameters == start, "the failing step must not be applied")
            }
        }
        XCTAssertEqual(
            TrainingError.nonFiniteGradient(step: 1).description,
            "non-finite or overflowing gradient at step 1")
    }

    func testValidationNamesTheBadSetting() {
        var c = smallConfiguration()
        c.batchSize = 5000
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertEqual("\($0)", "batch-size 5000 is larger than the data set (2048 images)")
        }
        c = smallConfiguration()
        c.model.hidden = [64, 0]
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertEqual("\($0)", "hidden sizes must be positive, got 0")
        }
        c = smallConfiguration(kind: .ae)
        c.loss.objective = .betaTCVAE
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertEqual("\($0)", "--objective beta-tcvae needs a VAE (--model vae)")
        }
        c = smallConfiguration()
        c.loss.objective = .capacity
        c.loss.capacity = -1
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertEqual("\($0)", "capacity must be a non-negative number of nats, got -1.0")
        }
    }
}

extension TrainerTests {
    /// Ada-GVAE keeps the contract: every split falls between pairs, so 2, 3 and 4 ranks (in
    /// shared memory and by message) and 3 threads train the model one rank does up to
    /// summation order, and the same split gives the same bits. The world has four factors,
    /// the batch 30 images (15 pairs: 5, 5, 5 over 3 ranks; 4, 4, 4, 3 over 4).
    func testAdaGVAEAgreesAcrossRanksAndThreads() throws {
        var c = TrainingConfiguration()
        c.model.hidden = [64, 32]
        c.model.latentDim = 4
        (c.images.radius, c.images.maxRadius) = (2, 5)
        (c.images.intensity, c.images.maxIntensity) = (0.3, 1)
        c.images.count = 2048
        c.batchSize = 30
        c.seed = 11
        c.loss.objective = .adaGVAE
        func train(ranks: Int, threads: Int, shared: Bool = true) throws -> (
            parameters: [Float], losses: [Double]
        ) {
            let results = try ThreadGroup(size: ranks, sharesMemory: shared).run {
                communicator -> ([Float], [Double]) in
                let t = try Trainer(configuration: c, communicator: communicator, threads: threads)
                var losses: [Double] = []
                for _ in 0..<10 { losses.append(try t.trainStep().loss) }
                return (t.parameters, losses)
            }
            for r in results.dropFirst() { XCTAssertEqual(r.0, results[0].0, "ranks agree") }
            return results[0]
        }
        let one = try train(ranks: 1, threads: 1)
        XCTAssertLessThan(one.losses.last!, one.losses.first!, "the loss falls")
        for (ranks, threads, shared) in [
            (2, 1, true), (3, 1, true), (4, 1, false), (1, 3, true), (2, 2, false),
        ] {
            let label = "\(ranks) ranks x \(threads) threads, shared \(shared)"
            let many = try train(ranks: ranks, threads: threads, shared: shared)
            for (a, b) in zip(one.losses, many.losses) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * abs(a), "\(label): loss")
            }
            let worst = zip(one.parameters, many.parameters).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-4, "\(label): largest parameter difference")
        }
        let threeThreads = try train(ranks: 1, threads: 3)
        XCTAssertEqual(
            try train(ranks: 3, threads: 1).parameters, threeThreads.parameters, "3 ranks, 3 threads")
    }
}
