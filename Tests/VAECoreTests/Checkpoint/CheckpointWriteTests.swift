import Foundation
import XCTest

@testable import VAECore

/// The atomic writer: a failed write keeps the previous checkpoint and leaves no temporary
/// file; a leftover temporary file is never read and is cleaned.
final class CheckpointWriteTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func checkpoint(step: Int) -> Checkpoint {
        var random = RandomCheckpoints(seed: 42)
        var c = random.checkpoint()
        c.step = step
        c.configuration.images.count = 1000
        c.configuration.batchSize = 10
        return c
    }

    func testWriteReplacesTheFileAndLeavesNoTemporary() throws {
        let path = directory + "/ck.bin"
        try CheckpointCodec.write(checkpoint(step: 1), to: path)
        try CheckpointCodec.write(checkpoint(step: 2), to: path)
        XCTAssertEqual(try CheckpointCodec.read(from: path).step, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["ck.bin"])
    }

    func testLeftoverTemporaryIsIgnoredAndCleaned() throws {
        let path = directory + "/ck.bin"
        try CheckpointCodec.write(checkpoint(step: 1), to: path)
        let temporary = AtomicFile.temporaryPath(for: path)
        // What a writer killed mid-write leaves: a half file.
        _ = FileManager.default.createFile(atPath: temporary, contents: Data([1, 2, 3]))
        XCTAssertEqual(try CheckpointCodec.read(from: path).step, 1)
        try AtomicFile.checkWritable(path, bytes: 100)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))

        _ = FileManager.default.createFile(atPath: temporary, contents: Data([1, 2, 3]))
        try CheckpointCodec.write(checkpoint(step: 2), to: path)
        XCTAssertEqual(try CheckpointCodec.read(from: path).step, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
    }

    /// A write that fails part-way (here the file-size limit, which binds root as it would a
    /// full disk) throws, keeps the previous checkpoint and removes its temporary file.
    func testWriteFailingMidFileKeepsThePreviousCheckpoint() throws {
        let path = directory + "/ck.bin"
        let old = checkpoint(step: 1)
        try CheckpointCodec.write(old, to: path)
        let size = try CheckpointCodec.encodedSize(old)

        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = rlim_t(size / 2)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited), 0)
        var failure: Error? = nil
        do { try CheckpointCodec.write(checkpoint(step: 2), to: path) } catch { failure = error }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previousHandler)

        XCTAssertEqual(
            failure as? CheckpointError,
            .file(path: path, .unwritable("write: File too large")))
        XCTAssertEqual(
            "\(failure.map { "\($0)" } ?? "")",
            "\(path): cannot write: write: File too large (any previous checkpoint is unchanged)")
        assertIdentical(try CheckpointCodec.read(from: path), old)
        XCTAssertFalse(FileManager.default.fileExists(atPath: AtomicFile.temporaryPath(for: path)))
    }

    func testWriteIntoAMissingDirectoryFails() {
        let path = directory + "/absent/ck.bin"
        XCTAssertThrowsError(try CheckpointCodec.write(checkpoint(step: 1), to: path)) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .file(
                    path: path,
                    .unwritable(
                        "cannot create \(path).tmp: No such file or directory")))
        }
        XCTAssertThrowsError(try AtomicFile.checkWritable(path, bytes: 1))
    }

    /// A directory at the path is neither replaced nor written into.
    func testPathThatIsADirectoryIsRefused() throws {
        let path = directory + "/sub"
        try FileManager.default.createDirectory(
            atPath: path + "/inner",
            withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.checkWritable(path, bytes: 1)) { error in
            XCTAssertEqual(error as? CheckpointError, .file(path: path, .notRegularFile))
        }
        XCTAssertThrowsError(try CheckpointCodec.write(checkpoint(step: 1), to: path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path), ["inner"])
    }

    func testCheckRefusesAFileLargerThanTheFreeSpace() {
        let path = directory + "/ck.bin"
        XCTAssertThrowsError(try AtomicFile.checkWritable(path, bytes: Int.max)) { error in
            guard case .insufficientSpace(let needed, _) = (error as? CheckpointError)?.problem
            else { return XCTFail("expected insufficientSpace, got \(error)") }
            XCTAssertEqual(needed, Int.max)
        }
        XCTAssertNoThrow(try AtomicFile.checkWritable(path, bytes: 1000))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}
