import Foundation
import XCTest

@testable import VAECore

/// One test per reader error, each from hand-made bytes: the reader must throw exactly that
/// case, with a one-line message, and never trap.
final class CheckpointReaderTests: XCTestCase {
    func assertRefused(
        _ bytes: [UInt8], as expected: CheckpointError,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try CheckpointCodec.decode(bytes), file: file, line: line) { error in
            XCTAssertEqual(error as? CheckpointError, expected, file: file, line: line)
            XCTAssertFalse(
                "\(error)".contains("\n"), "message must be one line", file: file,
                line: line)
        }
    }

    /// The baseline the other tests break: hand-made bytes following the spec decode, and each
    /// tensor lands where its name says.
    func testHandMadeBytesFollowingTheSpecDecode() throws {
        let checkpoint = try CheckpointCodec.decode(HandMadeCheckpoint().bytes())
        let n = HandMadeCheckpoint.parameterCount
        XCTAssertEqual(checkpoint.step, 3)
        XCTAssertEqual(checkpoint.epoch, 1)
        XCTAssertEqual(checkpoint.optimizer.stepCount, 3)
        XCTAssertEqual(checkpoint.configuration.model.hidden, [3])
        XCTAssertEqual(checkpoint.parameters, (0..<n).map { Float($0) })
        XCTAssertEqual(checkpoint.optimizer.firstMoment, (0..<n).map { Float(1000 + $0) })
        XCTAssertEqual(checkpoint.optimizer.secondMoment, (0..<n).map { Float(2000 + $0) })
    }

    /// The table, not a fixed order, says where bytes are: swapping two tensors' places (and
    /// their bytes) reads the same values.
    func testTensorsAreFoundThroughTheTable() throws {
        var made = HandMadeCheckpoint()
        // encoder.0.bias (12 bytes at 192) and encoder.head.weight (24 bytes at 204) swap.
        made.tensors[1]["offset"] = 216
        made.tensors[2]["offset"] = 192
        let bias = Array(made.data[192..<204]), head = Array(made.data[204..<228])
        made.data.replaceSubrange(192..<228, with: head + bias)
        let checkpoint = try CheckpointCodec.decode(made.bytes())
        XCTAssertEqual(
            checkpoint.parameters,
            (0..<HandMadeCheckpoint.parameterCount).map { Float($0) })
    }

    func testEmptyFile() {
        assertRefused([], as: .empty)
    }

    func testShortHeaderPrefix() {
        let bytes = Array(HandMadeCheckpoint().bytes().prefix(12))
        assertRefused(bytes, as: .shortPrefix(found: 12))
    }

    func testBadMagic() {
        var made = HandMadeCheckpoint()
        made.magic = Array("VAEMPICX".utf8)
        assertRefused(made.bytes(), as: .badMagic)
        assertRefused(Array("PK\u{3}\u{4}".utf8), as: .badMagic)
    }

    func testUnknownVersion() {
        for version: UInt32 in [0, 1, 3, .max] {
            var made = HandMadeCheckpoint()
            made.version = version
            assertRefused(made.bytes(), as: .unsupportedVersion(version))
        }
    }

    func testHeaderLengthOverTheCap() {
        for length in [UInt64(CheckpointCodec.maximumHeaderLength) + 1, .max] {
            var made = HandMadeCheckpoint()
            made.headerLengthOverride = length
            assertRefused(
                made.bytes(),
                as: .headerTooLarge(
                    length: length, limit: CheckpointCodec.maximumHeaderLength))
        }
    }

    func testHeaderLongerThanTheFile() {
        var made = HandMadeCheckpoint()
        made.headerLengthOverride = 100_000
        let bytes = made.bytes()
        assertRefused(bytes, as: .truncatedHeader(headerEnd: 100_020, found: bytes.count))
    }

    func testMalformedHeaderJSON() {
        var made = HandMadeCheckpoint()
        made.rawHeader = Array("{\"configuration\": ".utf8)
        assertRefused(made.bytes(), as: .malformedHeader("not valid JSON"))
        made.rawHeader = [0xFF, 0xFE, 0x7B, 0x7D]
        assertRefused(made.bytes(), as: .malformedHeader("not valid JSON"))
    }

    /// Deep nesting must be refused, not overflow the stack.
    func testDeeplyNestedHeaderIsRefused() {
        var made = HandMadeCheckpoint()
        made.rawHeader = [UInt8](repeating: UInt8(ascii: "["), count: 500_000)
        XCTAssertThrowsError(try CheckpointCodec.decode(made.bytes())) { error in
            guard case .malformedHeader = error as? CheckpointError else {
                return XCTFail("expected malformedHeader, got \(error)")
            }
        }
    }

    func testMissingHeaderKey() {
        var made = HandMadeCheckpoint()
        made.state["adam_step_count"] = nil
        assertRefused(made.bytes(), as: .malformedHeader("missing key adam_step_count in state"))
    }

    func testWrongTypeInHeader() {
        var made = HandMadeCheckpoint()
        made.state["step"] = "three"
        assertRefused(made.bytes(), as: .malformedHeader("state.step is not of type Int"))
    }

    func testConfigurationThatCannotTrain() {
        var made = HandMadeCheckpoint()
        made.configuration["batchSize"] = 0
        assertRefused(made.bytes(), as: .invalidConfiguration("batch-size must be positive, got 0"))
    }

    /// A small header must not make the reader do a lot of work: a model of 100,000 hidden
    /// layers is refused from its configuration, before any table is built.
    func testTooManyHiddenLayersIsRefusedAtOnce() {
        var made = HandMadeCheckpoint()
        made.configuration["model"] = [
            "hidden": [Int](repeating: 1, count: 100_000),
            "inputSize": 16, "kind": "vae", "latentDim": 1,
        ]
        let start = Date()
        assertRefused(
            made.bytes(),
            as: .invalidConfiguration(
                "100000 hidden layers, more than the 1024 a checkpoint may hold"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    func testEpochInconsistentWithStep() {
        var made = HandMadeCheckpoint()
        made.state["epoch"] = 0  // step 3 with 2 steps per epoch is in epoch 1
        assertRefused(made.bytes(), as: .inconsistentState("epoch 0 but step 3 is in epoch 1"))
        made.state = ["step": -1, "epoch": 0, "adam_step_count": 0]
        assertRefused(made.bytes(), as: .inconsistentState("step -1 is negative"))
    }

    func testTruncatedData() {
        let bytes = HandMadeCheckpoint().bytes()
        assertRefused(
            Array(bytes.dropLast(100)),
            as: .truncated(expected: bytes.count, found: bytes.count - 100))
        assertRefused(
            Array(bytes.dropLast(1)),
            as: .truncated(expected: bytes.count, found: bytes.count - 1))
    }

    func testTrailingBytes() {
        let bytes = HandMadeCheckpoint().bytes()
        assertRefused(bytes + [0], as: .trailingBytes(expected: bytes.count, found: bytes.count + 1))
    }

    func testOverlappingTensors() {
        var made = HandMadeCheckpoint()
        made.tensors[1]["offset"] = 188  // encoder.0.bias starts 4 bytes inside encoder.0.weight
        assertRefused(
            made.bytes(),
            as: .tensorsOverlap(
                tensor: "parameters/encoder.0.bias",
                previous: "parameters/encoder.0.weight"))
    }

    func testGapBetweenTensors() {
        var made = HandMadeCheckpoint()
        made.tensors[0]["offset"] = 4
        assertRefused(
            made.bytes(),
            as: .tensorGap(
                tensor: "parameters/encoder.0.weight",
                offset: 4, expected: 0))
    }

    func testTensorOutOfRange() {
        let dataLength = HandMadeCheckpoint.dataLength
        var made = HandMadeCheckpoint()
        made.tensors[23]["offset"] = dataLength - 60  // adam_v/decoder.output.bias, 64 bytes
        assertRefused(
            made.bytes(),
            as: .tensorOutOfRange(
                tensor: "adam_v/decoder.output.bias", start: dataLength - 60, end: dataLength + 4,
                dataLength: dataLength))
        made.tensors[23]["offset"] = -8
        assertRefused(
            made.bytes(),
            as: .tensorOutOfRange(
                tensor: "adam_v/decoder.output.bias", start: -8, end: 56, dataLength: dataLength))
    }

    func testShapeMismatchWithConfiguration() {
        var made = HandMadeCheckpoint()
        made.tensors[0]["shape"] = [16, 4]
        made.tensors[0]["length"] = 256
        assertRefused(
            made.bytes(),
            as: .shapeMismatch(
                tensor: "parameters/encoder.0.weight", declared: [16, 4], expected: [16, 3]))
        // The configuration, not the table, decides: a wider model in the header with the old
        // table is refused too.
        made = HandMadeCheckpoint()
        made.configuration["model"] = [
            "hidden": [4], "inputSize": 16, "kind": "vae",
            "latentDim": 1,
        ]
        assertRefused(
            made.bytes(),
            as: .shapeMismatch(
                tensor: "parameters/encoder.0.weight", declared: [16, 3], expected: [16, 4]))
    }

    func testLengthDisagreeingWithShape() {
        var made = HandMadeCheckpoint()
        made.tensors[1]["length"] = 16
        assertRefused(
            made.bytes(),
            as: .lengthMismatch(
                tensor: "parameters/encoder.0.bias",
                declared: 16, expected: 12))
    }

    func testSizeArithmeticThatOverflows() {
        var made = HandMadeCheckpoint()
        made.tensors[0]["shape"] = [1 << 40, 1 << 40]
        assertRefused(made.bytes(), as: .sizeOverflow(tensor: "parameters/encoder.0.weight"))
        made = HandMadeCheckpoint()
        made.tensors[0]["offset"] = Int.max - 100
        assertRefused(made.bytes(), as: .sizeOverflow(tensor: "parameters/encoder.0.weight"))
    }

    func testUnsupportedDType() {
        var made = HandMadeCheckpoint()
        made.tensors[5]["dtype"] = "F16"
        assertRefused(
            made.bytes(),
            as: .unsupportedDType(
                tensor: "parameters/decoder.0.bias",
                dtype: "F16"))
    }

    func testUnknownDuplicateAndMissingTensors() {
        var made = HandMadeCheckpoint()
        made.tensors[2]["name"] = "parameters/encoder.extra.weight"
        assertRefused(made.bytes(), as: .unknownTensor("parameters/encoder.extra.weight"))
        made.tensors[2]["name"] = "parameters/encoder.0.bias"
        assertRefused(made.bytes(), as: .duplicateTensor("parameters/encoder.0.bias"))
        made = HandMadeCheckpoint()
        made.tensors.removeLast()
        assertRefused(made.bytes(), as: .missingTensor("adam_v/decoder.output.bias"))
    }

    /// A name from the file is shown with its control characters escaped, so the message stays
    /// one line (the fuzz test once made a tensor name with a newline in it).
    func testNamesFromTheFileCannotBreakTheMessageIntoLines() {
        var made = HandMadeCheckpoint()
        made.tensors[2]["name"] = "parameters/encoder\n.0\u{1B}[31m.weight\u{2028}"
        assertRefused(
            made.bytes(), as: .unknownTensor("parameters/encoder\n.0\u{1B}[31m.weight\u{2028}"))
        XCTAssertEqual(
            CheckpointError.unknownTensor("a\nb\u{1B}c\u{2028}").description,
            #"tensor a\nb\u{1B}c\u{2028}: not part of the configuration's model"#)
    }

    func testFlippedBitIsCaughtByTheChecksum() {
        let good = HandMadeCheckpoint()
        let bytes = good.bytes()
        let stored =
            UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        for position in [good.dataStart, good.dataStart + 777, bytes.count - 5] {
            var flipped = bytes
            flipped[position] ^= 0x10
            let computed = CheckpointCodec.crc32(Array(flipped.dropLast(4)))
            assertRefused(flipped, as: .checksumMismatch(stored: stored, computed: computed))
        }
        var badSum = bytes
        badSum[bytes.count - 1] ^= 0x80
        assertRefused(
            badSum,
            as: .checksumMismatch(
                stored: stored ^ 0x8000_0000,
                computed: stored))
    }

    /// The checksum is zlib's CRC-32, checked against the standard check value.
    func testChecksumIsStandardCRC32() {
        XCTAssertEqual(CheckpointCodec.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CheckpointCodec.crc32([UInt8]()), 0)
    }

    /// File errors name the file first and fit on one line, so `analyze` can print them as
    /// they are; a wrong-sized file is refused from its header alone.
    func testFileErrorsCarryThePath() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/checkpoint.bin"
        let bytes = HandMadeCheckpoint().bytes()
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.dropLast(100)))
        XCTAssertThrowsError(try CheckpointCodec.read(from: path)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(path): truncated: expected \(bytes.count) bytes, found \(bytes.count - 100)")
            XCTAssertEqual(
                (error as? CheckpointError)?.problem,
                .truncated(expected: bytes.count, found: bytes.count - 100))
        }
        XCTAssertThrowsError(try CheckpointCodec.read(from: directory + "/absent.bin")) { error in
            XCTAssertEqual("\(error)", "\(directory)/absent.bin: cannot read: No such file or directory")
        }
        XCTAssertThrowsError(try CheckpointCodec.read(from: directory)) { error in
            XCTAssertEqual(error as? CheckpointError, .file(path: directory, .notRegularFile))
        }
        // A named pipe with no writer: refused at once, not waited on.
        let fifo = directory + "/pipe.bin"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try CheckpointCodec.read(from: fifo)) { error in
            XCTAssertEqual(error as? CheckpointError, .file(path: fifo, .notRegularFile))
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertEqual(try CheckpointCodec.read(from: path).step, 3)
    }
}
