import ArgumentParser
import Foundation
import VAECore
import VAEDistributed

/// Runs `body(communicator, threads)` as this process's part of the job: every rank of
/// `mpirun`, or a one-rank job when started alone; `threads` is how many worker threads this
/// rank trains on (`requestedThreads`, or its share of the machine). Then ends MPI the way the
/// outcome demands, so no rank is left waiting for another:
/// - success: every rank finalises;
/// - an error every rank throws alike (a collective check failed): rank 0 alone prints it,
///   every rank finalises and exits with status 1;
/// - any other error, which only this rank may know about: it prints the error with its rank
///   and aborts the whole job.
func runJob(
    threads requestedThreads: Int?, fault: FaultInjection?, _ body: (Communicator, Int) throws -> Void
) throws {
    try runJob(threads: requestedThreads) { mpi, threads in
        try body(fault.map { FaultInjectingCommunicator(mpi, fault: $0) } ?? mpi, threads)
    }
}

/// `runJob` with the world's `MPICommunicator` itself, for a job that splits it into groups.
func runJob(threads requestedThreads: Int?, _ body: (MPICommunicator, Int) throws -> Void) throws {
    let mpi = try MPICommunicator()
    let threads = requestedThreads ?? defaultThreads(ranksOnThisMachine: mpi.localSize)
    if mpi.isRoot, let layout = machineLayout(mpi.hosts) { printError("[\(mpi.size) ranks] \(layout)") }
    do {
        try body(mpi, threads)
        mpi.finalize()
    } catch let error where isCollective(error) {
        // Printed before finalising: once a rank exits non-zero, mpirun may kill the others.
        if mpi.size > 1, mpi.isRoot { printError("[\(mpi.size) ranks] Error: \(error)") }
        mpi.finalize()
        if mpi.size == 1 { throw error }
        throw ExitCode.failure
    } catch {
        if mpi.size == 1 {
            mpi.finalize()
            throw error
        }
        printError("[rank \(mpi.rank) of \(mpi.size) ranks] Error: \(error)")
        mpi.abort(code: 1)
    }
}

/// Where the ranks run, when that is on several machines: "on 2 machines: h1 (ranks 0, 1), h2
/// (ranks 2, 3)"; nil on one machine.
func machineLayout(_ hosts: [String]) -> String? {
    var machines: [String] = []
    var ranks: [String: [Int]] = [:]
    for (rank, host) in hosts.enumerated() {
        if ranks[host] == nil { machines.append(host) }
        ranks[host, default: []].append(rank)
    }
    guard machines.count > 1 else { return nil }
    let parts = machines.map { host in
        let list = ranks[host] ?? []
        return
            "\(host) (\(list.count == 1 ? "rank" : "ranks") \(list.map(String.init).joined(separator: ", ")))"
    }
    return "on \(machines.count) machines: " + parts.joined(separator: ", ")
}

/// Errors that every rank throws at the same point, so every rank can still finalise.
private func isCollective(_ error: Error) -> Bool {
    switch error {
    case is AgreementError, is ConfigurationError: return true
    case TrainingError.nonFiniteLoss, TrainingError.nonFiniteGradient: return true
    default: return false
    }
}

/// This rank's fair share of the machine: the cores it may run on (mpirun's binding may have
/// narrowed them), but no more than the machine's cores divided among the ranks on it. So one
/// thread when the ranks fill the cores, every core when alone, and cores left idle by fewer
/// ranks than cores are still used.
func defaultThreads(ranksOnThisMachine ranks: Int) -> Int {
    let machine = ProcessInfo.processInfo.activeProcessorCount
    return max(1, min(coresThisProcessMayUse() ?? machine, machine / max(1, ranks)))
}

/// The CPUs in this process's affinity mask, from Linux's `Cpus_allowed` hex mask (Foundation's
/// count ignores the mask, and Swift's Glibc does not expose `sched_getaffinity`).
private func coresThisProcessMayUse() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
    else { return nil }
    let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
    let count = mask.reduce(0) { $0 + ($1.hexDigitValue ?? 0).nonzeroBitCount }
    return count > 0 ? count : nil
}

/// A test hook (the hidden flag `--inject-fault KIND:RANK:STEP`): makes one rank misbehave at
/// one optimiser step, to show that every rank stops with the right message.
struct FaultInjection: ExpressibleByArgument {
    enum Kind: String {
        /// A NaN in this rank's loss before the ranks sum it: a non-finite loss.
        case nan
        /// A nudge to this rank's copy of the parameters once the step has gathered them:
        /// ranks that disagree at the step's agreement check.
        case drift
        /// An error on this rank alone where the others wait in a collective, as a failed MPI
        /// call or a full disk would be.
        case fail
    }

    struct Failure: Error, CustomStringConvertible {
        let step: Int
        var description: String { "injected failure at step \(step)" }
    }

    var kind: Kind
    var rank: Int
    var step: Int

    init?(argument: String) {
        let parts = argument.split(separator: ":").map(String.init)
        guard parts.count == 3, let kind = Kind(rawValue: parts[0]),
            let rank = Int(parts[1]), rank >= 0, let step = Int(parts[2]), step >= 1
        else { return nil }
        self.kind = kind
        self.rank = rank
        self.step = step
    }
}

/// Passes everything through to `base`, except the fault. The trainer sums its loss terms with
/// exactly one Double allreduce per optimiser step, so the n-th such call is step n. A drift
/// needs ranks with their own copies of the parameters, so for it the ranks exchange by message
/// (no shared memory), and the step's parameters are then gathered by the next Float allgather.
private final class FaultInjectingCommunicator: Communicator {
    private let base: Communicator
    private let fault: FaultInjection
    private var lossSums = 0
    private var driftPending = false

    init(_ base: Communicator, fault: FaultInjection) {
        self.base = base
        self.fault = fault
    }

    var rank: Int { base.rank }
    var size: Int { base.size }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        lossSums += 1
        if rank == fault.rank, lossSums == fault.step, !buffer.isEmpty {
            switch fault.kind {
            case .nan: buffer[0] = .nan
            case .drift: driftPending = true
            case .fail: throw FaultInjection.Failure(step: fault.step)
            }
        }
        try base.allreduceSum(buffer)
    }

    func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws {
        try base.allgather(buffer, blocks: blocks)
        if driftPending {
            driftPending = false
            buffer[0] += 1e-3
        }
    }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try base.allreduceSum(buffer)
    }

    func barrier() throws { try base.barrier() }

    func allocateShared(count: Int) throws -> SharedFloats? {
        fault.kind == .drift ? nil : try base.allocateShared(count: count)
    }

    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try base.allreduceMax(buffer)
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try base.broadcast(buffer, root: root)
    }

    func reduceScatterSum(
        _ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
        blocks: BlockPartition
    ) throws {
        try base.reduceScatterSum(send, into: receive, blocks: blocks)
    }
}
