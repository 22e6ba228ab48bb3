#if canImport(Glibc)
import Glibc
#endif
import CZlib
import ControlProtocol

/// Why the log could not be read (exit 74 in monitorctl).
public struct LogReadError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// One line of the log with where it came from (for messages like `events.jsonl.2.gz:17`).
public struct LogLine: Sendable, Equatable {
    public var file: String
    public var number: Int
    public var text: String
    public init(file: String, number: Int, text: String) {
        self.file = file
        self.number = number
        self.text = text
    }
}

/// The event log and its rotated files, oldest first, read as lines.
///
/// The daemon rotates `events.jsonl` -> `events.jsonl.1` -> ... (interfaces.md); logrotate may
/// compress them (`events.jsonl.2.gz`, with `delaycompress` `.1` stays plain) or name them by
/// date (`events.jsonl-20261124[.gz]`). Every file is read through zlib's gz reader, which
/// reads plain files as they are, so one path serves both.
public enum EventLogFiles {
    /// The log's files, oldest first: dated files by name, then numbered ones from the highest
    /// number down, then the log itself (when it exists).
    public static func files(forLog path: String) throws(LogReadError) -> [String] {
        let (dir, base) = split(path)
        guard let d = opendir(dir) else {
            throw LogReadError(path: dir, problem: "cannot list the log's directory: \(errnoDescription(errno))")
        }
        defer { closedir(d) }
        var numbered: [(Int, String)] = []
        var dated: [String] = []
        var hasLog = false
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == base { hasLog = true; continue }
            guard name.hasPrefix(base), name.count > base.count else { continue }
            var rest = String(name.dropFirst(base.count))
            if rest.hasSuffix(".gz") { rest.removeLast(3) }
            if rest.first == ".", let n = Int(rest.dropFirst()), n >= 0, n < 100_000 {
                numbered.append((n, name))
            } else if rest.first == "-" || rest.first == ".", rest.count >= 9,
                      rest.dropFirst().allSatisfy({ $0.isNumber || $0 == "-" || $0 == "_" }) {
                dated.append(name)   // logrotate dateext: -20261124, .2026-11-24, -2026112403
            }
        }
        let prefix = dir == "." && !path.hasPrefix("./") ? "" : (dir == "/" ? "/" : dir + "/")
        var result = dated.sorted().map { prefix + $0 }
        // By number. The daemon's size rotation renames plain files only, so with logrotate's
        // `compress` both log.2 and log.2.gz can exist: then the one written to last is newer.
        func mtime(_ name: String) -> Int64 {
            var st = stat()
            return stat(prefix + name, &st) == 0 ? Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) : 0
        }
        result += numbered.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : mtime($0.1) < mtime($1.1) }.map { prefix + $0.1 }
        if hasLog { result.append(path) }
        if result.isEmpty {
            throw LogReadError(path: path, problem: "no event log here (nor rotated files \(base).1, \(base).1.gz, ...)")
        }
        return result
    }

    /// The whole (decompressed) content of one file. A truncated `.gz` yields what could be
    /// decompressed and the problem as a note; a file that cannot be opened throws.
    public static func read(_ path: String) throws(LogReadError) -> (bytes: [UInt8], note: String?) {
        // Open with open(2) first: its errno says why (gzopen may not set it).
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LogReadError(path: path, problem: "cannot open: \(errnoDescription(errno))") }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw LogReadError(path: path, problem: "is a directory, not an event log")
        }
        guard let gz = gzdopen(fd, "rb") else {
            close(fd)
            throw LogReadError(path: path, problem: "cannot open for reading (out of memory)")
        }
        defer { gzclose_r(gz) }
        gzbuffer(gz, 256 * 1024)
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n > 0 { out.append(contentsOf: chunk[..<Int(n)]); continue }
            var code: Int32 = 0
            let message = gzerror(gz, &code).map { String(cString: $0) } ?? "error \(code)"
            // End of input: clean (Z_OK), or a stream cut short (Z_BUF_ERROR, reported here at 0).
            if n == 0 && code == Z_OK { return (out, nil) }
            if code == Z_ERRNO {
                throw LogReadError(path: path, problem: "read failed: \(errnoDescription(errno))")
            }
            // Z_BUF_ERROR "unexpected end of file" (a cut .gz), Z_DATA_ERROR (corrupt): keep what came out.
            return (out, "compressed data damaged after \(out.count) bytes (\(message)); read what came before")
        }
    }

    /// The lines of all files, oldest first. Notes say what was odd (damaged .gz).
    public static func lines(of files: [String]) throws(LogReadError) -> (lines: [LogLine], notes: [String]) {
        var lines: [LogLine] = []
        var notes: [String] = []
        for file in files {
            let (bytes, note) = try read(file)
            if let note { notes.append("\(file): \(note)") }
            var number = 0
            var start = 0
            let count = bytes.count
            bytes.withUnsafeBufferPointer { buf in
                while start < count {
                    var end = start
                    while end < count && buf[end] != UInt8(ascii: "\n") { end += 1 }
                    number += 1
                    if end > start {
                        lines.append(LogLine(file: file, number: number,
                                             text: String(decoding: UnsafeBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)))
                    }
                    start = end + 1
                }
            }
        }
        return (lines, notes)
    }

    static func split(_ path: String) -> (dir: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
