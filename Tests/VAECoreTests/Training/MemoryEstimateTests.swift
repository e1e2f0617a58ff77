import AllocationCounter
import XCTest

@testable import VAECore

/// `MemoryEstimate` against what training really allocates: the peak of the heap bytes live
/// (allocated and not yet freed, weighed by the test executable's allocator) while trainers
/// are made, train, and each collects and encodes a checkpoint, as `train` does when it saves.
final class MemoryEstimateTests: XCTestCase {
    /// The estimate may exceed the measured peak by this share of it, and fall short by none of
    /// it beyond `unaccounted`; the small allocations it leaves out (the runtime, oneDNN's
    /// packing buffers, the header's JSON) are well under 1 MiB here.
    private let tolerance = 0.03
    private let unaccounted = 1 << 20

    private func configuration(hidden: [Int], kind: ModelConfiguration.Kind = .vae) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.model.kind = kind
        c.model.hidden = hidden
        c.images.count = 4096
        c.batchSize = 96
        return c
    }

    /// The peak of live heap bytes while `body` runs, with what it returns still held.
    private func measuredPeak<T>(_ body: () throws -> T) rethrows -> Int {
        allocation_bytes_start()
        defer { allocation_bytes_stop() }
        let kept = try body()
        return withExtendedLifetime(kept) { allocation_bytes_peak() }
    }

    /// What one rank does up to its first save: build the trainer, train, collect and encode.
    private func trainAndSave(_ c: TrainingConfiguration, _ communicator: Communicator, threads: Int) throws
        -> (Trainer, [UInt8])
    {
        let trainer = try Trainer(configuration: c, communicator: communicator, threads: threads)
        for _ in 0..<3 { _ = try trainer.trainStep() }
        return (trainer, try CheckpointCodec.encode(trainer.collectCheckpoint()))
    }

    private func assertClose(
        estimate: Int, measured: Int, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        print("MemoryEstimateTests: \(what): estimate \(estimate) bytes, measured peak \(measured)")
        XCTAssertGreaterThanOrEqual(
            estimate + unaccounted, measured, "\(what): the estimate falls short", file: file, line: line)
        XCTAssertLessThanOrEqual(
            Double(estimate), Double(measured) * (1 + tolerance), "\(what): the estimate is too high",
            file: file, line: line)
    }

    func testEstimateMatchesOneRanksAllocations() throws {
        let mlp = ModelConfiguration.DecoderArchitecture.mlp
        for (hidden, kind, threads, blur, decoder) in [
            ([512, 256], ModelConfiguration.Kind.vae, 1, 0.0, mlp), ([1024], .ae, 2, 0, mlp),
            ([768, 384], .vae, 3, 1.5, mlp),
            ([512, 256], .vae, 2, 1.5, .spatialBroadcast(widths: [32, 32])),
            ([256], .ae, 1, 0, .spatialBroadcast(widths: [48])),
        ] {
            var c = configuration(hidden: hidden, kind: kind)
            c.blur.sigma = blur
            c.model.decoder = decoder
            let measured = try measuredPeak {
                try trainAndSave(c, SingleProcessCommunicator(), threads: threads)
            }
            let estimate = MemoryEstimate(configuration: c, threads: threads)
            assertClose(
                estimate: estimate.total, measured: measured,
                "\(kind) \(hidden) \(decoder.name), \(threads) threads")
        }
    }

    /// Ada-GVAE: shares in whole pairs (batch 94 is 47 pairs: 16, 16, 15 over 3 threads) and the
    /// pair buffers.
    func testEstimateMatchesAdaGVAEAllocations() throws {
        var c = configuration(hidden: [512, 256])
        c.loss.objective = .adaGVAE
        c.model.latentDim = 4
        c.batchSize = 94
        let measured = try measuredPeak { try trainAndSave(c, SingleProcessCommunicator(), threads: 3) }
        assertClose(
            estimate: MemoryEstimate(configuration: c, threads: 3).total, measured: measured,
            "ada-gvae, 3 threads")
    }

    /// Two ranks in one process (threads standing in for processes): the peak is both ranks'
    /// needs, summed in shared memory (two buffers per worker) or by message (one buffer per
    /// worker, the rank's parameters and its block of the sum).
    func testEstimateMatchesTwoRanksAllocationsInSharedMemoryAndByMessage() throws {
        let c = configuration(hidden: [512, 256])
        for shared in [true, false] {
            let group = ThreadGroup(size: 2, sharesMemory: shared)
            let measured = try measuredPeak { try group.run { try self.trainAndSave(c, $0, threads: 2) } }
            let estimate = (0..<2).map {
                MemoryEstimate(configuration: c, ranks: 2, rank: $0, threads: 2, sharedMemory: shared).total
            }.reduce(0, +)
            assertClose(
                estimate: estimate, measured: measured,
                shared ? "2 ranks, shared memory" : "2 ranks, messages")
        }
    }

    /// The parts follow the formula of docs/memory.md exactly.
    func testPartsFollowTheFormula() {
        var c = configuration(hidden: [100, 50])
        c.model.latentDim = 3
        c.batchSize = 10
        c.blur = BlurSchedule()  // sharp images: a kernel of one weight
        let p = NetworkLayout(c.model).parameterCount
        let shared = MemoryEstimate(configuration: c, threads: 3)
        XCTAssertEqual(shared.buffers, 4 * 2 * 3 * p)
        XCTAssertEqual(shared.optimizer, 4 * 2 * p)
        XCTAssertEqual(shared.checkpoint, 4 * 4 * p)
        XCTAssertEqual(shared.permutation, 4 * 4096)
        // Per sample: 2 (100 + 50) + 2 x 6 (head) + 2 x 784 + 5 x 3 + 2 x 784 (widest) + 1;
        // per worker: 784 (blur scratch) + 1 (kernel, no blur) + 2 x 3 (KL per latent).
        let perSample = 300 + 12 + 1568 + 15 + 1568 + 1
        let perWorker = 784 + 1 + 6
        XCTAssertEqual(shared.workspaces, 4 * (10 * perSample + 3 * perWorker))
        // By message, rank 1 of 2: one buffer per worker, its parameters, its block (the rest
        // past the first rank's whole lines).
        let byMessage = MemoryEstimate(configuration: c, ranks: 2, rank: 1, threads: 3, sharedMemory: false)
        let block = BlockPartition(count: p, ranks: 2).range(of: 1).count
        XCTAssertEqual(byMessage.buffers, 4 * (3 * p + p + block))
        // 5 of the 10 samples over 3 workers: 2, 2, 1.
        XCTAssertEqual(byMessage.workspaces, 4 * (5 * perSample + 3 * perWorker))
        // Workers without a sample still get a workspace of one.
        XCTAssertEqual(
            MemoryEstimate(configuration: c, threads: 16).workspaces,
            4 * 16 * (perSample + perWorker))
        // A blur of sigma 2 has a kernel of 2 x 6 + 1 weights.
        c.blur.sigma = 2
        XCTAssertEqual(
            MemoryEstimate(configuration: c, threads: 1).workspaces, 4 * (10 * perSample + perWorker + 12))
    }

    /// An absurd model gives an estimate that saturates instead of trapping, so the check can
    /// refuse it.
    func testAbsurdModelSaturates() {
        let c = configuration(hidden: [Int.max / 4])
        let estimate = MemoryEstimate(configuration: c, threads: 256)
        XCTAssertEqual(estimate.buffers, .max)
        XCTAssertEqual(estimate.total, .max)
    }

    func testParameterCountMatchesTheLayout() {
        for (hidden, latent, kind) in [
            ([512, 256], 2, ModelConfiguration.Kind.vae), ([], 1, .ae), ([3, 7, 5], 4, .vae),
        ] {
            var m = ModelConfiguration()
            m.hidden = hidden
            m.latentDim = latent
            m.kind = kind
            XCTAssertEqual(m.parameterCount, NetworkLayout(m).parameterCount, "\(kind) \(hidden)")
            m.decoder = .spatialBroadcast(widths: [32, 16])
            XCTAssertEqual(m.parameterCount, NetworkLayout(m).parameterCount, "\(kind) \(hidden) broadcast")
        }
        var huge = ModelConfiguration()
        huge.hidden = [Int.max / 2, Int.max / 2]
        XCTAssertEqual(huge.parameterCount, .max)
    }

    func testFormat() {
        XCTAssertEqual(MemoryEstimate.format(bytes: 512), "512 bytes")
        XCTAssertEqual(MemoryEstimate.format(bytes: 1536), "1.5 KiB")
        XCTAssertEqual(MemoryEstimate.format(bytes: 31 << 30 + 1 << 29), "31.5 GiB")
        XCTAssertEqual(MemoryEstimate.format(bytes: 300 << 20), "300 MiB")
    }
}

