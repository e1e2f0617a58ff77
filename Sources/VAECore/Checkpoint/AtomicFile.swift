import Foundation

/// Replacing a file so that a crash at any moment leaves either the complete old file or the
/// complete new one at its path, never a mixture.
///
/// The bytes go to `<path>.tmp` in the same directory (so the rename cannot cross file
/// systems), are fsync'ed, renamed over `<path>`, and the directory is fsync'ed so the rename
/// itself survives a power cut. A temporary file left by a killed writer is never read, and is
/// removed by the next write or check.
public enum AtomicFile {
    public static func temporaryPath(for path: String) -> String { path + ".tmp" }

    /// Writes `bytes` to `path` atomically.
    /// - Throws: `CheckpointError.file(path, .unwritable)`; the old file is then untouched and
    ///   no temporary file remains.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = temporaryPath(for: path)
        do {
            try removeLeftover(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw failure("cannot create \(temporary)") }
            do {
                try bytes.withUnsafeBytes { try writeAll(fd, $0) }
                guard fsync(fd) == 0 else { throw failure("fsync") }
            } catch {
                close(fd)
                throw error
            }
            guard close(fd) == 0 else { throw failure("close") }
            guard rename(temporary, path) == 0 else { throw failure("rename") }
        } catch let error as CheckpointError {
            unlink(temporary)
            throw CheckpointError.file(path: path, error)
        }
        do {
            try syncDirectory(of: path)
        } catch let error as CheckpointError {
            throw CheckpointError.file(path: path, error)
        }
    }

    /// Checks, before any work, that `bytes` bytes can be written to `path`: the path is a
    /// regular file or absent, a file can be created next to it (which works even where
    /// `access(2)` would say yes, e.g. for root on a read-only mount), and the file system has
    /// room for the temporary copy. Removes a leftover temporary file.
    /// - Throws: `CheckpointError.file(path, ...)` naming the problem.
    public static func checkWritable(_ path: String, bytes: Int) throws {
        do {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG {
                throw CheckpointError.notRegularFile
            }
            let temporary = temporaryPath(for: path)
            try removeLeftover(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw failure("cannot create \(temporary)") }
            close(fd)
            unlink(temporary)
            var fs = statvfs()
            if statvfs(directory(of: path), &fs) == 0 {
                let available = Int(clamping: UInt64(fs.f_bavail) &* UInt64(fs.f_frsize))
                if available < bytes {
                    throw CheckpointError.insufficientSpace(needed: bytes, available: available)
                }
            }
        } catch let error as CheckpointError {
            throw CheckpointError.file(path: path, error)
        }
    }

    static func directory(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    /// Removes a temporary file a killed writer left behind (absent is fine).
    static func removeLeftover(_ temporary: String) throws {
        guard unlink(temporary) == 0 || errno == ENOENT else {
            throw failure("cannot remove the leftover \(temporary)")
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let chunk = min(bytes.count - done, 1 << 30)
            let n = Foundation.write(fd, base + done, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write")
            }
            done += n
        }
    }

    static func syncDirectory(of path: String) throws {
        let fd = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw notDurable("cannot open its directory") }
        defer { close(fd) }
        // Some file systems cannot fsync a directory (EINVAL); the rename is then as durable
        // as they make it.
        guard fsync(fd) == 0 || errno == EINVAL else { throw notDurable("fsync of its directory") }
    }

    /// The error for the failed call `what`, from `errno` (read before `what` is built, since
    /// building a string may change it).
    static func failure(_ what: @autoclosure () -> String) -> CheckpointError {
        let code = errno
        return .unwritable("\(what()): \(String(cString: strerror(code)))")
    }

    /// The error for a failure after the rename: the new file is in place but may not survive
    /// a power cut.
    static func notDurable(_ what: @autoclosure () -> String) -> CheckpointError {
        let code = errno
        return .notDurable("\(what()): \(String(cString: strerror(code)))")
    }
}
