import Foundation
import XCTest

@testable import VAECore

/// The pieces of the agreement checks that need no second rank.
final class AgreementTests: XCTestCase {
    private func encoded(_ c: TrainingConfiguration) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return [UInt8](try encoder.encode(c))
    }

    func testDifferenceNamesEveryDifferingSettingByItsPath() throws {
        var mine = TrainingConfiguration()
        mine.batchSize = 64
        mine.optimizer.learningRate = 0.002
        mine.model.hidden = [32]
        XCTAssertEqual(
            SettingsDifference.describe(try encoded(mine), against: try encoded(TrainingConfiguration())),
            "batchSize=64 where rank 0 has 128, model.hidden=[32] where rank 0 has [512,256], "
                + "optimizer.learningRate=0.002 where rank 0 has 0.001")
    }

    func testDigestTellsSettingsApart() throws {
        var other = TrainingConfiguration()
        other.images.seed = 1
        let base = try encoded(TrainingConfiguration())
        XCTAssertEqual(
            SettingsDifference.digest(base), SettingsDifference.digest(try encoded(TrainingConfiguration())))
        XCTAssertNotEqual(SettingsDifference.digest(base), SettingsDifference.digest(try encoded(other)))
    }

    func testParameterDigestFollowsTheParameters() throws {
        var c = TrainingConfiguration()
        c.model.hidden = [16]
        c.images.count = 64
        c.batchSize = 16
        func trainer(seed: UInt64) throws -> Trainer {
            c.seed = seed
            return try Trainer(configuration: c, communicator: SingleProcessCommunicator())
        }
        let a = try trainer(seed: 0)
        XCTAssertEqual(a.parameterDigest, try trainer(seed: 0).parameterDigest)
        XCTAssertNotEqual(a.parameterDigest, try trainer(seed: 1).parameterDigest)
        let before = a.parameterDigest
        _ = try a.trainStep()
        XCTAssertNotEqual(a.parameterDigest, before)
    }
}
