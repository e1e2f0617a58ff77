/// Why a checkpoint could not be read or written: one case per problem, each a one-line message.
///
/// Errors about a file come wrapped in `.file(path:_:)`, whose description puts the path first
/// (`checkpoint.bin: truncated: expected 4276424 bytes, found 4100000`), so a command can print
/// `description` as it stands.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// Zero bytes.
    case empty
    /// Fewer bytes than the fixed prefix (magic, version, header length).
    case shortPrefix(found: Int)
    case badMagic
    case unsupportedVersion(UInt32)
    /// The declared header length is over `CheckpointCodec.maximumHeaderLength`.
    case headerTooLarge(length: UInt64, limit: Int)
    /// The file ends before the declared header does.
    case truncatedHeader(headerEnd: Int, found: Int)
    /// The header is not the JSON object the spec describes.
    case malformedHeader(String)
    /// The header's configuration could not train (the same rules as the command line).
    case invalidConfiguration(String)
    /// Step, epoch or Adam step count that cannot belong together.
    case inconsistentState(String)
    case unsupportedDType(tensor: String, dtype: String)
    /// Shape x element size, or offset + length, does not fit in 64 bits.
    case sizeOverflow(tensor: String)
    /// The declared byte length is not shape x element size.
    case lengthMismatch(tensor: String, declared: Int, expected: Int)
    /// The shape differs from the one the configuration's model implies.
    case shapeMismatch(tensor: String, declared: [Int], expected: [Int])
    case unknownTensor(String)
    case duplicateTensor(String)
    case missingTensor(String)
    /// The tensor's bytes do not lie inside the data section the configuration implies.
    case tensorOutOfRange(tensor: String, start: Int, end: Int, dataLength: Int)
    case tensorsOverlap(tensor: String, previous: String)
    /// Unused bytes before this tensor.
    case tensorGap(tensor: String, offset: Int, expected: Int)
    /// The file is shorter than the header says it must be.
    case truncated(expected: Int, found: Int)
    /// The file is longer than the header says it must be.
    case trailingBytes(expected: Int, found: Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// Not a regular file (a directory, a device, a pipe).
    case notRegularFile
    /// The operating system refused to read (open, read, ...), with its reason.
    case unreadable(String)
    /// Writing failed; the previous file at the path, if any, is untouched.
    case unwritable(String)
    /// Written and renamed into place, but the directory could not be synced.
    case notDurable(String)
    /// Not enough room for the file, found before any training.
    case insufficientSpace(needed: Int, available: Int)
    indirect case file(path: String, CheckpointError)

    /// Always one line: names and text taken from a file (a tensor name in a damaged header may
    /// hold a newline) show their control characters escaped, as `\n` or `\u{1B}`.
    public var description: String { oneLine(message) }

    private var message: String {
        switch self {
        case .empty: return "empty file"
        case .shortPrefix(let found):
            return "short header: \(found) bytes, fewer than the \(CheckpointCodec.prefixLength)-byte prefix"
        case .badMagic: return "not a vae-mpi checkpoint (bad magic number)"
        case .unsupportedVersion(let v):
            return "unsupported format version \(v) (this build reads version \(CheckpointCodec.version))"
        case .headerTooLarge(let length, let limit):
            return "header length \(length) is over the limit of \(limit) bytes"
        case .truncatedHeader(let end, let found):
            return "truncated: the header ends at byte \(end), found \(found) bytes"
        case .malformedHeader(let why): return "malformed header: \(why)"
        case .invalidConfiguration(let why): return "invalid configuration in header: \(why)"
        case .inconsistentState(let why): return "inconsistent training state: \(why)"
        case .unsupportedDType(let t, let d): return "tensor \(t): unsupported dtype \(d) (only F32)"
        case .sizeOverflow(let t): return "tensor \(t): size arithmetic overflows"
        case .lengthMismatch(let t, let declared, let expected):
            return "tensor \(t): length \(declared) bytes, but its shape needs \(expected)"
        case .shapeMismatch(let t, let declared, let expected):
            return "tensor \(t): shape \(declared) does not match the configuration's \(expected)"
        case .unknownTensor(let t): return "tensor \(t): not part of the configuration's model"
        case .duplicateTensor(let t): return "tensor \(t): listed twice"
        case .missingTensor(let t): return "tensor \(t): missing"
        case .tensorOutOfRange(let t, let start, let end, let length):
            return "tensor \(t): bytes [\(start), \(end)) outside the data section [0, \(length))"
        case .tensorsOverlap(let t, let previous): return "tensor \(t): overlaps \(previous)"
        case .tensorGap(let t, let offset, let expected):
            return "tensor \(t): starts at byte \(offset) after a gap, expected \(expected)"
        case .truncated(let expected, let found):
            return "truncated: expected \(expected) bytes, found \(found)"
        case .trailingBytes(let expected, let found):
            return "trailing bytes: expected \(expected) bytes, found \(found)"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch: stored CRC-32 \(hex(stored)), computed \(hex(computed))"
        case .notRegularFile: return "not a regular file"
        case .unreadable(let why): return "cannot read: \(why)"
        case .unwritable(let why): return "cannot write: \(why) (any previous checkpoint is unchanged)"
        case .notDurable(let why): return "written, but may not survive a crash: \(why)"
        case .insufficientSpace(let needed, let available):
            return "cannot write: needs \(needed) bytes, the file system has \(available) free"
        case .file(let path, let problem): return "\(path): \(problem)"
        }
    }

    /// The problem itself, without the path.
    public var problem: CheckpointError {
        if case .file(_, let inner) = self { return inner.problem }
        return self
    }
}

/// `text` with every control or line-separating character written as a Swift escape.
func oneLine(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator:
            result += scalar.escaped(asASCII: true)
        default:
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
