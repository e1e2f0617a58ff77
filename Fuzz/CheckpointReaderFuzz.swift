/// libFuzzer's entry point for the checkpoint reader. `Launch/fuzz` compiles it together with
/// VAECore's sources into one instrumented module (`-sanitize=fuzzer,address`); `swift build`
/// never sees this directory.
///
/// The reader may only return a checkpoint or throw a `CheckpointError`: a trap, a sanitizer
/// report, another error type or a hang is a failure. Each input is read twice, as it is and
/// with its last four bytes replaced by the CRC-32 of the rest, so that mutations also reach the
/// code behind the checksum. What is accepted must survive the writer's round trip.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpointReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    read(bytes)
    if bytes.count >= 4 {
        var fixed = bytes
        let crc = CheckpointCodec.crc32(Array(bytes.dropLast(4)))
        withUnsafeBytes(of: crc.littleEndian) { fixed.replaceSubrange((bytes.count - 4)..., with: $0) }
        read(fixed)
    }
    return 0
}

/// Decodes `bytes`; an accepted checkpoint is encoded, decoded and encoded again, and both
/// encodings must be the same bytes (floats are compared bit for bit that way, NaNs included).
private func read(_ bytes: [UInt8]) {
    let checkpoint: Checkpoint
    do {
        checkpoint = try CheckpointCodec.decode(bytes)
    } catch is CheckpointError {
        return
    } catch {
        fatalError("the reader threw \(type(of: error)), not a CheckpointError: \(error)")
    }
    do {
        let encoded = try CheckpointCodec.encode(checkpoint)
        let again = try CheckpointCodec.encode(CheckpointCodec.decode(encoded))
        guard again == encoded else { fatalError("an accepted checkpoint changed in its round trip") }
    } catch {
        fatalError("an accepted checkpoint cannot be written and read back: \(error)")
    }
}
