import Foundation
import VAECore
import XCTest

/// `sbatch Launch/slurm.sbatch` on a real, one-machine Slurm cluster (Debian's slurm-wlm and
/// munge), started by Launch/cluster/slurm-up for this class and stopped by slurm-down after it.
/// The job's outcome is read from Slurm's job completion file (jobcomp/filetxt), which needs no
/// accounting database.
final class SlurmTests: XCTestCase {
    private static let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("vae-mpi-slurm-\(UUID().uuidString.prefix(8))")
    /// Why the cluster is not there, or nil when it runs.
    private static var problem: String?

    override class func setUp() {
        super.setUp()
        guard getuid() == 0 else {
            problem = "starting slurmd needs root"
            return
        }
        let tools = ["munged", "slurmctld", "slurmd", "sbatch", "scancel", "ss"]
        let missing = tools.filter { tool in
            !["/usr/sbin", "/usr/bin", "/sbin", "/bin"].contains {
                FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
            }
        }
        guard missing.isEmpty else {
            problem = "\(missing.joined(separator: ", ")) missing (apt-get install slurm-wlm munge iproute2)"
            return
        }
        do {
            let up = try Command.run(
                ["bash", Cluster.script("Launch/cluster/slurm-up"), directory.path], timeout: 60)
            Cluster.timing("slurm-up", up.seconds)
            if up.status != 0 { problem = "Launch/cluster/slurm-up failed: \(up.stderr)" }
        } catch {
            problem = "cannot run Launch/cluster/slurm-up: \(error)"
        }
    }

