import Foundation

/// The safetensors format (huggingface/safetensors), float32 only: what PyTorch, JAX and numpy
/// users load weights from.
///
///     offset 0     UInt64 LE  header length N (at most `maximumHeaderLength`)
///     offset 8     N bytes    UTF-8 JSON object: per tensor {"dtype", "shape", "data_offsets":
///                             [begin, end)} relative to the data, and "__metadata__" (strings)
///     offset 8+N   the tensors' bytes, back to back with no gap, to the end of the file
///
/// The header is padded with spaces so the data starts at a multiple of 8, as the reference
/// writer does. The reader checks what the reference reader checks: the length cap, every
/// offset with checked arithmetic, contiguous tensors covering the data exactly.
public enum Safetensors {
    /// A tensor: float32 values, row-major in `shape`.
    public struct Tensor: Equatable, Sendable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "values do not fill the shape")
            self.shape = shape
            self.values = values
        }
    }

    /// Tensors by name, in data order, and the `__metadata__` strings.
    public struct File: Equatable, Sendable {
        public var tensors: [(name: String, tensor: Tensor)]
        public var metadata: [String: String]

        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
            self.tensors = tensors
            self.metadata = metadata
        }

        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

        public static func == (a: File, b: File) -> Bool {
            a.metadata == b.metadata && a.tensors.map(\.name) == b.tensors.map(\.name)
                && a.tensors.map(\.tensor) == b.tensors.map(\.tensor)
        }
    }

    /// The reference reader's cap (100 MB): a corrupt length cannot make a reader allocate more.
    public static let maximumHeaderLength = 100_000_000
    static let metadataKey = "__metadata__"
    static let alignment = 8

    /// The file's bytes. Deterministic: sorted JSON keys.
    public static func encode(_ file: File) throws -> [UInt8] {
        var header: [String: Any] = [metadataKey: file.metadata]
        var offset = 0
        for (name, tensor) in file.tensors {
            precondition(name != metadataKey && header[name] == nil, "tensor name \(name) is taken")
            let length = tensor.values.count * MemoryLayout<Float>.size
            header[name] = [
                "dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + length],
            ]
            offset += length
        }
        var json = [UInt8](
            try JSONSerialization.data(
                withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        let misalignment = (8 + json.count) % alignment
        if misalignment != 0 {
            json += [UInt8](repeating: UInt8(ascii: " "), count: alignment - misalignment)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        bytes += json
        for (_, tensor) in file.tensors {
            #if _endian(little)
                tensor.values.withUnsafeBytes { bytes += $0 }
            #else
                for x in tensor.values { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
            #endif
        }
        return bytes
    }

    /// - Throws: `SafetensorsError` naming the first problem; never traps on any input.
    public static func decode(_ bytes: [UInt8]) throws -> File {
        guard bytes.count >= 8 else { throw SafetensorsError.shortPrefix(found: bytes.count) }
        let declared = bytes[0..<8].enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * $1.offset)
        }
        guard declared <= UInt64(maximumHeaderLength) else {
            throw SafetensorsError.headerTooLarge(length: declared, limit: maximumHeaderLength)
        }
        let headerEnd = 8 + Int(declared)
        guard headerEnd <= bytes.count else {
            throw SafetensorsError.truncatedHeader(headerEnd: headerEnd, found: bytes.count)
        }
        let text = Data(bytes[8..<headerEnd])
        guard text.first == UInt8(ascii: "{") else {
            throw SafetensorsError.malformedHeader("does not start with {")
        }
        guard String(data: text, encoding: .utf8) != nil else {
            throw SafetensorsError.malformedHeader("not UTF-8")
        }
        guard let root = try? JSONDecoder().decode([String: HeaderValue].self, from: text) else {
            throw SafetensorsError.malformedHeader("not a JSON object")
        }
        var metadata: [String: String] = [:]
        let dataLength = bytes.count - headerEnd
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in root {
            if name == metadataKey {
                guard case .metadata(let strings) = value else {
                    throw SafetensorsError.malformedHeader("\(metadataKey) is not an object of strings")
                }
                metadata = strings
                continue
            }
            guard case .tensor(let dtype, let shape, let offsets) = value, offsets.count == 2 else {
                throw SafetensorsError.malformedHeader(
                    "tensor \(name) is not {dtype, shape, data_offsets: [begin, end]} with whole numbers")
            }
            guard dtype == "F32" else { throw SafetensorsError.unsupportedDType(tensor: name, dtype: dtype) }
            guard shape.allSatisfy({ $0 >= 0 }), offsets.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.malformedHeader("tensor \(name) has a negative size or offset")
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw SafetensorsError.sizeOverflow(tensor: name) }
                elements = product
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
            guard !overflow else { throw SafetensorsError.sizeOverflow(tensor: name) }
            guard offsets[0] <= offsets[1], offsets[1] - offsets[0] == expected else {
                throw SafetensorsError.lengthMismatch(tensor: name, offsets: offsets, expected: expected)
            }
            entries.append((name, shape, offsets[0], offsets[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        for entry in entries {
            guard entry.begin == position else {
                throw entry.begin < position
                    ? SafetensorsError.tensorsOverlap(
                        tensor: entry.name, offset: entry.begin, expected: position)
                    : SafetensorsError.tensorGap(tensor: entry.name, offset: entry.begin, expected: position)
            }
            guard entry.end <= dataLength else {
                throw SafetensorsError.truncated(tensor: entry.name, end: entry.end, dataLength: dataLength)
            }
            position = entry.end
        }
        guard position == dataLength else {
            throw SafetensorsError.trailingBytes(expected: position, found: dataLength)
        }
        let tensors = entries.map { entry -> (name: String, tensor: Tensor) in
            let start = headerEnd + entry.begin
            let values = (0..<((entry.end - entry.begin) / 4)).map { i -> Float in
                let k = start + 4 * i
                return Float(
                    bitPattern: UInt32(bytes[k]) | UInt32(bytes[k + 1]) << 8 | UInt32(bytes[k + 2]) << 16
                        | UInt32(bytes[k + 3]) << 24)
            }
            return (entry.name, Tensor(shape: entry.shape, values: values))
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// A value of the header: a tensor's entry, the metadata, or anything else (refused).
    private enum HeaderValue: Decodable {
        case tensor(dtype: String, shape: [Int], offsets: [Int])
        case metadata([String: String])
        case invalid

        private struct Entry: Decodable {
            var dtype: String
            var shape: [Int]
            var data_offsets: [Int]
        }

        init(from decoder: Decoder) throws {
            if let entry = try? Entry(from: decoder) {
                self = .tensor(dtype: entry.dtype, shape: entry.shape, offsets: entry.data_offsets)
            } else if let strings = try? [String: String](from: decoder) {
                self = .metadata(strings)
            } else {
                self = .invalid
            }
        }
    }

    /// Reads and decodes `path`.
    /// - Throws: `SafetensorsError.file(path, ...)`.
    public static func read(from path: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError.file(path: path, .unreadable)
        }
        do {
            return try decode([UInt8](data))
        } catch let error as SafetensorsError {
            throw SafetensorsError.file(path: path, error)
        }
    }
}

/// Why a safetensors file was refused: one case per problem, each a one-line message.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case shortPrefix(found: Int)
    case headerTooLarge(length: UInt64, limit: Int)
    case truncatedHeader(headerEnd: Int, found: Int)
    case malformedHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case sizeOverflow(tensor: String)
    case lengthMismatch(tensor: String, offsets: [Int], expected: Int)
    case tensorsOverlap(tensor: String, offset: Int, expected: Int)
    case tensorGap(tensor: String, offset: Int, expected: Int)
    case truncated(tensor: String, end: Int, dataLength: Int)
    case trailingBytes(expected: Int, found: Int)
    case unreadable
    indirect case file(path: String, SafetensorsError)

    public var description: String {
        let text: String
        switch self {
        case .shortPrefix(let found): text = "short file: \(found) bytes, fewer than the 8-byte header length"
        case .headerTooLarge(let length, let limit):
            text = "header length \(length) is over the limit of \(limit) bytes"
        case .truncatedHeader(let end, let found):
            text = "truncated: the header ends at byte \(end), found \(found) bytes"
        case .malformedHeader(let why): text = "malformed header: \(why)"
        case .unsupportedDType(let t, let d): text = "tensor \(t): unsupported dtype \(d) (only F32)"
        case .sizeOverflow(let t): text = "tensor \(t): size arithmetic overflows"
        case .lengthMismatch(let t, let offsets, let expected):
            text = "tensor \(t): data_offsets \(offsets), but its shape needs \(expected) bytes"
        case .tensorsOverlap(let t, let offset, let expected):
            text =
                "tensor \(t): starts at byte \(offset), overlapping the previous tensor (which ends at \(expected))"
        case .tensorGap(let t, let offset, let expected):
            text = "tensor \(t): starts at byte \(offset) after a gap, expected \(expected)"
        case .truncated(let t, let end, let length):
            text = "truncated: tensor \(t) ends at data byte \(end), the data has \(length)"
        case .trailingBytes(let expected, let found):
            text = "trailing bytes: the tensors take \(expected) bytes of data, found \(found)"
        case .unreadable: text = "cannot read the file"
        case .file(let path, let problem): text = "\(path): \(problem)"
        }
        return oneLine(text)
    }
}
