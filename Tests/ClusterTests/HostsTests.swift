import Foundation
import VAECore
import XCTest

/// Two test hosts, each a network namespace with a hostname of its own on the subnet
/// 10.77.0.0/24 (Launch/cluster/hosts-up), and Open MPI launching into them through
/// Launch/cluster/rsh-agent as it would through ssh: ranks on different hosts exchange gradients
/// over the TCP transport.
final class HostsTests: XCTestCase {
    /// Names of this run's hosts: PREFIX-h1, PREFIX-h2 (unique, so runs beside each other agree).
    private static let prefix = "vt" + UUID().uuidString.prefix(6).lowercased()
    private static var problem: String?

    override class func setUp() {
        super.setUp()
        guard getuid() == 0 else {
            problem = "network namespaces need root"
            return
        }
        for tool in ["/usr/sbin/ip", "/usr/bin/unshare"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            problem = "\(tool) missing (apt-get install iproute2 util-linux)"
            return
        }
        // A throwaway pair of namespaces shows whether this sandbox allows them at all.
        do {
            let up = try hostsUp()
            Cluster.timing("hosts-up", up.seconds)
            if up.status != 0 {
                problem = "the sandbox does not let hosts-up make network namespaces: \(up.stderr)"
            }
        } catch {
            problem = "cannot run Launch/cluster/hosts-up: \(error)"
        }
    }

    override class func tearDown() {
        _ = try? Command.run(["bash", Cluster.script("Launch/cluster/hosts-down"), prefix], timeout: 30)
        super.tearDown()
    }

    private static func hostsUp() throws -> Finished {
        try Command.run(["bash", Cluster.script("Launch/cluster/hosts-up"), "2", prefix], timeout: 30)
    }

    private var directory: URL!
    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    private var host1: String { "\(Self.prefix)-h1" }
    private var host2: String { "\(Self.prefix)-h2" }

    /// Fresh hosts for every test (nothing left running in them, every link up).
    override func setUpWithError() throws {
        if let problem = Self.problem { try Cluster.unavailable(problem) }
        let up = try Self.hostsUp()
        XCTAssertEqual(up.status, 0, up.stderr)
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-mpi-hosts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "\(host1) slots=2\n\(host2) slots=2\n".write(
            toFile: path("hostfile"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// mpirun on host 1 over both hosts: launched through rsh-agent, the TCP transport on the
    /// test subnet only, keepalive settings with which mpirun notices a lost host within 10-15 s
    /// (docs/cluster.md), and ranks that yield the core while they wait: the hosts share this
    /// machine's cores, and 4 ranks busy-polling 2 cores ran 200 steps in 62 s instead of 4 s.
    private func mpirun(ranks: Int, perHost: Bool = false, _ arguments: [String]) -> [String] {
        let subnet = "10.77.0.0/24"
        return [
            "bash", Cluster.script("Launch/cluster/on-host"), host1,
            "mpirun", "--allow-run-as-root", "--hostfile", path("hostfile"), "-np", String(ranks),
            "--bind-to", "none", "--mca", "plm_rsh_agent", Cluster.script("Launch/cluster/rsh-agent"),
            "--mca", "pml", "ob1", "--mca", "btl", "self,vader,tcp",
            "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet,
            "--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2",
            "--mca", "oob_tcp_keepalive_probes", "5", "--mca", "mpi_yield_when_idle", "1",
        ] + (perHost ? ["--map-by", "ppr:1:node"] : []) + [Cluster.binary, "train"] + arguments
    }

    /// `train` on this machine alone (no namespace): one process, or `ranks` ranks of mpirun.
    private func oneHost(ranks: Int?, _ arguments: [String]) -> [String] {
        guard let ranks else { return [Cluster.binary, "train"] + arguments }
        return [
            "mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "pml", "ob1", "--mca", "btl",
            "self,vader", "-np", String(ranks), Cluster.binary, "train",
        ] + arguments
    }

    private func succeed(_ argv: [String], _ label: String) throws -> Finished {
        let finished = try Command.run(argv, timeout: 120)
        Cluster.timing(label, finished.seconds)
        XCTAssertFalse(finished.timedOut, "\(label) timed out: \(finished.stderr)")
        XCTAssertEqual(finished.status, 0, "\(label): \(finished.stderr)")
        return finished
    }

    /// Bytes received and sent by host `k` through its switch port.
    private func traffic(_ k: Int) throws -> (received: Int, sent: Int) {
        let shown = try Command.run(
            ["ip", "-j", "-s", "-n", "\(Self.prefix)-sw", "link", "show", "h\(k)"], timeout: 10)
        let links = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: Any]]
        let stats = try XCTUnwrap(links?.first?["stats64"] as? [String: Any], shown.stdout)
        // The switch port sends what the host receives, and receives what it sends.
        let tx = try XCTUnwrap((stats["tx"] as? [String: Any])?["bytes"] as? Int)
        let rx = try XCTUnwrap((stats["rx"] as? [String: Any])?["bytes"] as? Int)
        return (tx, rx)
    }

    /// 8 steps of the default 784-512-256-2 VAE, logged every step.
    private let fewSteps = [
        "--images", "1000", "--batch-size", "50", "--steps", "8", "--log-every", "1", "--no-analysis",
    ]

    private func losses(_ log: String) throws -> [Double] {
        try Cluster.lines(log).map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try XCTUnwrap(object?["loss"] as? Double)
        }
    }

