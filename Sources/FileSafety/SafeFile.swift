#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file the program refuses to open, naming the path and why.
public struct FileSafetyError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var problem: String
    /// errno of the failing call, 0 when the refusal is the program's own (a symlink, a FIFO...).
    public var code: Int32
    /// True when retrying cannot help until someone changes the file system (a symlink, a
    /// FIFO, a hard-linked or foreign file, an unsafe directory), as opposed to an error of
    /// the moment (no space, a missing directory, permissions being fixed).
    public var isRefusal: Bool

    public init(path: String, problem: String, code: Int32 = 0, isRefusal: Bool = false) {
        self.path = path
        self.problem = problem
        self.code = code
        self.isRefusal = isRefusal
    }

    public var description: String { "\(path): \(problem)" }
}

/// Opening files safely, for every file the programs create, append to or read whole.
///
/// Writing (`openForAppend`, `createNew`): the last path component is never followed when
/// it is a symbolic link (O_NOFOLLOW: a link planted at the log's path would make a root
/// daemon append to whatever it points at); the result must be a regular file with one link
/// (a hard link to another file is the same attack); the directory must not be writable by
/// others unless it is sticky (/tmp style), since anyone who can write there can swap the
/// file between two of our calls.
///
/// Reading (`openRegularForReading`, `readAll`): opened with O_NONBLOCK so that a FIFO
/// without a writer cannot hang the caller in open(2) (signals would not end it), then only
/// regular files are accepted, and sizes above the caller's limit are refused before a byte
/// is read.
public enum SafeFile {
    public static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// What kind of file a mode is, for messages.
    public static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    /// Opens `path` for appending (O_APPEND, created with `mode` if missing), refusing
    /// symlinks, non-regular and hard-linked files and unsafe directories. Returns the fd
    /// (O_CLOEXEC, blocking).
    public static func openForAppend(_ path: String, mode: mode_t = 0o640) throws(FileSafetyError) -> Int32 {
        try checkDirectory(of: path)
        // O_NONBLOCK: a FIFO planted at the path must not block open(2); it is refused below.
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode)
        if fd < 0 { throw openError(path, errno) }
        do {
            try checkWritable(fd, path)
        } catch {
            _ = close(fd)
            throw error
        }
        clearNonBlocking(fd)
        return fd
    }

    /// Creates `path`, which must not exist yet (O_EXCL: never an existing file or link),
    /// for writing; same directory check as `openForAppend`.
    public static func createNew(_ path: String, mode: mode_t = 0o640) throws(FileSafetyError) -> Int32 {
        try checkDirectory(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        if fd < 0 {
            let code = errno
            if code == EEXIST {
                throw FileSafetyError(path: path, problem: "already exists; refusing to overwrite it", code: code, isRefusal: true)
            }
            throw openError(path, code)
        }
        return fd
    }

    /// Opens a regular file for reading without ever blocking in open(2) (a symlink to a
    /// regular file is fine: reading through it harms nothing). Refuses FIFOs, devices,
    /// directories, and files larger than `maxBytes`. Returns the fd (blocking
    /// again, O_CLOEXEC) and the size.
    public static func openRegularForReading(_ path: String, maxBytes: Int? = nil,
                                             what: String = "file") throws(FileSafetyError) -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            throw FileSafetyError(path: path, problem: "cannot open: \(errnoText(code))", code: code)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            _ = close(fd)
            throw FileSafetyError(path: path, problem: "cannot stat: \(errnoText(code))", code: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            _ = close(fd)
            let problem = (st.st_mode & S_IFMT) == S_IFDIR ? "is a directory, not a \(what)"
                : "is \(kindName(st.st_mode)), not a regular file (a \(what) must be one)"
            throw FileSafetyError(path: path, problem: problem, isRefusal: true)
        }
        let size = Int(st.st_size)
        if let maxBytes, size > maxBytes {
            _ = close(fd)
            throw FileSafetyError(path: path,
                                  problem: "is \(size) bytes, more than the \(maxBytes) bytes a \(what) can be",
                                  isRefusal: true)
        }
        clearNonBlocking(fd)
        return (fd, size)
    }

    /// The whole of a regular file of at most `maxBytes` (checked before reading; a file
    /// growing past it while read is refused too).
    public static func readAll(_ path: String, maxBytes: Int, what: String = "file") throws(FileSafetyError) -> [UInt8] {
        let (fd, size) = try openRegularForReading(path, maxBytes: maxBytes, what: what)
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, size - got) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSafetyError(path: path, problem: "read failed: \(errnoText(errno))", code: errno)
            }
            if n == 0 { break }   // shrank while read: what is there
            got += n
        }
        if got < size { bytes.removeSubrange(got...) }
        // Grown since fstat? One more byte tells.
        var probe: UInt8 = 0
        if got == size, read(fd, &probe, 1) == 1 {
            throw FileSafetyError(path: path, problem: "grew while being read (limit \(maxBytes) bytes)", isRefusal: true)
        }
        return bytes
    }

    /// Reads exactly `buffer.count` bytes at `offset` (pread, EINTR retried): nil when done,
    /// 0 when the file ended first, else the errno.
    public static func readExactly(_ fd: Int32, offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int32? {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return 0 }
            done += n
        }
        return nil
    }

    // MARK: checks

    /// The directory holding `path` must exist, be a directory, and not be writable by
    /// everyone unless it is sticky.
    static func checkDirectory(of path: String) throws(FileSafetyError) {
        let dir: String
        if let slash = path.lastIndex(of: "/") {
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            dir = "."
        }
        var st = stat()
        guard stat(dir, &st) == 0 else {
            let code = errno
            throw FileSafetyError(path: path, problem: "directory \(dir): \(errnoText(code))", code: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw FileSafetyError(path: path, problem: "\(dir) is not a directory", code: ENOTDIR, isRefusal: true)
        }
        if st.st_mode & S_IWOTH != 0 && st.st_mode & S_ISVTX == 0 {
            throw FileSafetyError(path: path,
                                  problem: "directory \(dir) is writable by everyone and not sticky: anyone could replace the file; refusing to write there",
                                  isRefusal: true)
        }
    }

    static func checkWritable(_ fd: Int32, _ path: String) throws(FileSafetyError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileSafetyError(path: path, problem: "cannot stat: \(errnoText(errno))", code: errno)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileSafetyError(path: path, problem: "is \(kindName(st.st_mode)), not a regular file; refusing to write to it",
                                  isRefusal: true)
        }
        guard st.st_nlink <= 1 else {
            throw FileSafetyError(path: path,
                                  problem: "has \(st.st_nlink) hard links (another name points at the same file); refusing to write to it",
                                  isRefusal: true)
        }
    }

    static func openError(_ path: String, _ code: Int32) -> FileSafetyError {
        switch code {
        case ELOOP:
            return FileSafetyError(path: path, problem: "is a symbolic link; refusing to follow it", code: code, isRefusal: true)
        case ENXIO:   // O_WRONLY|O_NONBLOCK on a FIFO with no reader
            return FileSafetyError(path: path, problem: "is a FIFO (named pipe), not a regular file; refusing to write to it",
                                   code: code, isRefusal: true)
        case EISDIR:
            return FileSafetyError(path: path, problem: "is a directory, not a regular file", code: code, isRefusal: true)
        default:
            return FileSafetyError(path: path, problem: "cannot open: \(errnoText(code))", code: code)
        }
    }

    static func clearNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }
}