/// Reading the limits from the files the kernel shows (here a dictionary of them).
final class MemoryHeadroomTests: XCTestCase {
    private func headrooms(_ files: [String: String], addressSpace: Int? = nil) -> [MemoryHeadroom] {
        MemoryHeadroom.read(addressSpaceLimit: addressSpace) { files[$0] }
    }

    private let meminfo = "MemTotal:       24683664 kB\nMemFree:  100 kB\nMemAvailable:   23525104 kB\n"

    func testMemAvailableAlone() {
        XCTAssertEqual(
            headrooms(["/proc/meminfo": meminfo]),
            [
                MemoryHeadroom(
                    bytes: 23_525_104 * 1024, source: "MemAvailable in /proc/meminfo", scope: .machine)
            ])
    }

    /// cgroup v2: the limit less the usage that cannot be reclaimed, at every level up to the
    /// root; "max" is no limit.
    func testCgroupV2LimitsUpTheTree() {
        let files = [
            "/proc/self/cgroup": "0::/jobs/run1\n",
            "/sys/fs/cgroup/jobs/run1/memory.max": "max\n",
            "/sys/fs/cgroup/jobs/run1/memory.current": "100\n",
            "/sys/fs/cgroup/jobs/memory.max": "1000000\n",
            "/sys/fs/cgroup/jobs/memory.current": "300000\n",
            "/sys/fs/cgroup/jobs/memory.stat":
                "anon 200000\ninactive_anon 5\ninactive_file 100000\nactive_file 1\n",
        ]
        XCTAssertEqual(
            headrooms(files),
            [
                MemoryHeadroom(
                    bytes: 1_000_000 - (300_000 - 100_000),
                    source: "the cgroup limit /sys/fs/cgroup/jobs/memory.max",
                    scope: .machine)
            ])
    }

