import CMPI
import Foundation
import VAECore
import _MPIShims

/// An MPI call that returned an error, in Open MPI's words.
public struct MPIError: Error, CustomStringConvertible {
    public let description: String

    init(_ call: String, code: Int32) {
        var text = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        if MPI_Error_string(code, &text, &length) == MPI_SUCCESS {
            description = "\(call) failed: \(String(cString: text))"
        } else {
            description = "\(call) failed with MPI error \(code)"
        }
    }

    init(_ description: String) { self.description = description }
}

/// Every rank's segment of one shared-memory window; the window lives until `finalize`.
final class MPISharedFloats: SharedFloats {
    private let segments: [UnsafeMutablePointer<Float>?]
    init(segments: [UnsafeMutablePointer<Float>?]) { self.segments = segments }

    func segment(of rank: Int) -> UnsafeMutablePointer<Float> {
        guard let segment = segments[rank] else { preconditionFailure("rank \(rank) shares no memory here") }
        return segment
    }
}

/// The `Communicator` over `MPI_COMM_WORLD`: every rank of `mpirun`, or a one-rank job when the
/// binary is started alone (a singleton `MPI_Init`); or over a group of those ranks, made by
/// `split(color:key:)`.
///
/// MPI can be initialised once per process, so there is one world communicator per process;
/// `finalize()` or `abort(code:)` ends it.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// Ranks of this communicator on this machine (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE` for
    /// the world; 1 alone).
    public let localSize: Int
    /// `MPI_COMM_WORLD`, or the group's communicator for one made by `split`.
    private let world: MPI_Comm?
    /// Whether this communicator was made by `split` (freed by `free()`, not finalised).
    private let isGroup: Bool
    private var finalized = false
    /// Shared-memory windows, open (locked for passive access) until `finalize`.
    private var windows: [MPI_Win?] = []
    /// Whether every rank runs on this machine; asked once (a collective).
    private var sharesOneMachine: Bool?
    /// Each rank's machine (its host name), by rank.
    public let hosts: [String]
    /// Ends this rank when a machine it waits for no longer answers; only when the ranks span
    /// several machines.
    private let watch: PeerWatch?

    /// Initialises MPI. Errors of later calls come back as `MPIError`s instead of aborting
    /// inside the library, so the caller decides how the job ends.
    /// - Throws: `MPIError` if MPI cannot start.
    public init() throws {
        let environment = ProcessInfo.processInfo.environment
        let launched = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
        if !launched {
            // Alone, without a launcher: a one-rank job needs no network transport, and skipping
            // the probe of UCX and OFI halves the start-up (0.42 s to 0.19 s, docs/mpi.md).
            // The user's own settings win (overwrite 0).
            setenv("OMPI_MCA_pml", "ob1", 0)
            setenv("OMPI_MCA_btl", "self,vader", 0)
        }
        try MPICommunicator.check("MPI_Init", MPI_Init(nil, nil))
        world = vae_mpi_comm_world()
        isGroup = false
        try MPICommunicator.check(
            "MPI_Comm_set_errhandler",
            MPI_Comm_set_errhandler(world, vae_mpi_errors_return()))
        var rank: Int32 = 0
        var size: Int32 = 0
        try MPICommunicator.check("MPI_Comm_rank", MPI_Comm_rank(world, &rank))
        try MPICommunicator.check("MPI_Comm_size", MPI_Comm_size(world, &size))
        self.rank = Int(rank)
        self.size = Int(size)
        localSize = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
        let here = MPICommunicator.hostName()
        hosts = self.size > 1 ? try MPICommunicator.allgather(here, world: world) : [here]
        if Set(hosts).count > 1 {
            let (listener, port) = try PeerWatch.listen()
            let ports = try MPICommunicator.allgather(String(port), world: world)
            let peers = zip(hosts, ports).enumerated().map { r, entry in
                Peer(rank: r, host: entry.0, port: UInt16(entry.1) ?? 0)
            }
            watch = PeerWatch(listener: listener, rank: self.rank, peers: peers)
        } else {
            watch = nil
        }
    }

    /// This machine's host name, as Open MPI names the node.
    private static func hostName() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        return String(cString: name)
    }

    /// Every rank's `text` (at most 255 bytes of UTF-8), by rank: one `MPI_Allgather` of
    /// fixed-size records.
    private static func allgather(_ text: String, world: MPI_Comm?) throws -> [String] {
        let width = 256
        var record = [UInt8](repeating: 0, count: width)
        let bytes = Array(text.utf8.prefix(width - 1))
        record.replaceSubrange(0..<bytes.count, with: bytes)
        var size: Int32 = 0
        try check("MPI_Comm_size", MPI_Comm_size(world, &size))
        var all = [UInt8](repeating: 0, count: width * Int(size))
        try check(
            "MPI_Allgather",
            MPI_Allgather(&record, Int32(width), vae_mpi_byte(), &all, Int32(width), vae_mpi_byte(), world))
        return (0..<Int(size)).map { r in
            let slice = all[(r * width)..<((r + 1) * width)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A group of ranks made by `MPI_Comm_split`. The world's peer watch already covers its
    /// ranks, so a group has none of its own.
    private init(group: MPI_Comm?, rank: Int, size: Int, localSize: Int, hosts: [String]) {
        world = group
        isGroup = true
        self.rank = rank
        self.size = size
        self.localSize = localSize
        self.hosts = hosts
        watch = nil
    }

    /// Collective: splits this communicator's ranks into groups, one per `color`, each a
    /// communicator of its own whose ranks are ordered by `key` (ties by rank here). Its
    /// collectives, shared-memory windows and `localSize` are the group's alone. Call `free()`
    /// on it, on every rank of the group, when done.
    /// - Throws: `MPIError` if MPI cannot split.
    public func split(color: Int, key: Int) throws -> MPICommunicator {
        var group: MPI_Comm?
        try MPICommunicator.check(
            "MPI_Comm_split", MPI_Comm_split(world, Int32(color), Int32(key), &group))
        var rank: Int32 = 0
        var size: Int32 = 0
        var nodeSize: Int32 = 0
        var info: MPI_Info?
        var node: MPI_Comm?
        do {
            try MPICommunicator.check(
                "MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(group, vae_mpi_errors_return()))
            try MPICommunicator.check("MPI_Comm_rank", MPI_Comm_rank(group, &rank))
            try MPICommunicator.check("MPI_Comm_size", MPI_Comm_size(group, &size))
            // The group's ranks on this machine, as OMPI_COMM_WORLD_LOCAL_SIZE is the world's.
            try MPICommunicator.check("MPI_Info_create", MPI_Info_create(&info))
            defer { MPI_Info_free(&info) }
            try MPICommunicator.check(
                "MPI_Comm_split_type",
                MPI_Comm_split_type(group, Int32(MPI_COMM_TYPE_SHARED), 0, info, &node))
            defer { MPI_Comm_free(&node) }
            try MPICommunicator.check("MPI_Comm_size", MPI_Comm_size(node, &nodeSize))
        } catch {
            MPI_Comm_free(&group)
            throw error
        }
        let hosts = try MPICommunicator.allgather(MPICommunicator.hostName(), world: group)
        return MPICommunicator(
            group: group, rank: Int(rank), size: Int(size), localSize: Int(nodeSize), hosts: hosts)
    }

    /// Collective over a group made by `split`: frees its shared-memory windows and the
    /// communicator itself. Every rank of the group must call it once, after its last use.
    public func free() {
        guard isGroup, !finalized else { return }
        finalized = true
        freeWindows()
        var group = world
        _ = MPI_Comm_free(&group)
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allreduce(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
            type: vae_mpi_float(), op: vae_mpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
            type: vae_mpi_double(), op: vae_mpi_sum())
    }

    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
            type: vae_mpi_double(), op: vae_mpi_max())
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard buffer.count > 0 else { return }
        watch?.enter()
        defer { watch?.leave() }
        try MPICommunicator.check(
            "MPI_Bcast",
            MPI_Bcast(
                buffer.baseAddress, try MPICommunicator.count(buffer.count), vae_mpi_byte(),
                Int32(root), world))
    }

    public func reduceScatterSum(
        _ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
        blocks: BlockPartition
    ) throws {
        watch?.enter()
        defer { watch?.leave() }
        try MPICommunicator.check(
            "MPI_Reduce_scatter",
            blocks.counts.withUnsafeBufferPointer {
                MPI_Reduce_scatter(send, receive, $0.baseAddress, vae_mpi_float(), vae_mpi_sum(), world)
            })
    }

    public func allgather(_ buffer: UnsafeMutablePointer<Float>, blocks: BlockPartition) throws {
        watch?.enter()
        defer { watch?.leave() }
        try MPICommunicator.check(
            "MPI_Allgatherv",
            blocks.counts.withUnsafeBufferPointer { counts in
                blocks.displacements.withUnsafeBufferPointer { displacements in
                    // In place: the send count and type are ignored.
                    MPI_Allgatherv(
                        vae_mpi_in_place(), 0, vae_mpi_float(), buffer, counts.baseAddress,
                        displacements.baseAddress, vae_mpi_float(), world)
                }
            })
    }

    /// An `MPI_Barrier`, with every shared window's memory synchronised on both sides of it
    /// (MPI's rule for shared memory read and written without RMA calls).
    public func barrier() throws {
        try synchroniseWindows()
        watch?.enter()
        defer { watch?.leave() }
        try MPICommunicator.check("MPI_Barrier", MPI_Barrier(world))
        try synchroniseWindows()
    }

    /// A barrier that waits without spinning (`MPI_Ibarrier`, then `MPI_Test` every
    /// `interval` seconds), so a rank done early leaves its core to the ranks still working,
    /// where `MPI_Barrier` would poll flat out.
    public func idleBarrier(pollingEvery interval: Double = 0.01) throws {
        var request: MPI_Request?
        try MPICommunicator.check("MPI_Ibarrier", MPI_Ibarrier(world, &request))
        var done: Int32 = 0
        while true {
            try MPICommunicator.check("MPI_Test", MPI_Test(&request, &done, vae_mpi_status_ignore()))
            if done != 0 { return }
            usleep(UInt32(interval * 1e6))
        }
    }

    /// An MPI-3 shared-memory window (`MPI_Win_allocate_shared`) when every rank is on this
    /// machine, else nil. Each rank's segment is page-aligned (`alloc_shared_noncontig`).
    public func allocateShared(count: Int) throws -> SharedFloats? {
        guard try everyRankOnThisMachine() else { return nil }
        var info: MPI_Info?
        try MPICommunicator.check("MPI_Info_create", MPI_Info_create(&info))
        defer { MPI_Info_free(&info) }
        try MPICommunicator.check("MPI_Info_set", MPI_Info_set(info, "alloc_shared_noncontig", "true"))
        var base: UnsafeMutableRawPointer?
        var window: MPI_Win?
        let bytes = MPI_Aint(count * MemoryLayout<Float>.stride)
        try MPICommunicator.check(
            "MPI_Win_allocate_shared",
            MPI_Win_allocate_shared(bytes, Int32(MemoryLayout<Float>.stride), info, world, &base, &window))
        windows.append(window)
        try MPICommunicator.check("MPI_Win_lock_all", MPI_Win_lock_all(MPI_MODE_NOCHECK, window))
        var segments: [UnsafeMutablePointer<Float>?] = []
        for r in 0..<size {
            var length: MPI_Aint = 0
            var unit: Int32 = 0
            var start: UnsafeMutableRawPointer?
            try MPICommunicator.check(
                "MPI_Win_shared_query", MPI_Win_shared_query(window, Int32(r), &length, &unit, &start))
            segments.append(length > 0 ? start?.assumingMemoryBound(to: Float.self) : nil)
        }
        return MPISharedFloats(segments: segments)
    }

    private func everyRankOnThisMachine() throws -> Bool {
        if let sharesOneMachine { return sharesOneMachine }
        var info: MPI_Info?
        try MPICommunicator.check("MPI_Info_create", MPI_Info_create(&info))
        defer { MPI_Info_free(&info) }
        var node: MPI_Comm?
        try MPICommunicator.check(
            "MPI_Comm_split_type", MPI_Comm_split_type(world, Int32(MPI_COMM_TYPE_SHARED), 0, info, &node))
        defer { MPI_Comm_free(&node) }
        var nodeSize: Int32 = 0
        try MPICommunicator.check("MPI_Comm_size", MPI_Comm_size(node, &nodeSize))
        sharesOneMachine = Int(nodeSize) == size
        return sharesOneMachine!
    }

    /// Ends MPI cleanly. Every rank must call it (it synchronises), and only once; groups made
    /// by `split` must have been freed first.
    public func finalize() {
        guard !isGroup, !finalized else { return }
        finalized = true
        watch?.stop()
        freeWindows()
        _ = MPI_Finalize()
    }

    private func freeWindows() {
        for index in windows.indices {
            _ = MPI_Win_unlock_all(windows[index])
            _ = MPI_Win_free(&windows[index])
        }
        windows = []
    }

    /// Ends every rank of the job at once, with `code` as mpirun's exit status. For failures
    /// only this rank knows about, where waiting for the others in `finalize()` would hang.
    public func abort(code: Int32) -> Never {
        watch?.stop()
        _ = MPI_Abort(world, code)
        exit(code)
    }

    /// An `MPI_Allreduce`, with every shared window's memory synchronised on both sides of it
    /// as around a barrier: no rank leaves an allreduce before every rank has entered it.
    private func allreduce(
        _ buffer: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?,
        op: MPI_Op?
    ) throws {
        guard count > 0 else { return }
        try synchroniseWindows()
        watch?.enter()
        defer { watch?.leave() }
        try MPICommunicator.check(
            "MPI_Allreduce",
            MPI_Allreduce(
                vae_mpi_in_place(), buffer, try MPICommunicator.count(count), type, op, world))
        try synchroniseWindows()
    }

    /// `MPI_Win_sync` on every shared window: this rank's stores to them are made visible, and
    /// other ranks' stores made visible before a synchronisation become visible here.
    private func synchroniseWindows() throws {
        for window in windows { try MPICommunicator.check("MPI_Win_sync", MPI_Win_sync(window)) }
    }

    /// MPI counts are 32-bit.
    private static func count(_ n: Int) throws -> Int32 {
        guard let count = Int32(exactly: n) else {
            throw MPIError("a message of \(n) elements exceeds MPI's 32-bit count")
        }
        return count
    }

    private static func check(_ call: String, _ code: Int32) throws {
        if code != MPI_SUCCESS { throw MPIError(call, code: code) }
    }
}
