import Foundation
import XCTest

/// What a finished command did.
struct Finished {
    /// Exit status, or 128 + signal when killed by one.
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
    var timedOut: Bool
}

/// A command running in a process group of its own, with output to files, so that a deadline can
/// end it and everything it started.
final class Command {
    let argv: [String]
    private let pid: pid_t
    private let start = Date()
    private let directory: URL

    /// Starts `argv` (found on PATH) in `workingDirectory`, with `environment` added to ours.
    init(_ argv: [String], in workingDirectory: URL? = nil, environment: [String: String] = [:]) throws {
        // coreutils' env changes directory (Swift's Glibc lacks posix_spawn's addchdir).
        let argv = workingDirectory.map { ["env", "-C", $0.path] + argv } ?? argv
        self.argv = argv
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-mpi-command-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &actions, 1, directory.appendingPathComponent("stdout").path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(
            &actions, 2, directory.appendingPathComponent("stderr").path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        var cEnvironment = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for p in cArguments + cEnvironment { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            throw NSError(
                domain: "Command", code: Int(spawned),
                userInfo: [NSLocalizedDescriptionKey: "cannot start \(argv[0])"])
        }
        self.pid = pid
    }

    deinit {
        kill(-pid, SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    var stderr: String { read("stderr") }
    var stdout: String { read("stdout") }

    /// Waits for the command to end; after `timeout` seconds its whole process group is sent
    /// SIGTERM, then SIGKILL, and the result says it timed out. Whatever of the group outlives it
    /// is killed.
    func wait(timeout: Double) -> Finished {
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
        kill(-pid, SIGKILL)
        let signal = status & 0x7f
        return Finished(
            status: signal == 0 ? (status >> 8) & 0xff : 128 + signal, stdout: stdout, stderr: stderr,
            seconds: seconds, timedOut: timedOut)
    }

    /// Runs `argv` to its end, within `timeout` seconds.
    static func run(
        _ argv: [String], in directory: URL? = nil, environment: [String: String] = [:], timeout: Double
    ) throws -> Finished {
        try Command(argv, in: directory, environment: environment).wait(timeout: timeout)
    }

    private func read(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }
}

/// What the cluster tests share: the scripts, the binary, and how a missing facility is reported.
enum Cluster {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static func script(_ path: String) -> String { repository.appendingPathComponent(path).path }

    /// The binary built next to the test bundle (SwiftPM's products directory).
    static var binary: String { Bundle.main.bundleURL.appendingPathComponent("vae-mpi").path }

    /// CI must run these tests: there, a facility that cannot be had is a failure, not a skip.
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Why the cluster cannot be made here, as a skip (or, in CI, a failure) of the test.
    static func unavailable(_ reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        if inCI {
            XCTFail("CI=true, and \(reason)", file: file, line: line)
            throw XCTSkip("failed above: \(reason)")
        }
        throw XCTSkip(reason)
    }

    /// Polls `condition` every 0.1 s for at most `timeout` seconds.
    static func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    /// Lines of a text file (none if it does not exist yet).
    static func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    /// Prints how long a step of a test took, so CI's log shows the timings.
    static func timing(_ what: String, _ seconds: Double) {
        print("timing: \(what): \(String(format: "%.1f", seconds)) s")
    }
}
