#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and writes through POSIX calls, so that errors carry errno's own words.
enum FileBytes {
    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The whole file in memory (WAV files here are seconds to hours of audio: megabytes).
    static func readAll(path: String) throws(AudioFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AudioFileError(path: path, problem: "cannot open: \(errnoText(errno))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw AudioFileError(path: path, problem: "cannot stat: \(errnoText(errno))")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw AudioFileError(path: path, problem: "is a directory, not a WAV file")
        }
        // st_size is only a hint (pipes, files growing underneath): read until EOF.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(info.st_size)) + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AudioFileError(path: path, problem: "read failed: \(errnoText(errno))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Writes `bytes` to a temporary sibling and renames it over `path`, so a reader never
    /// sees half a file.
    static func writeAll(_ bytes: [UInt8], to path: String) throws(AudioFileError) {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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
