import Foundation
import VAECore

/// The check `train` and `bench` make before the trainer allocates: what a rank will need
/// (`MemoryEstimate`) against what it may use (`MemoryHeadroom`). Ranks on one machine draw on
/// its memory together, so there the need is theirs summed; an address-space limit is each
/// process's own.
struct MemoryCheck {
    let estimate: MemoryEstimate
    /// This job's ranks on this machine (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`, as
    /// `MPICommunicator.localSize` reads it; 1 alone).
    let ranksHere: Int
    let headrooms: [MemoryHeadroom]

    init(_ configuration: TrainingConfiguration, communicator: Communicator, threads: Int, sharedMemory: Bool)
    {
        estimate = MemoryEstimate(
            configuration: configuration, ranks: communicator.size, rank: communicator.rank,
            threads: threads, sharedMemory: sharedMemory)
        ranksHere = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
        headrooms = MemoryHeadroom.current()
    }

    /// The tightest limit for this run: the headroom left after the need, smallest first.
    private var tightest: (need: Int, headroom: MemoryHeadroom)? {
        headrooms.map { h in
            let summed = estimate.total.multipliedReportingOverflow(by: ranksHere)
            return (
                need: h.scope == .process ? estimate.total : summed.overflow ? .max : summed.partialValue,
                headroom: h
            )
        }.min { $0.headroom.bytes - $0.need < $1.headroom.bytes - $1.need }
    }

    /// Why the run cannot fit, in one line, or nil when it can (or no limit is known).
    var problem: String? {
        guard let (need, headroom) = tightest, need > headroom.bytes else { return nil }
        let who =
            headroom.scope == .machine && ranksHere > 1
            ? "\(ranksHere) processes on this machine need about \(MemoryEstimate.format(bytes: need)) of memory "
                + "(\(MemoryEstimate.format(bytes: estimate.total)) each)"
            : "this run needs about \(MemoryEstimate.format(bytes: need)) of memory"
        return "\(who), but may use \(MemoryEstimate.format(bytes: headroom.bytes)) (\(headroom.source)); "
            + "use smaller --hidden sizes or fewer --threads (docs/memory.md)"
    }

    /// "about 1.2 GiB (parts); may use 20.0 GiB (source)" for `bench`.
    var summary: String {
        var line = "about \(MemoryEstimate.format(bytes: estimate.total)) per process (\(estimate.parts))"
        if let (_, headroom) = tightest {
            line += "; may use \(MemoryEstimate.format(bytes: headroom.bytes)) (\(headroom.source))"
        }
        return line
    }

    /// Collective: whether every rank's run fits. When one does not, the lowest such rank prints
    /// its `problem` as the one line the job says, and every rank returns false, so that all
    /// finalise and exit alike.
    func everyRankFits(_ communicator: Communicator) throws -> Bool {
        // The lowest short rank r contributes size - r, the others 0: the maximum names it.
        var shortRank = [problem == nil ? 0 : Double(communicator.size - communicator.rank)]
        try shortRank.withUnsafeMutableBufferPointer { try communicator.allreduceMax($0) }
        guard shortRank[0] > 0 else { return true }
        if let problem, communicator.size - communicator.rank == Int(shortRank[0]) {
            let tag =
                communicator.size > 1 ? "[rank \(communicator.rank) of \(communicator.size) ranks] " : ""
            printError("\(tag)Error: \(problem)")
        }
        return false
    }
}
