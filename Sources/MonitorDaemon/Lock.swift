#if canImport(Glibc)
import Glibc
#endif

/// A self-pipe used to wake a thread blocked in poll(2) (eventfd does not import from
/// Glibc): `signal()` never blocks (a full pipe already means "wake up"), `drain()` resets it.
public final class Wakeup: @unchecked Sendable {
    // @unchecked: only the file descriptors are shared, and the kernel serialises them.
    /// The end to poll for POLLIN.
    public let fd: Int32
    private let writeEnd: Int32

    public init() throws(DaemonError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system("pipe", errno) }
        for end in fds { setNonBlockingCloseOnExec(end) }
        fd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        _ = close(fd)
        _ = close(writeEnd)
    }

    public func signal() {
        var one: UInt8 = 1
        _ = write(writeEnd, &one, 1)
    }

    public func drain() {
        // On the stack: this runs once per capture period (no allocation on the hot path).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { sink in
            while read(fd, sink.baseAddress, sink.count) > 0 {}
        }
    }

    /// Blocks until signalled or `timeoutMillis` passed (-1: forever); returns true when signalled.
    @discardableResult
    public func wait(timeoutMillis: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, timeoutMillis)
        if rc > 0 { drain(); return true }
        return false
    }
}

public enum DaemonError: Error, CustomStringConvertible, Equatable {
    case system(String, Int32)
    case socketInUse(String)
    case socketPath(String, String)
    case config(String)
    case input(String)

    public var description: String {
        switch self {
        case .system(let call, let code): return "\(call): \(String(cString: strerror(code))) (errno \(code))"
        case .socketInUse(let path):
            return "control socket \(path) is in use: another babymonitord is listening there (stop it, or use --socket)"
        case .socketPath(let path, let problem): return "control socket \(path): \(problem)"
        case .config(let s): return s
        case .input(let s): return s
        }
    }
}

/// O_NONBLOCK and FD_CLOEXEC on a descriptor (pipe2/accept4 need _GNU_SOURCE, which the
/// Glibc module does not define).
public func setNonBlockingCloseOnExec(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
}

/// Seconds on the monotonic clock (uptime, retry backoff: immune to wall-clock jumps).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
