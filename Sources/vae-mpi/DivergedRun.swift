import Foundation
import VAECore
import VAEReport

/// A sweep's run whose loss or gradient stopped being finite: `diverged.json` in the run's
/// directory says so, with the step, the reason and the settings it was trained with. A
/// diverged run is a result of its study (not disentangled), so a sweep started again skips it.
struct DivergedRun: Codable, Equatable {
    /// Always `diverged`, so the file says what it is.
    var status = "diverged"
    /// The step that failed (1-based, as the log counts steps).
    var step: Int
    /// The trainer's words: `non-finite loss at step 2`.
    var reason: String
    var configuration: TrainingConfiguration

    static func path(of run: SweepPlan.Run) -> String {
        (run.path as NSString).appendingPathComponent("diverged.json")
    }

    /// The record for a trainer's error when it is a divergence, else nil.
    init?(_ error: Error, configuration: TrainingConfiguration) {
        guard let error = error as? TrainingError else { return nil }
        switch error {
        case .nonFiniteLoss(let step), .nonFiniteGradient(let step): self.step = step
        case .configurationMismatch: return nil
        }
        reason = error.description
        self.configuration = configuration
    }

    /// The run's record, or nil when it has none.
    /// - Throws: `ConfigurationError` when the file is not a record of this kind.
    static func read(_ run: SweepPlan.Run) throws -> DivergedRun? {
        let path = path(of: run)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            let record = try JSONDecoder().decode(DivergedRun.self, from: data)
            guard record.status == "diverged" else { throw ConfigurationError("status is not diverged") }
            return record
        } catch {
            throw ConfigurationError(
                "\(path): not a diverged run's record; delete \(run.path) to train that run again")
        }
    }

    /// Written atomically, as the checkpoint is.
    func write(_ run: SweepPlan.Run) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(self)) + [UInt8(ascii: "\n")], to: Self.path(of: run))
    }

    /// What the study shows of it.
    var divergence: StudyRun.Divergence { StudyRun.Divergence(step: step, reason: reason) }
}
