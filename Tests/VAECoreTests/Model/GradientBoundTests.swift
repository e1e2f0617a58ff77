import XCTest

@testable import VAECore

/// `BackwardSums.gradientBound`, which lets the trainer rule out an overflowing gradient sum
/// before it sums: it must bound every element, and exceed the trainer's limit whenever an
/// element is not finite.
final class GradientBoundTests: XCTestCase {
    /// Runs forward and backward on `count` random images; returns the gradient and its bound.
    private func backward(
        model: ModelConfiguration, loss: LossConfiguration, parameters: [Float], count: Int
    ) -> (gradient: [Float], loss: Double, bound: Double) {
        let layout = NetworkLayout(model)
        var rng = SplitMix64(seed: 3)
        let input = (0..<(count * model.inputSize)).map { _ in Float(rng.nextUnitDouble()) }
        let noise = (0..<(count * model.latentDim)).map { _ in Float(rng.nextGaussian()) }
        let network = Autoencoder(layout: layout, loss: loss, capacity: count)
        var gradient = [Float](repeating: .nan, count: layout.parameterCount)
        let scale = 1 / Float(count)
        let (sums, backward) = input.withUnsafeBufferPointer { x in
            parameters.withUnsafeBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { g in
                    let sums = network.forward(
                        input: x.baseAddress!, count: count, noise: noise, parameters: p.baseAddress!,
                        scale: scale)
                    let backward = network.backward(
                        input: x.baseAddress!, count: count, parameters: p.baseAddress!,
                        gradient: g.baseAddress!, scale: scale)
                    return (sums, backward)
                }
            }
        }
        let total = sums.reconstruction + Double(loss.beta) * backward.kl
        return (gradient, total, backward.gradientBound)
    }

    /// The bench model at its initialisation and with weights 3 times larger: the bound holds,
    /// and is not so loose that it would stop sane training.
    func testBoundCoversEveryElement() {
        let model = ModelConfiguration()
        let layout = NetworkLayout(model)
        for factor: Float in [1, 3] {
            let parameters = layout.initialParameters(seed: 1).map { $0 * factor }
            let (gradient, _, bound) = backward(
                model: model, loss: LossConfiguration(), parameters: parameters, count: 40)
            XCTAssertTrue(gradient.allSatisfy { $0.isFinite }, "weights x \(factor)")
            let largest = Double(gradient.map(abs).max()!)
            XCTAssertGreaterThan(largest, 0)
            print("weights x \(factor): largest |g| \(largest), bound \(bound)")
            XCTAssertLessThanOrEqual(largest, bound, "weights x \(factor)")
            XCTAssertLessThan(bound, 1e6 * largest, "weights x \(factor)")
        }
    }

    /// A hidden unit at the largest float whose outgoing weights are 0 leaves the forward pass
    /// and the loss finite, but its weights' gradient overflows: the bound must exceed the
    /// trainer's limit. (The trainer's own test of this case is in `TrainerTests`.)
    func testOverflowingElementExceedsTheLimit() {
        var model = ModelConfiguration()
        model.hidden = [64, 32]
        var loss = LossConfiguration()
        loss.beta = 1e6
        let parameters = TrainerTests.overflowingParameters(model)
        let (gradient, total, bound) = backward(
            model: model, loss: loss, parameters: parameters, count: 32)
        XCTAssertTrue(total.isFinite, "loss \(total)")
        XCTAssertTrue(gradient.contains { !$0.isFinite }, "the construction must overflow the gradient")
        XCTAssertGreaterThan(bound, Trainer.summableLimit)
    }
}
