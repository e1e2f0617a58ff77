import Foundation
import XCTest

/// Shared by the test targets that run the built `vae-mpi` binary.
///
/// Runs the built `vae-mpi` binary, which SwiftPM puts next to the test bundle (the products
/// directory: on Linux the directory of `Bundle.main.bundleURL`), as swift-argument-parser's
/// example tests do.
public enum BinaryRunner {
    public struct Result {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    private final class Box: @unchecked Sendable { var data = Data() }

    public static var productsDirectory: URL {
        #if os(macOS)
            for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
                return bundle.bundleURL.deletingLastPathComponent()
            }
            fatalError("no .xctest bundle")
        #else
            return Bundle.main.bundleURL
        #endif
    }

    public static var binary: URL { productsDirectory.appendingPathComponent("vae-mpi") }

    /// Runs `executable` (the vae-mpi binary by default) with `arguments`, waits, returns its
    /// exit status and output. A process still running after `timeout` seconds is terminated
    /// (so a hung browser fails the test instead of stalling the suite).
    public static func run(
        _ arguments: [String], executable: URL = binary, in directory: URL? = nil,
        timeout: TimeInterval = 120
    ) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if process.isRunning { process.terminate() }
        }
        // Read both pipes while the process runs, so neither can fill up and block it.
        let errData = Box()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            errData.data = err.fileHandleForReading.readDataToEndOfFile()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.data, as: UTF8.self))
    }

    /// A fresh temporary directory, removed at the end of the test.
    public static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vae-analysis-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
