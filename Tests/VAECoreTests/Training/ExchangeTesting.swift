import Foundation
import XCTest

@testable import VAECore

/// One step of a gradient exchange on every worker of every rank, as the trainer runs it
/// (reduce, Adam on each worker's block, hand back), from gradients whose sums are exact in any
/// order: every worker must then read the parameters one Adam update of the summed gradient
/// gives, bit for bit.
func checkOneExchangeStep(
    ranks: Int, threads: Int, sharesMemory: Bool, step: Int = 0, file: StaticString = #filePath,
    line: UInt = #line, _ make: @escaping (Communicator, BlockPartition, Int) throws -> GradientExchange
) throws {
    let count = 1000  // not a multiple of the vector width, so blocks have scalar tails
    let initial = (0..<count).map { Float($0 % 13) / 8 - 0.75 }
    /// Worker w of rank r's gradient: small whole numbers, so any order of summing is exact.
    func gradient(_ r: Int, _ w: Int, _ k: Int) -> Float { Float((k * 7 + r * 3 + w) % 11) - 5 }
    let optimizer = OptimizerConfiguration()
    var reference = Adam(configuration: optimizer, parameterCount: count)
    var expected = initial
    let total = (0..<count).map { k in
        (0..<ranks).reduce(Float(0)) { s, r in (0..<threads).reduce(s) { $0 + gradient(r, $1, k) } }
    }
    expected.withUnsafeMutableBufferPointer { p in
        total.withUnsafeBufferPointer { reference.update(p, gradient: $0) }
    }

    let results = try ThreadGroup(size: ranks, sharesMemory: sharesMemory).run { communicator -> [[Float]] in
        let blocks = BlockPartition(count: count, ranks: ranks)
        let exchange = try make(communicator, blocks, threads)
        let sync = StepSync(team: WorkerTeam(size: threads), communicator: communicator)
        let rankBlock = blocks.range(of: communicator.rank)
        let pieces = BlockPartition(count: rankBlock.count, ranks: threads)
        var adam = Adam(configuration: optimizer, parameterCount: count)
        let update = adam.constants(forUpdate: 1)
        for w in 0..<threads {
            exchange.parameters(worker: w, step: step).update(from: initial, count: count)
            let g = exchange.gradient(worker: w, step: step)
            for k in 0..<count { g[k] = gradient(communicator.rank, w, k) }
        }
        try communicator.barrier()  // every rank's gradients are written
        adam.withMoments { m, v in
            sync.team.run { w in
                guard exchange.reduce(worker: w, sync: sync) else { return }
                let piece = pieces.range(of: w)
                exchange.blockGradients(step: step).withUnsafeBufferPointer { gradients in
                    Adam.apply(
                        update, parameters: exchange.parameters(worker: w, step: step), summing: gradients,
                        m: m, v: v,
                        range: (rankBlock.lowerBound + piece.lowerBound)..<(rankBlock.lowerBound
                            + piece.upperBound),
                        output: exchange.adamOutput)
                }
                exchange.handBack(worker: w, sync: sync)
            }
        }
        XCTAssertNil(sync.failure)
        try communicator.barrier()  // every rank has handed back
        return (0..<threads).map {
            Array(UnsafeBufferPointer(start: exchange.parameters(worker: $0, step: step + 1), count: count))
        }
    }
    for (r, rank) in results.enumerated() {
        for (w, parameters) in rank.enumerated() {
            let wrong = zip(parameters, expected).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(
                wrong, 0, "rank \(r) worker \(w): parameters off the summed update", file: file, line: line)
        }
    }
    XCTAssertNotEqual(expected, initial, "the update moved nothing", file: file, line: line)
}