    /// The determinism contract's tolerance after a few steps (as DeterminismTests): every loss
    /// within 1e-5 relative, every parameter within 1e-3 and all but 10 within 1e-5.
    private func assertWithinContract(_ name: String, of reference: String) throws {
        let run = try CheckpointCodec.read(from: path("\(name).bin")).parameters
        let expected = try CheckpointCodec.read(from: path("\(reference).bin")).parameters
        XCTAssertEqual(run.count, expected.count)
        let differences = zip(run, expected).map { abs($0 - $1) }
        let (a, b) = (try losses(path("\(name).jsonl")), try losses(path("\(reference).jsonl")))
        XCTAssertEqual(a.count, 8)
        XCTAssertEqual(a.count, b.count)
        let lossDifference = zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-12) }.max() ?? .infinity
        let worst = differences.max() ?? .infinity
        let outliers = differences.filter { $0 > 1e-5 }.count
        print(
            "\(name) against \(reference): loss \(lossDifference), parameters \(worst), \(outliers) beyond 1e-5"
        )
        XCTAssertLessThanOrEqual(lossDifference, 1e-5, name)
        XCTAssertLessThanOrEqual(worst, 1e-3, name)
        XCTAssertLessThanOrEqual(outliers, 10, name)
    }

    private func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: path("\(name).bin")) }

    /// One rank on each of two hosts exchanges by message over TCP and trains the same bytes as
    /// one process with two worker threads (the batch splits into the same two halves, and a sum
    /// of two is the same in either order). The log names both machines and the message path,
    /// and the gradients crossed host 2's link: at least half the parameters' bytes each way
    /// each step.
    func testOneRankOnEachOfTwoHostsTrainsTheBytesOfOneProcess() throws {
        let before = try traffic(2)
        let run = try succeed(
            mpirun(
                ranks: 2, perHost: true,
                fewSteps + [
                    "--threads", "1", "--checkpoint", path("hosts.bin"), "--log", path("hosts.jsonl"),
                ]),
            "2 hosts x 1 rank")
        let after = try traffic(2)
        _ = try succeed(
            oneHost(
                ranks: nil,
                fewSteps + [
                    "--threads", "2", "--checkpoint", path("alone.bin"), "--log", path("alone.jsonl"),
                ]),
            "1 process, 2 threads")
        XCTAssertTrue(
            run.stderr.contains("[2 ranks] on 2 machines: \(host1) (rank 0), \(host2) (rank 1)"), run.stderr)
        XCTAssertTrue(
            run.stderr.contains("[2 ranks] gradients exchanged by message (reduce-scatter and allgather)"),
            run.stderr)
        XCTAssertNotNil(bytes("hosts"))
        XCTAssertEqual(bytes("hosts"), bytes("alone"), "2 hosts x 1 rank differ from one process")
        try assertWithinContract("hosts", of: "alone")

        let parameters = try CheckpointCodec.read(from: path("hosts.bin")).parameters.count
        let (received, sent) = (after.received - before.received, after.sent - before.sent)
        print(
            "host 2's link: \(received) bytes in, \(sent) bytes out over 8 steps of \(parameters) parameters")
        XCTAssertGreaterThan(received, 8 * parameters * 4 / 2)
        XCTAssertGreaterThan(sent, 8 * parameters * 4 / 2)
    }

    /// Two ranks on each of two hosts train the same bytes as four ranks exchanging by message on
    /// one host, and the model of one process within the determinism contract's tolerance.
    func testTwoRanksOnEachOfTwoHostsTrainTheModelOfOneHost() throws {
        let run = try succeed(
            mpirun(
                ranks: 4,
                fewSteps + [
                    "--threads", "1", "--checkpoint", path("hosts.bin"), "--log", path("hosts.jsonl"),
                ]),
            "2 hosts x 2 ranks")
        _ = try succeed(
            oneHost(
                ranks: 4,
                fewSteps + [
                    "--threads", "1", "--no-shared-memory", "--checkpoint", path("four.bin"), "--log",
                    path("four.jsonl"),
                ]),
            "1 host, 4 ranks by message")
        _ = try succeed(
            oneHost(
                ranks: nil,
                fewSteps + [
                    "--threads", "1", "--checkpoint", path("alone.bin"), "--log", path("alone.jsonl"),
                ]),
            "1 process")
        XCTAssertTrue(
            run.stderr.contains("[4 ranks] on 2 machines: \(host1) (ranks 0, 1), \(host2) (ranks 2, 3)"),
            run.stderr)
        XCTAssertTrue(run.stderr.contains("[4 ranks] gradients exchanged by message"), run.stderr)
        XCTAssertNotNil(bytes("hosts"))
        XCTAssertEqual(bytes("hosts"), bytes("four"), "2 hosts x 2 ranks differ from 4 ranks on one host")
        try assertWithinContract("hosts", of: "alone")
    }

    /// Host 2's link cut mid-run (its switch port down): the job ends within 30 s, non-zero, with
    /// a one-line error on host 1 naming the ranks lost with host 2, and the last checkpoint
    /// loads and resumes.
    func testCutLinkEndsTheJobWithinThirtySecondsNamingTheLostRanks() throws {
        let endless = [
            "--images", "4096", "--batch-size", "32", "--hidden", "32", "--epochs", "1000", "--threads", "1",
            "--no-analysis", "--checkpoint", path("cut.bin"), "--checkpoint-every", "20",
            "--log", path("cut.jsonl"), "--log-every", "20",
        ]
        let started = Date()
        let job = try Command(mpirun(ranks: 4, endless))
        XCTAssertTrue(
            Cluster.waitUntil(timeout: 60) { Cluster.lines(path("cut.jsonl")).count >= 3 },
            "training did not reach step 60 within 60 s: \(job.stderr)")
        Cluster.timing("start to step 60", Date().timeIntervalSince(started))
        let cut = try Command.run(
            ["ip", "-n", "\(Self.prefix)-sw", "link", "set", "h2", "down"], timeout: 10)
        XCTAssertEqual(cut.status, 0, cut.stderr)
        let cutAt = Date()
        let ended = job.wait(timeout: 90)
        let seconds = Date().timeIntervalSince(cutAt)
        Cluster.timing("link cut to the end of the job", seconds)
        XCTAssertFalse(ended.timedOut, "the job outlived its cut link by 90 s: \(ended.stderr)")
        XCTAssertLessThan(seconds, 30, ended.stderr)
        XCTAssertNotEqual(ended.status, 0)
        let errors = ended.stderr.split(separator: "\n").filter { $0.contains("Error: lost") }
        print("the lost host's error lines:\n" + errors.joined(separator: "\n"))
        XCTAssertFalse(errors.isEmpty, ended.stderr)
        for line in errors {
            XCTAssertTrue(
                line.hasPrefix("[rank 0 of 4 ranks] ") || line.hasPrefix("[rank 1 of 4 ranks] "), String(line)
            )
            XCTAssertTrue(
                line.contains("Error: lost ranks 2, 3 on \(host2): its machine did not answer"), String(line))
        }

        let saved = try CheckpointCodec.read(from: path("cut.bin"))
        XCTAssertGreaterThanOrEqual(saved.step, 20)
        _ = try succeed(
            oneHost(
                ranks: nil,
                [
                    "--resume", path("cut.bin"), "--steps", String(saved.step + 1), "--no-analysis",
                    "--checkpoint", path("next.bin"),
                ]),
            "resume of the cut run's checkpoint")
        XCTAssertEqual(try CheckpointCodec.read(from: path("next.bin")).step, saved.step + 1)
        print(
            "link cut: the job ended \(String(format: "%.1f", seconds)) s after it; its checkpoint at step \(saved.step) resumed"
        )
    }
}
