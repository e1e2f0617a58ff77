import BinaryTesting
import Foundation
import XCTest

/// The built `vae-mpi` (or `mpirun` running it) as a child process with a time limit, its
/// output captured in files so a full pipe can never block it.
final class CheckpointCLIChild {
    /// The built binary, found beside the test bundle (see `BinaryRunner`).
    static let binary = BinaryRunner.binary.path

    let process = Process()
    let outputPath: String
    let errorPath: String

    /// Starts `executable arguments` (the vae-mpi binary by default) in `directory`.
    init(
        _ arguments: [String], executable: String = CheckpointCLIChild.binary,
        directory: String
    ) throws {
        let name = UUID().uuidString
        outputPath = directory + "/.stdout-" + name
        errorPath = directory + "/.stderr-" + name
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
    var standardOutput: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func send(_ signal: Int32) { kill(pid, signal) }

    /// The exit status (128 + n for death by signal n), or nil if the child outlived
    /// `timeout` seconds, in which case it is killed.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(pid, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            usleep(5_000)
        }
        return process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Runs to the end within `timeout` seconds: (status, standard error).
    static func run(
        _ arguments: [String], in directory: String, timeout: Double = 30,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (Int32, String) {
        let child = try CheckpointCLIChild(arguments, directory: directory)
        guard let status = child.wait(timeout: timeout) else {
            XCTFail(
                "vae-mpi \(arguments.joined(separator: " ")) outlived \(timeout) s",
                file: file, line: line)
            return (-1, child.standardError)
        }
        return (status, child.standardError)
    }

    /// Polls `condition` every 2 ms for up to `timeout` seconds.
    static func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(2_000)
        }
        return true
    }
}

/// What a test needs from a checkpoint file without linking the core: the header's state and
/// the parameters, read as docs/checkpoint-format.md describes.
struct CheckpointFileSummary {
    let step: Int
    let parameters: [Float]

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count >= 20 else { throw CocoaError(.fileReadCorruptFile) }
        let headerLength = Int(bytes[12..<20].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try JSONSerialization.jsonObject(with: Data(bytes[20..<(20 + headerLength)]))
        guard let object = header as? [String: Any],
            let state = object["state"] as? [String: Any], let step = state["step"] as? Int,
            let tensors = object["tensors"] as? [[String: Any]]
        else { throw CocoaError(.fileReadCorruptFile) }
        self.step = step
        let parameterBytes = tensors.filter { ($0["name"] as? String)?.hasPrefix("parameters/") == true }
            .compactMap { $0["length"] as? Int }.reduce(0, +)
        let start = 20 + headerLength
        parameters = stride(from: start, to: start + parameterBytes, by: 4).map { k in
            Float(
                bitPattern: UInt32(bytes[k]) | UInt32(bytes[k + 1]) << 8
                    | UInt32(bytes[k + 2]) << 16 | UInt32(bytes[k + 3]) << 24)
        }
    }
}

/// A fresh empty directory under the system's temporary directory.
func makeCheckpointTestDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "vae-mpi-cli-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
