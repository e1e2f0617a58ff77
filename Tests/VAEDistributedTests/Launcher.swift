import Foundation
import VAECore
import XCTest

/// What one launched command did.
struct Outcome {
    /// Exit status, or 128 + signal when killed by one.
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
    var timedOut: Bool
    /// Processes of its process group still alive after it ended (ranks mpirun left behind).
    var leftBehind: Bool
}

/// Runs the built `vae-mpi` alone or under `mpirun`, each launch in a process group of its own
/// with a deadline, and kills whatever of the group is left, so a hanging rank fails the test
/// instead of the test run, and no rank outlives its test.
enum Launcher {
    /// The binary built next to the test bundle (SwiftPM's products directory).
    static var binary: String {
        Bundle.main.bundleURL.appendingPathComponent("vae-mpi").path
    }

    /// mpirun's flags for tests on one machine: run as root (CI does), allow more ranks than
    /// cores, and the shared-memory transports only (Launch/train's start-up settings).
    static let mpirunFlags = [
        "--allow-run-as-root", "--oversubscribe",
        "--mca", "pml", "ob1", "--mca", "btl", "self,vader",
    ]

    /// `vae-mpi ARGUMENTS` on `ranks` ranks of mpirun, or alone (no mpirun) when `ranks` is nil.
    static func train(ranks: Int?, _ arguments: [String], timeout: Double = 90) throws -> Outcome {
        let command = [binary, "train"] + arguments
        guard let ranks else { return try run(command, timeout: timeout) }
        return try run(["mpirun"] + mpirunFlags + ["-np", String(ranks)] + command, timeout: timeout)
    }

    /// `mpirun` with several application contexts (`-np 1 A : -np 1 B`), each a `train` command.
    static func trainMPMD(_ contexts: [[String]], timeout: Double = 60) throws -> Outcome {
        var argv = ["mpirun"] + mpirunFlags
        for (k, arguments) in contexts.enumerated() {
            if k > 0 { argv.append(":") }
            argv += ["-np", "1", binary, "train"] + arguments
        }
        return try run(argv, timeout: timeout)
    }

    /// Runs `argv` (found on PATH) with output to files, in a new process group.
    static func run(_ argv: [String], timeout: Double) throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-mpi-launch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("stdout").path
        let errPath = directory.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for p in cArguments { free(p) } }
        var pid: pid_t = 0
        let start = Date()
        let spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArguments, environ)
        guard spawned == 0 else {
            throw NSError(
                domain: "Launcher", code: Int(spawned),
                userInfo: [NSLocalizedDescriptionKey: "cannot start \(argv[0])"])
        }

        var status: Int32 = 0
        var timedOut = false
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                kill(-pid, SIGTERM)
                usleep(2_000_000)
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(20_000)
        }
        let seconds = Date().timeIntervalSince(start)
        // Ranks that outlive mpirun stay in its process group: give them a moment, then count
        // and kill them.
        var leftBehind = kill(-pid, 0) == 0
        for _ in 0..<50 where leftBehind {
            usleep(40_000)
            leftBehind = kill(-pid, 0) == 0
        }
        kill(-pid, SIGKILL)

        let signal = status & 0x7f
        return Outcome(
            status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            seconds: seconds, timedOut: timedOut, leftBehind: leftBehind)
    }
}

/// A scratch directory per test, removed afterwards.
class LaunchingTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-mpi-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Asserts a clean run and returns it.
    @discardableResult
    func succeed(_ outcome: Outcome, file: StaticString = #filePath, line: UInt = #line) -> Outcome {
        XCTAssertFalse(outcome.timedOut, "timed out: \(outcome.stderr)", file: file, line: line)
        XCTAssertEqual(outcome.status, 0, outcome.stderr, file: file, line: line)
        XCTAssertFalse(outcome.leftBehind, "processes left behind", file: file, line: line)
        return outcome
    }

    /// Asserts the run failed promptly on every rank with `message`, leaving nothing behind.
    func fail(
        _ outcome: Outcome, within seconds: Double, saying message: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertFalse(outcome.timedOut, "hung: \(outcome.stderr)", file: file, line: line)
        XCTAssertNotEqual(outcome.status, 0, file: file, line: line)
        XCTAssertLessThan(outcome.seconds, seconds, file: file, line: line)
        XCTAssertTrue(
            outcome.stderr.contains(message),
            "expected \"\(message)\" in:\n\(outcome.stderr)", file: file, line: line)
        XCTAssertFalse(outcome.leftBehind, "processes left behind", file: file, line: line)
    }

    /// The losses of a JSON-lines training log, in step order.
    func losses(_ logPath: String) throws -> [Double] {
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try XCTUnwrap(object?["loss"] as? Double)
        }
    }

    func parameters(_ checkpointPath: String) throws -> [Float] {
        try CheckpointCodec.read(from: checkpointPath).parameters
    }
}
