#if canImport(Glibc)
import Glibc
#endif
import ThreadSupport
import ControlProtocol
import FileSafety

/// The JSON Lines event log (interfaces.md): one `write(2)` per line on an `O_APPEND` fd, no
/// user-space buffering, size-based rotation (`log` -> `log.1` -> ... -> `log.<keep>`),
/// `reopen()` for SIGHUP after logrotate moved the file.
///
/// When a write fails (ENOSPC, EFBIG, EACCES, EROFS, a missing directory...) the event is
/// kept in a bounded pending queue and the log is degraded: a `degraded` event is queued
/// after it and handed to `onHealthChange` (so subscribers hear at once). Pending events
/// are retried in order before every new event and on `retryPending()` (the daemon's
/// periodic tick); once they are all written a `degraded` event with `"recovered":true`
/// follows. Nothing is dropped silently: if the queue overflows, the events that did not
/// fit are counted (`lostEvents`) and the count is written in the recovery event.
/// A short write is undone with ftruncate(2) back to the line's start, so the file never
/// holds a broken line.
///
/// The file is opened with `SafeFile.openForAppend` (never through a symlink, never a FIFO,
/// device or hard-linked file, never in a world-writable non-sticky directory) and locked
/// with flock(2), so that a second daemon cannot append to the same log. Before each write
/// the open file is compared with the path. When the file was deleted behind the daemon's
/// back, it is reopened at the path and a `degraded` event says so, instead of writing into
/// a file nobody can see. When it was only moved (logrotate renames, then sends SIGHUP), it
/// is reopened at the path quietly: the moved file keeps its lines, nothing is lost, and a
/// rotation is no fault.
public final class EventLog: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `state`.
    public let path: String
    public let maxBytes: Int
    public let keep: Int
    public let pendingLimit: Int

    private struct State {
        var fd: Int32 = -1
        var device: UInt64 = 0   // st_dev and st_ino of the open file
        var inode: UInt64 = 0
        var pending: [String] = []   // lines, newline included, oldest first
        var degraded: String?
        var lost = 0
        var lostSinceRecovery = 0
        var written = 0
    }
    private let state = Locked(State())
    private let healthObserver = Locked<(@Sendable (MonitorEvent) -> Void)?>(nil)

    /// write(2) for one line; tests substitute short writes.
    var systemWrite: @Sendable (Int32, UnsafeRawPointer, Int) -> Int = { fd, p, n in write(fd, p, n) }

    /// The file is opened lazily by the first event (a failure to open degrades the log,
    /// it does not stop the daemon).
    public init(path: String, maxBytes: Int = 10 << 20, keep: Int = 5, pendingLimit: Int = 10_000) {
        self.path = path
        self.maxBytes = max(1, maxBytes)
        self.keep = max(0, keep)
        self.pendingLimit = max(1, pendingLimit)
    }

    deinit { close() }

    /// Called with each `degraded` event (failure or recovery), outside the log's lock.
    public func onHealthChange(_ observer: @escaping @Sendable (MonitorEvent) -> Void) {
        healthObserver.withLock { $0 = observer }
    }

    /// Why the log cannot write, nil when healthy.
    public var degradedReason: String? { state.withLock { $0.degraded } }
    public var pendingCount: Int { state.withLock { $0.pending.count } }
    public var lostEvents: Int { state.withLock { $0.lost } }
    /// Lines written since creation.
    public var linesWritten: Int { state.withLock { $0.written } }

    /// Writes the pending events, then this one. Returns true when everything is on disk.
    @discardableResult
    public func append(_ event: MonitorEvent) -> Bool {
        var notices: [MonitorEvent] = []
        let ok = state.withLock { s -> Bool in
            s.pending.append(event.line)
            if s.pending.count > pendingLimit {
                s.pending.removeLast()
                s.lost += 1
                s.lostSinceRecovery += 1
            }
            return flush(&s, notices: &notices)
        }
        notify(notices)
        return ok
    }

    /// Retries the pending events (periodic tick). Returns true when none are left.
    @discardableResult
    public func retryPending() -> Bool {
        var notices: [MonitorEvent] = []
        let ok = state.withLock { s -> Bool in
            if s.pending.isEmpty && s.degraded == nil { return true }
            return flush(&s, notices: &notices)
        }
        notify(notices)
        return ok
    }

    /// Closes the file and opens `path` anew (SIGHUP, after logrotate), creating it at once
    /// so that the rotation is visible; then retries what is pending.
    public func reopen() {
        state.withLock { s in
            closeFile(&s)
            _ = openFile(&s)   // on failure the next write retries and reports why
        }
        retryPending()
    }

    /// Opens the file now (start-up): nil when it is open, else why not, and whether that
    /// is a refusal (a symlink, a FIFO, an unsafe directory, another daemon's lock) that
    /// waiting will not cure, as opposed to an error of the moment (no space, no directory).
    /// `locked`: another process holds the log's lock (a second daemon).
    public func openAtStartup() -> (problem: String, refused: Bool, locked: Bool)? {
        state.withLock { s in
            if s.fd >= 0 { return nil }
            guard let failure = openFile(&s) else { return nil }
            return ("event log \(failure.description)", failure.isRefusal, failure.code == EWOULDBLOCK)
        }
    }

    public func close() {
        state.withLock { s in closeFile(&s) }
    }

    private func closeFile(_ s: inout State) {
        if s.fd >= 0 { _ = Glibc.close(s.fd); s.fd = -1 }   // closing releases the flock
    }

    /// Opens `path` safely for appending and takes the lock; nil on success.
    private func openFile(_ s: inout State) -> FileSafetyError? {
        let fd: Int32
        do { fd = try SafeFile.openForAppend(path, mode: 0o640) } catch { return error }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            _ = Glibc.close(fd)
            if code == EWOULDBLOCK {
                return FileSafetyError(path: path, problem: "locked by another process (a second babymonitord on the same log?); refusing to write to it",
                                       code: code, isRefusal: true)
            }
            return FileSafetyError(path: path, problem: "flock: \(errnoText(code))", code: code)
        }
        var st = stat()
        _ = fstat(fd, &st)
        s.fd = fd
        s.device = UInt64(st.st_dev)
        s.inode = UInt64(st.st_ino)
        return nil
    }

    private enum OpenFileFate { case inPlace, moved, deleted }

    /// Whether the open file is still the one at `path`: in place; moved or replaced (it still
    /// has a name elsewhere: a rotation whose SIGHUP has not come yet); or deleted (link count
    /// 0: what is written to it is lost to every reader). The caller reopens when not in place.
    private func openFileFate(_ s: State) -> OpenFileFate {
        guard s.fd >= 0 else { return .inPlace }
        var open = stat()
        if fstat(s.fd, &open) == 0 && open.st_nlink == 0 { return .deleted }
        var named = stat()
        if lstat(path, &named) == 0 && UInt64(named.st_dev) == s.device && UInt64(named.st_ino) == s.inode {
            return .inPlace
        }
        return .moved
    }

    private func notify(_ notices: [MonitorEvent]) {
        guard !notices.isEmpty, let observer = healthObserver.withLock({ $0 }) else { return }
        for n in notices { observer(n) }
    }

    /// Writes pending lines in order until one fails. On the first failure after health,
    /// queues a `degraded` event; when the queue empties after a failure, writes a recovery one.
    private func flush(_ s: inout State, notices: inout [MonitorEvent]) -> Bool {
        let fate = s.pending.isEmpty ? .inPlace : openFileFate(s)
        if fate == .moved { closeFile(&s) }   // reopened at the path by the write below
        if fate == .deleted {
            closeFile(&s)
            // First in the new file, so a reader sees why the history before it is gone.
            let event = MonitorEvent.degraded(
                component: "event_log",
                reason: "event log \(path) was deleted while open; reopened at its path",
                extra: [("reopened", .bool(true))])
            s.pending.insert(event.line, at: 0)
            notices.append(event)
        }
        while let line = s.pending.first {
            if let problem = writeLine(line, &s) {
                if s.degraded == nil {
                    let reason = "event log \(path): \(problem)"
                    s.degraded = reason
                    let event = MonitorEvent.degraded(component: "event_log", reason: reason)
                    // Behind the events already waiting, so the file keeps them in order.
                    if s.pending.count < pendingLimit { s.pending.append(event.line) }
                    notices.append(event)
                } else {
                    s.degraded = "event log \(path): \(problem)"
                }
                return false
            }
            s.pending.removeFirst()
            s.written += 1
            if s.pending.isEmpty, let was = s.degraded {
                s.degraded = nil
                let event = MonitorEvent.degraded(
                    component: "event_log", reason: "writable again (was: \(was))", recovered: true,
                    extra: [("lost_events", .number(Double(s.lostSinceRecovery)))])
                s.lostSinceRecovery = 0
                s.pending.append(event.line)
                notices.append(event)
            }
        }
        return true
    }

    /// One line, one write(2). Returns nil on success, else the problem.
    private func writeLine(_ line: String, _ s: inout State) -> String? {
        if s.fd < 0, let failure = openFile(&s) { return failure.problem }
        var st = stat()
        let size = fstat(s.fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
        var utf8 = Array(line.utf8)
        if size > 0 && size + utf8.count > maxBytes {
            if let problem = rotate(&s) { return problem }
        }
        while true {
            let n = utf8.withUnsafeMutableBytes { systemWrite(s.fd, $0.baseAddress!, $0.count) }
            if n == utf8.count { return nil }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                return "write failed: \(errnoText(code))"
            }
            // Short write (disk full, file size limit): cut the partial line off again.
            let end = lseek(s.fd, 0, SEEK_END)
            if end >= 0 { _ = ftruncate(s.fd, end - off_t(n)) }
            return "short write (\(n) of \(utf8.count) bytes): disk full or file size limit"
        }
    }

    /// log.<keep-1> -> log.<keep>, ..., log -> log.1, then a fresh log.
    private func rotate(_ s: inout State) -> String? {
        closeFile(&s)
        if keep == 0 {
            if unlink(path) != 0 && errno != ENOENT { return "rotation: unlink: \(errnoText(errno))" }
        } else {
            var i = keep - 1
            while i >= 1 {
                if rename("\(path).\(i)", "\(path).\(i + 1)") != 0 && errno != ENOENT {
                    return "rotation: rename \(path).\(i): \(errnoText(errno))"
                }
                i -= 1
            }
            if rename(path, "\(path).1") != 0 && errno != ENOENT {
                return "rotation: rename to \(path).1: \(errnoText(errno))"
            }
        }
        if let failure = openFile(&s) { return "after rotation: \(failure.problem)" }
        return nil
    }
}

func errnoText(_ code: Int32) -> String { errnoDescription(code) }
