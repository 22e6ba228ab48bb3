#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes through POSIX calls, so that errors carry errno's own words.
enum FileBytes {
    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Writes `bytes` to a temporary sibling and renames it over `path`, so a reader never
    /// sees half a file.
    static func writeAll(_ bytes: [UInt8], to path: String) throws(AudioFileError) {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // O_EXCL | O_NOFOLLOW: never through a link planted at the temporary name.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw AudioFileError(path: path, problem: "cannot create: \(errnoText(errno))")
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + written, raw.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText(errno)
                close(fd)
                unlink(temporary)
                throw AudioFileError(path: path, problem: "write failed: \(text)")
            }
            written += n
        }
        if close(fd) != 0 {
            let text = errnoText(errno)
            unlink(temporary)
            throw AudioFileError(path: path, problem: "write failed: \(text)")
        }
        if rename(temporary, path) != 0 {
            let text = errnoText(errno)
            unlink(temporary)
            throw AudioFileError(path: path, problem: "cannot create: \(text)")
        }
    }
}