    /// In a container the mount's root is the container's cgroup, while /proc/self/cgroup
    /// names the host's path.
    func testCgroupV2InsideAContainer() {
        let files = [
            "/proc/self/cgroup": "0::/kubepods/pod42/abc\n",
            "/sys/fs/cgroup/memory.max": "2147483648\n",
            "/sys/fs/cgroup/memory.current": "1073741824\n",
        ]
        XCTAssertEqual(
            headrooms(files).map(\.bytes), [1 << 30])
    }

    /// cgroup v1's memory controller; its "unlimited" is a page-counter maximum near 2^63.
    func testCgroupV1() {
        let files = [
            "/proc/self/cgroup": "9:name=systemd:/\n4:memory:/process_api/job\n0::/\n",
            "/sys/fs/cgroup/memory/process_api/job/memory.limit_in_bytes": "9223372036854771712\n",
            "/sys/fs/cgroup/memory/process_api/job/memory.usage_in_bytes": "208904192\n",
            "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes": "4294967296\n",
            "/sys/fs/cgroup/memory/process_api/memory.usage_in_bytes": "1294967296\n",
            "/sys/fs/cgroup/memory/process_api/memory.stat":
                "inactive_file 7\ntotal_inactive_file 294967296\n",
        ]
        XCTAssertEqual(
            headrooms(files),
            [
                MemoryHeadroom(
                    bytes: 4_294_967_296 - 1_000_000_000,
                    source: "the cgroup limit /sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
                    scope: .machine)
            ])
    }

    /// RLIMIT_AS less the address space already mapped (VmSize), this process's own.
    func testAddressSpaceLimit() {
        let files = [
            "/proc/self/status": "Name:\tvae-mpi\nVmPeak:\t  900 kB\nVmSize:\t  800 kB\nVmRSS:\t 10 kB\n"
        ]
        XCTAssertEqual(
            headrooms(files, addressSpace: 1 << 30),
            [
                MemoryHeadroom(
                    bytes: (1 << 30) - 800 * 1024,
                    source: "RLIMIT_AS (ulimit -v) less the address space in use",
                    scope: .process)
            ])
    }

    /// This machine: at least MemAvailable is read, and it is positive.
    func testThisMachineHasMemAvailable() throws {
        let found = MemoryHeadroom.current()
        let available = try XCTUnwrap(found.first { $0.source.hasPrefix("MemAvailable") })
        XCTAssertGreaterThan(available.bytes, 0)
    }
}
