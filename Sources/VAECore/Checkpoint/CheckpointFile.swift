import Foundation

/// Checkpoints on disk. Errors carry the path (`CheckpointError.file`), so a command prints
/// them as they are.
extension CheckpointCodec {
    /// Writes atomically (see `AtomicFile`): a crash leaves the previous checkpoint in place.
    /// Call on one rank only.
    /// - Throws: `CheckpointError.file(path, .unwritable)`, the previous file untouched.
    public static func write(_ checkpoint: Checkpoint, to path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try encode(checkpoint)
        } catch {
            throw CheckpointError.file(path: path, .unwritable("cannot encode: \(error)"))
        }
        try AtomicFile.write(bytes, to: path)
    }

    /// Reads and validates the checkpoint at `path`. A file of the wrong length is refused from
    /// its header alone, before the rest is read.
    /// - Throws: `CheckpointError.file(path, problem)`.
    public static func read(from path: String) throws -> Checkpoint {
        do {
            return try decode(readValidatedBytes(path))
        } catch let error as CheckpointError {
            throw CheckpointError.file(path: path, error)
        }
    }

    static func readValidatedBytes(_ path: String) throws -> [UInt8] {
        // Non-blocking, so that a pipe at the path is refused instead of waiting for a writer
        // (it changes nothing for a regular file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw CheckpointError.unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw CheckpointError.unreadable(String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw CheckpointError.notRegularFile }
        let size = Int(status.st_size)
        let start = try readUpTo(fd, count: min(size, prefixLength + maximumHeaderLength))
        _ = try start.withUnsafeBytes { try validateLayout($0, fileSize: size) }
        let all = try readUpTo(fd, count: size)
        guard all.count == size else {
            // The file shrank while we read it.
            throw CheckpointError.truncated(expected: size, found: all.count)
        }
        return all
    }

    /// Up to `count` bytes from the start of the file (fewer only at its end).
    static func readUpTo(_ fd: Int32, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            guard let base = buffer.baseAddress else { return }
            while initialized < count {
                let n = pread(fd, base + initialized, count - initialized, off_t(initialized))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.unreadable(String(cString: strerror(errno)))
                }
                if n == 0 { break }
                initialized += n
            }
        }
    }
}