    override class func tearDown() {
        let down = try? Command.run(
            ["bash", Cluster.script("Launch/cluster/slurm-down"), directory.path], timeout: 60)
        Cluster.timing("slurm-down", down?.seconds ?? .nan)
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    private var submitDirectory: URL!

    override func setUpWithError() throws {
        if let problem = Self.problem { try Cluster.unavailable(problem) }
        submitDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-mpi-submit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: submitDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let submitDirectory { try? FileManager.default.removeItem(at: submitDirectory) }
    }

    /// The batch script on one machine: two ranks (two tasks of one core each).
    private let oneMachine = ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"]

    /// A Slurm client command, with the test cluster's configuration and the test binary.
    private func slurm(_ argv: [String], timeout: Double = 30) throws -> Finished {
        try Command.run(
            argv, in: submitDirectory,
            environment: [
                "SLURM_CONF": Self.directory.appendingPathComponent("slurm.conf").path,
                "VAE_MPI": Cluster.binary,
            ],
            timeout: timeout)
    }

    /// Submits the batch script with `trainFlags`; with `wait`, returns once the job has ended.
    /// (sbatch's own --wait polls at growing intervals, up to half a minute late.)
    private func submit(_ trainFlags: [String], wait: Bool) throws -> Int {
        let argv =
            ["sbatch", "--parsable"] + oneMachine + [Cluster.script("Launch/slurm.sbatch")] + trainFlags
        let submitted = try slurm(argv)
        XCTAssertFalse(submitted.timedOut, "sbatch did not return: \(submitted.stderr)")
        let id = submitted.stdout.split(separator: "\n").first.flatMap { Int($0.split(separator: ";")[0]) }
        let job = try XCTUnwrap(id, "no job id from sbatch: \(submitted.stdout) \(submitted.stderr)")
        if wait {
            XCTAssertTrue(try ended(job, within: 180), "job \(job) still queued or running after 180 s")
        }
        return job
    }

    /// Whether `job` has left the queue (squeue lists pending, running and completing jobs)
    /// within `seconds`.
    private func ended(_ job: Int, within seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let queue = try slurm(["squeue", "-h", "-j", String(job)])
            if queue.status == 0, queue.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return true
            }
            usleep(200_000)
        } while Date() < deadline
        return false
    }

    /// The job's state and exit code as Slurm recorded them ("COMPLETED", "0:0"), waiting up to
    /// `timeout` seconds for the record.
    private func outcome(of job: Int, timeout: Double = 10) -> (state: String, exitCode: String)? {
        let file = Self.directory.appendingPathComponent("jobcomp.txt").path
        var found: (String, String)?
        _ = Cluster.waitUntil(timeout: timeout) {
            for line in Cluster.lines(file) {
                let fields = Dictionary(
                    line.split(separator: " ").compactMap { field -> (String, String)? in
                        let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
                        return parts.count == 2 ? (parts[0], parts[1]) : nil
                    }, uniquingKeysWith: { first, _ in first })
                if fields["JobId"] == String(job), let state = fields["JobState"] {
                    found = (state, fields["ExitCode"] ?? "")
                }
            }
            return found != nil
        }
        return found
    }

    private func path(_ name: String) -> String { submitDirectory.appendingPathComponent(name).path }

    /// A job submitted with small training flags runs to the end: Slurm records it COMPLETED with
    /// exit code 0, its output file shows two ranks summing in shared memory and the analysis,
    /// the checkpoint holds the last step and the analysis wrote its figures and report.
    func testBatchJobTrainsSavesAndAnalyses() throws {
        let start = Date()
        let job = try submit(
            ["--hidden", "64", "--images", "2048", "--batch-size", "32", "--epochs", "2"], wait: true)
        Cluster.timing("job \(job) from sbatch to its end", Date().timeIntervalSince(start))
        let recorded = try XCTUnwrap(outcome(of: job), "job \(job) is not in Slurm's job completion file")
        XCTAssertEqual(recorded.state, "COMPLETED")
        XCTAssertEqual(recorded.exitCode, "0:0")

        let output = try String(contentsOfFile: path("vae-mpi-\(job).out"), encoding: .utf8)
        for expected in [
            "[2 ranks] gradients exchanged in shared memory", "[2 ranks] done: 128 steps",
            "analysis: runs/slurm-\(job)-analysis/report.html",
        ] {
            XCTAssertTrue(output.contains(expected), "\"\(expected)\" not in the job's output:\n\(output)")
        }
        XCTAssertEqual(try CheckpointCodec.read(from: path("runs/slurm-\(job).bin")).step, 128)
        let log = Cluster.lines(path("runs/slurm-\(job).jsonl"))
        XCTAssertTrue(log.last?.contains("\"step\":128") ?? false, "log: \(log.suffix(2))")
        let metrics = try Data(
            contentsOf: URL(fileURLWithPath: path("runs/slurm-\(job)-analysis/metrics.json")))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: metrics) as? [String: Any])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("runs/slurm-\(job)-analysis/report.html")))
    }

    /// scancel of a running job (Slurm sends SIGTERM): the ranks save at a step boundary, Slurm
    /// records the job CANCELLED, and the checkpoint resumes, in a job of its own, to exactly the
    /// bytes of a job that ran straight to that step.
    func testScancelLeavesAnExactlyResumableCheckpoint() throws {
        let endless = [
            "--hidden", "32", "--images", "4096", "--batch-size", "32", "--epochs", "1000", "--no-analysis",
        ]
        let job = try submit(endless + ["--log-every", "50"], wait: false)
        let log = path("runs/slurm-\(job).jsonl")
        XCTAssertTrue(
            Cluster.waitUntil(timeout: 60) { Cluster.lines(log).count >= 2 },
            "job \(job) did not start training within 60 s")
        let cancelled = Date()
        let scancel = try slurm(["scancel", String(job)])
        XCTAssertEqual(scancel.status, 0, scancel.stderr)
        XCTAssertTrue(try ended(job, within: 60), "job \(job) did not end within 60 s of scancel")
        Cluster.timing("scancel to the end of job \(job)", Date().timeIntervalSince(cancelled))
        XCTAssertEqual(outcome(of: job)?.state, "CANCELLED")

        let saved = try CheckpointCodec.read(from: path("runs/slurm-\(job).bin"))
        XCTAssertGreaterThanOrEqual(saved.step, 100, "the checkpoint is older than the log")
        let target = String(saved.step + 20)
        let resumed = try submit(
            ["--resume", "runs/slurm-\(job).bin", "--steps", target, "--no-analysis"], wait: true)
        XCTAssertEqual(outcome(of: resumed)?.state, "COMPLETED")
        let straight = try submit(endless + ["--steps", target], wait: true)
        XCTAssertEqual(outcome(of: straight)?.state, "COMPLETED")
        let resumedBytes = FileManager.default.contents(atPath: path("runs/slurm-\(resumed).bin"))
        XCTAssertNotNil(resumedBytes)
        XCTAssertEqual(resumedBytes, FileManager.default.contents(atPath: path("runs/slurm-\(straight).bin")))
        XCTAssertEqual(
            try CheckpointCodec.read(from: path("runs/slurm-\(resumed).bin")).step, saved.step + 20)
        print("scancel: job \(job) saved step \(saved.step); job \(resumed) resumed it to step \(target)")
    }
}
