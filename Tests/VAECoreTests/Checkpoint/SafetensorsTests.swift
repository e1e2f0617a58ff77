import Foundation
import XCTest

@testable import VAECore

/// The safetensors codec: a round trip, the layout the format specifies read back byte by byte,
/// and one refusal per kind of damage, from hand-made bytes.
final class SafetensorsTests: XCTestCase {
    /// A file of two tensors, [2, 3] and [2], with metadata.
    private let sample = Safetensors.File(
        tensors: [
            ("a", .init(shape: [2, 3], values: [1, -2, 3.5, 0, .leastNonzeroMagnitude, 6])),
            ("b", .init(shape: [2], values: [7, 8])),
        ],
        metadata: ["format": "pt", "model": "{\"latentDim\":2}"])

    /// The bytes of a file with `header` as its JSON text and `data` after it.
    private func bytes(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { Array($0) } + json + data
    }

    private func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    private func assertRefused(
        _ bytes: [UInt8], _ expected: SafetensorsError, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try Safetensors.decode(bytes), file: file, line: line) {
            XCTAssertEqual($0 as? SafetensorsError, expected, file: file, line: line)
        }
    }

    func testAFileRoundTripsExactly() throws {
        XCTAssertEqual(try Safetensors.decode(try Safetensors.encode(sample)), sample)
    }

    /// The layout of the format, read without the decoder: the length, the JSON header padded to
    /// 8 bytes with spaces, the offsets, the float32 little-endian data.
    func testTheBytesAreTheFormatsLayout() throws {
        let encoded = try Safetensors.encode(sample)
        let length = Int(encoded[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual((8 + length) % 8, 0, "the data starts 8-aligned")
        let text = try XCTUnwrap(String(bytes: encoded[8..<(8 + length)], encoding: .utf8))
        XCTAssertTrue(text.hasPrefix("{"))
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(header["__metadata__"] as? [String: String], sample.metadata)
        let a = try XCTUnwrap(header["a"] as? [String: Any])
        XCTAssertEqual(a["dtype"] as? String, "F32")
        XCTAssertEqual(a["shape"] as? [Int], [2, 3])
        XCTAssertEqual(a["data_offsets"] as? [Int], [0, 24])
        XCTAssertEqual((header["b"] as? [String: Any])?["data_offsets"] as? [Int], [24, 32])
        XCTAssertEqual(Array(encoded[(8 + length)...]), floats([1, -2, 3.5, 0, .leastNonzeroMagnitude, 6, 7, 8]))
    }

    func testDamagedFilesAreRefusedNamingTheProblem() {
        let ok = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let two = floats([1, 2])
        XCTAssertNoThrow(try Safetensors.decode(bytes(header: ok, data: two)))
        assertRefused([1, 2, 3], .shortPrefix(found: 3))
        assertRefused(bytes(header: ok, data: two, length: 1 << 40), .headerTooLarge(length: 1 << 40, limit: 100_000_000))
        assertRefused(
            bytes(header: ok, data: [], length: 500), .truncatedHeader(headerEnd: 508, found: 8 + ok.utf8.count))
        assertRefused(bytes(header: "[1,2]"), .malformedHeader("does not start with {"))
        assertRefused(bytes(header: "{\"t\":"), .malformedHeader("not a JSON object"))
        assertRefused(
            bytes(header: #"{"__metadata__":{"n":1}}"#), .malformedHeader("__metadata__ is not an object of strings"))
        let entry = "tensor t is not {dtype, shape, data_offsets: [begin, end]} with whole numbers"
        assertRefused(bytes(header: #"{"t":{"dtype":"F32","shape":[2]}}"#, data: two), .malformedHeader(entry))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}"#, data: two),
            .malformedHeader(entry))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: two), .malformedHeader(entry))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: two),
            .unsupportedDType(tensor: "t", dtype: "F16"))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: two),
            .sizeOverflow(tensor: "t"))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: two),
            .lengthMismatch(tensor: "t", offsets: [0, 8], expected: 12))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: two),
            .malformedHeader("tensor t has a negative size or offset"))
        assertRefused(
            bytes(
                header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                data: two), .tensorsOverlap(tensor: "u", offset: 4, expected: 8))
        assertRefused(
            bytes(header: #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: two),
            .tensorGap(tensor: "t", offset: 4, expected: 0))
        assertRefused(bytes(header: ok, data: floats([1])), .truncated(tensor: "t", end: 8, dataLength: 4))
        assertRefused(bytes(header: ok, data: floats([1, 2, 3])), .trailingBytes(expected: 8, found: 12))
    }

    /// Any damage to a real file's bytes is refused or read, never a crash.
    func testDamagedBytesNeverCrashTheReader() throws {
        let good = try Safetensors.encode(sample)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            var damaged = good
            for _ in 0...(rng.next() % 3) {
                let k = Int(rng.next() % UInt64(damaged.count))
                damaged[k] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { damaged.removeLast(Int(rng.next() % UInt64(damaged.count))) }
            _ = try? Safetensors.decode(damaged)
        }
    }

    /// The export holds every parameter once, in PyTorch's names and [out, in] layout, and reads
    /// back to the same parameters.
    func testTheExportIsTheModelInPyTorchsLayout() throws {
        var c = TrainingConfiguration()
        c.model.hidden = [5, 4]
        c.model.latentDim = 3
        c.model.inputSize = 16
        let layout = NetworkLayout(c.model)
        let parameters = layout.initialParameters(seed: 3)
        let checkpoint = Checkpoint(
            configuration: c, step: 7, parameters: parameters,
            optimizer: Adam(configuration: c.optimizer, parameterCount: layout.parameterCount))
        let file = try ModelExport.file(checkpoint)
        XCTAssertEqual(
            file.tensors.map(\.name),
            [
                "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias", "encoder.4.weight",
                "encoder.4.bias", "decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias",
                "decoder.4.weight", "decoder.4.bias",
            ])
        XCTAssertEqual(file["encoder.4.weight"]?.shape, [6, 4], "the head: [2 latent, last hidden]")
        XCTAssertEqual(file["decoder.0.weight"]?.shape, [4, 3])
        let first = layout.encoder[0]
        // W[in = 2][out = 1] of the trainer is weight[1][2] of PyTorch.
        XCTAssertEqual(file["encoder.0.weight"]?.values[1 * 16 + 2], parameters[first.weightOffset + 2 * 5 + 1])
        XCTAssertEqual(file.tensors.reduce(0) { $0 + $1.tensor.values.count }, layout.parameterCount)
        XCTAssertEqual(file.metadata["step"], "7")
        XCTAssertEqual(
            try JSONDecoder().decode(TrainingConfiguration.self, from: Data((file.metadata["training"] ?? "").utf8)), c)
        XCTAssertEqual(
            try JSONDecoder().decode(ModelConfiguration.self, from: Data((file.metadata["model"] ?? "").utf8)), c.model)
        XCTAssertEqual(
            try JSONDecoder().decode(ImageConfiguration.self, from: Data((file.metadata["world"] ?? "").utf8)), c.images)
        let decoded = try Safetensors.decode(try Safetensors.encode(file))
        XCTAssertEqual(try ModelExport.parameters(from: decoded, layout: layout), parameters)
    }
}
