#if canImport(Glibc)
import Glibc
#endif
// FoundationEssentials where the toolchain has it: no ICU in babymonitord (issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch   // DispatchSemaphore
import ThreadSupport
import ControlProtocol

/// What the control server asks the daemon for. Called on the server's thread; must not block
/// for long (take a snapshot under a lock).
public struct ControlHandlers: Sendable {
    public var status: @Sendable () -> DaemonStatus
    public var recentEvents: @Sendable (_ limit: Int) -> [MonitorEvent]
    /// `{"cmd":"label"}`: the label event, or why nothing was recorded.
    public var label: @Sendable (EpisodeReference, EpisodeLabel) -> Result<MonitorEvent, ControlRefusal>
    /// `{"cmd":"reload"}`: the models in use from now on and which are adapted, or why not.
    public var reload: @Sendable () -> Result<([(String, String)], [String]), ControlRefusal>
    /// `{"cmd":"adapt"}`: the adaptation just started, or why not.
    public var adapt: @Sendable () -> Result<AdaptationStatus, ControlRefusal>

    public init(status: @escaping @Sendable () -> DaemonStatus,
                recentEvents: @escaping @Sendable (_ limit: Int) -> [MonitorEvent],
                label: @escaping @Sendable (EpisodeReference, EpisodeLabel) -> Result<MonitorEvent, ControlRefusal>
                    = { _, _ in .failure(ControlRefusal("labels are not supported here")) },
                reload: @escaping @Sendable () -> Result<([(String, String)], [String]), ControlRefusal>
                    = { .failure(ControlRefusal("reload is not supported here")) },
                adapt: @escaping @Sendable () -> Result<AdaptationStatus, ControlRefusal>
                    = { .failure(ControlRefusal("adapt is not supported here")) }) {
        self.status = status
        self.recentEvents = recentEvents
        self.label = label
        self.reload = reload
        self.adapt = adapt
    }
}

/// Why a request was refused (the `error` of `{"ok":false,...}`).
public struct ControlRefusal: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The control socket (interfaces.md): a Unix stream socket, newline-delimited JSON.
///
/// One thread runs poll(2) over a wake-up pipe, the listener and every client (all
/// non-blocking). Events come from the processing thread through `publish`, which only
/// appends to a locked queue and writes one byte to the pipe: it never waits for a client.
/// Each client has a bounded output queue; a subscriber whose queue overflows gets a final
/// error line and is dropped, so a client that never reads blocks nothing. The final line
/// always fits: on a drop the socket's send buffer is enlarged (SO_SNDBUF) before it is
/// queued, since a client that stopped reading has filled the old one. Every drop is
/// logged on stderr (the journal), at most one line a second.
///
/// A connection that is not subscribed must complete a request within
/// `requestTimeoutSeconds` of connecting or of starting a line, and is closed after
/// `idleTimeoutSeconds` without one, so idle or trickling connections cannot fill the
/// table. When the table is full, one more connection is taken into a reserved slot that
/// answers one `status` or `events` request and closes (a newer connection takes the slot
/// over): a parent's `monitorctl status` gets an answer even then.
public final class ControlServer: @unchecked Sendable {
    // @unchecked: `clients` and `listener` belong to the server thread; the shared parts
    // (`inbox`, `stats`) are behind locks; `wakeup` is a pipe.
    public struct Options: Sendable {
        public var path: String
        /// Group that may use the socket (mode 0660); nil keeps the daemon's group.
        public var group: String?
        public var mode: mode_t = 0o660
        /// Connections served at once; one more gets a `too many clients` error line and is
        /// closed. Bounded (each costs a descriptor and a queue), with room for issue 6's
        /// 200 concurrent clients under the default 1024-descriptor limit.
        public var maxClients = 256
        /// Bytes queued for one client beyond what the kernel took.
        public var clientQueueBytes = 256 * 1024
        /// Events waiting for the server thread (a backstop; the thread drains it at once).
        public var inboxLimit = 10_000
        /// How long a dropped client is given to take its final error line.
        public var dropGraceSeconds = 1.0
        /// A non-subscriber's first request, and any request line once begun, must be
        /// complete within this (the lock-out of clients sending a byte a second).
        public var requestTimeoutSeconds = 5.0
        /// A non-subscriber that has asked something is closed after this long without a
        /// new request.
        public var idleTimeoutSeconds = 300.0
        /// Where drops are logged (the daemon's stderr, i.e. the journal; tests listen).
        public var dropLog: @Sendable (String) -> Void = { report($0) }
        /// SO_SNDBUF for client sockets (nil: the kernel's default); tests make it small.
        public var sendBufferBytes: Int?

        public init(path: String, group: String? = nil) {
            self.path = path
            self.group = group
        }
    }

    public struct Stats: Sendable, Equatable {
        public var clients = 0
        public var subscribers = 0
        public var droppedSubscribers = 0
        public var droppedEvents = 0
    }

    public let options: Options
    private let handlers: ControlHandlers
    private let wakeup: Wakeup
    private let inbox = Locked<[[UInt8]]>([])
    private let statsBox = Locked(Stats())
    private let stopFlag = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private var listener: Int32 = -1
    private var clients: [Client] = []
    private var started = false
    /// Drop log rate limit (server thread only).
    private var lastDropLog = -1e9
    private var unloggedDrops = 0

    private final class Client {
        let fd: Int32
        var input: [UInt8] = []
        var discardingLongLine = false
        var output: [[UInt8]] = []   // lines; the first may be partly sent
        var sentOfFirst = 0
        var queuedBytes = 0
        var subscribed = false
        var closeDeadline: Double?   // set when dropped: flush the last line, then close
        var closed = false
        /// In the reserved slot (the table was full): one status/events answer, then closed.
        var reserved = false
        let acceptedAt: Double
        var completedAny = false
        var lastRequestAt: Double
        var lineStartedAt: Double?   // first byte of an unfinished request line

        init(fd: Int32, now: Double) {
            self.fd = fd
            acceptedAt = now
            lastRequestAt = now
        }

        /// When this connection is closed for want of a (complete) request; nil: never.
        func requestDeadline(_ options: Options) -> Double? {
            if subscribed || closeDeadline != nil || closed { return nil }
            if !completedAny { return acceptedAt + options.requestTimeoutSeconds }
            if let started = lineStartedAt { return started + options.requestTimeoutSeconds }
            return lastRequestAt + options.idleTimeoutSeconds
        }
    }

    public init(options: Options, handlers: ControlHandlers) throws(DaemonError) {
        self.options = options
        self.handlers = handlers
        self.wakeup = try Wakeup()
    }

    public var stats: Stats { statsBox.withLock { $0 } }

    /// Binds the socket and starts the server thread. A stale socket file (nobody listening)
    /// is replaced; a live one means another daemon runs: refuse.
    public func start() throws(DaemonError) {
        let path = options.path
        try removeStaleSocket(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        setNonBlockingCloseOnExec(fd)
        let rc: Int32
        do {
            rc = try UnixSocketAddress.with(path: path) { bind(fd, $0, $1) }
        } catch {
            closeDescriptor(fd)
            throw .socketPath(path, error.description)
        }
        if rc != 0 {
            let code = errno
            closeDescriptor(fd)
            throw .socketPath(path, "bind: \(errnoText(code))")
        }
        do {
            try applyPermissions(path)
        } catch {
            closeDescriptor(fd)
            unlink(path)
            throw error
        }
        guard listen(fd, 64) == 0 else {
            let code = errno
            closeDescriptor(fd)
            unlink(path)
            throw .socketPath(path, "listen: \(errnoText(code))")
        }
        listener = fd
        started = true
        DaemonThread.start(name: "control-server") { [self] in
            self.run()
            self.finished.signal()
        }
    }

    /// Stops the thread, closes every connection and removes the socket file.
    public func stop() {
        guard started else { return }
        stopFlag.withLock { $0 = true }
        wakeup.signal()
        finished.wait()
        started = false
    }

    /// Hands an event to every subscriber. Never blocks on clients (processing thread).
    public func publish(_ event: MonitorEvent) {
        let bytes = Array(event.line.utf8)
        let accepted = inbox.withLock { q -> Bool in
            guard q.count < options.inboxLimit else { return false }
            q.append(bytes)
            return true
        }
        if accepted {
            wakeup.signal()
        } else {
            statsBox.withLock { $0.droppedEvents += 1 }
        }
    }

    // MARK: socket file

    private func removeStaleSocket(_ path: String) throws(DaemonError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw .socketPath(path, "exists and is not a socket; refusing to remove it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { throw .system("socket", errno) }
        defer { closeDescriptor(probe) }
        let rc: Int32
        do { rc = try UnixSocketAddress.with(path: path) { connect(probe, $0, $1) } }
        catch { throw .socketPath(path, error.description) }
        if rc == 0 { throw .socketInUse(path) }
        let code = errno
        guard code == ECONNREFUSED else {
            throw .socketPath(path, "exists and cannot be probed: connect: \(errnoText(code))")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .socketPath(path, "cannot remove the stale socket: \(errnoText(errno))")
        }
    }

    private func applyPermissions(_ path: String) throws(DaemonError) {
        guard chmod(path, options.mode) == 0 else { throw .socketPath(path, "chmod: \(errnoText(errno))") }
        guard let group = options.group, !group.isEmpty else { return }
        guard let gr = getgrnam(group) else {
            throw .socketPath(path, "group \"\(group)\" (control.group) does not exist")
        }
        guard chown(path, uid_t.max, gr.pointee.gr_gid) == 0 else {
            throw .socketPath(path, "chown to group \(group): \(errnoText(errno))")
        }
    }

    // MARK: the server thread

    private func run() {
        var fds: [pollfd] = []
        while !stopFlag.withLock({ $0 }) {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeup.fd, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            var nextDeadline: Double?
            for c in clients {
                var ev = Int16(POLLIN)
                if !c.output.isEmpty { ev |= Int16(POLLOUT) }
                fds.append(pollfd(fd: c.fd, events: ev, revents: 0))
                if let d = c.closeDeadline { nextDeadline = min(nextDeadline ?? d, d) }
                if let d = c.requestDeadline(options) { nextDeadline = min(nextDeadline ?? d, d) }
            }
            var timeout: Int32 = -1
            if let d = nextDeadline { timeout = Int32(max(0, min(60_000, (d - monotonicSeconds()) * 1000 + 1))) }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR { break }

            if fds[0].revents != 0 {
                wakeup.drain()
                deliverInbox()
            }
            if fds[1].revents & Int16(POLLIN) != 0 { acceptClients() }
            let now = monotonicSeconds()
            for (i, c) in clients.enumerated() where i + 2 < fds.count && !c.closed {
                let re = fds[i + 2].revents
                if re & Int16(POLLIN) != 0 { readRequests(c) }
                else if re & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { c.closed = true }
                if !c.closed && !c.output.isEmpty { flush(c) }
                if let d = c.closeDeadline, c.output.isEmpty || now >= d { c.closed = true }
                if !c.closed, let d = c.requestDeadline(options), now >= d {
                    let timeout = c.completedAny && c.lineStartedAt == nil
                        ? "idle for \(Self.seconds(options.idleTimeoutSeconds)) s" : "no complete request within \(Self.seconds(options.requestTimeoutSeconds)) s"
                    drop(c, because: "\(timeout); closing the connection")
                }
            }
            // Clients refused on accept (not polled yet) whose refusal went out at once.
            for c in clients where !c.closed && c.closeDeadline != nil && c.output.isEmpty { c.closed = true }
            reap()
        }
        // Last events published before stop (the `stopping` event): best effort, no waiting.
        deliverInbox()
        for c in clients where !c.closed && !c.output.isEmpty { flush(c) }
        for c in clients { closeDescriptor(c.fd) }
        clients.removeAll()
        closeDescriptor(listener)
        listener = -1
        unlink(options.path)
        updateStats()
    }

    private func deliverInbox() {
        let lines = inbox.withLock { q -> [[UInt8]] in
            let taken = q
            q.removeAll(keepingCapacity: true)
            return taken
        }
        guard !lines.isEmpty else { return }
        for c in clients where c.subscribed && c.closeDeadline == nil && !c.closed {
            for line in lines {
                guard enqueue(line, to: c) else { break }
            }
            flush(c)
        }
    }

    private func acceptClients() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { updateStats(); return }   // EAGAIN: no more for now
            setNonBlockingCloseOnExec(fd)
            if let size = options.sendBufferBytes {
                var v = Int32(size)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, socklen_t(MemoryLayout<Int32>.size))
            }
            let c = Client(fd: fd, now: monotonicSeconds())
            clients.append(c)
            let active = clients.filter { !$0.closed && $0.closeDeadline == nil }
            if active.count > options.maxClients {
                // The reserved slot: the newest connection gets it, whoever held it goes.
                for other in active where other.reserved {
                    drop(other, because: "too many clients (\(options.maxClients)); the reserved slot went to a newer connection")
                }
                c.reserved = true
            }
        }
    }

    private func readRequests(_ c: Client) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        // At most 16 reads per round, so one chatty client cannot starve the others.
        var rounds = 0
        while !c.closed && rounds < 16 {
            rounds += 1
            let n = chunk.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { c.closed = true; return }
            if n < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { c.closed = true }
                return
            }
            if c.closeDeadline != nil { continue }   // dropped: ignore what it says
            for byte in chunk[..<n] {
                if c.closeDeadline != nil { break }   // dropped while handling this chunk
                if byte == UInt8(ascii: "\n") {
                    c.lineStartedAt = nil
                    c.completedAny = true
                    c.lastRequestAt = monotonicSeconds()
                    if c.discardingLongLine {
                        c.discardingLongLine = false
                    } else {
                        handleLine(c.input, from: c)
                    }
                    c.input.removeAll(keepingCapacity: true)
                } else if !c.discardingLongLine {
                    if c.input.isEmpty && c.lineStartedAt == nil { c.lineStartedAt = monotonicSeconds() }
                    c.input.append(byte)
                    if c.input.count > maxRequestLineBytes {
                        c.input.removeAll(keepingCapacity: true)
                        c.discardingLongLine = true
                        reply(ControlResponse.error("request line longer than \(maxRequestLineBytes) bytes"), to: c)
                    }
                }
            }
        }
    }

    private func handleLine(_ bytes: [UInt8], from c: Client) {
        var line = bytes
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        guard let text = String(validating: line, as: UTF8.self) else {
            reply(ControlResponse.error("malformed request: not UTF-8"), to: c)
            return
        }
        let request: ControlRequest
        do {
            request = try ControlRequest.parse(line: text)
        } catch {
            reply(ControlResponse.error(error.description), to: c)
            return
        }
        if c.reserved {
            // The reserved slot answers one quick request, then makes room again.
            switch request {
            case .subscribe:
                drop(c, because: "too many clients (\(options.maxClients)); one-shot requests (status, events...) only until some leave")
                return
            default: break   // one-shot requests are answered below, then the slot closes
            }
        }
        switch request {
        case .status:
            var s = handlers.status()
            let st = stats
            s.subscribers = st.subscribers
            reply(ControlResponse.status(s), to: c)
        case .subscribe:
            reply(ControlResponse.subscribed, to: c)
            if !c.subscribed {
                c.subscribed = true
                updateStats()
            }
        case .events(let limit):
            reply(ControlResponse.events(handlers.recentEvents(limit ?? defaultRecentEventCount)), to: c)
        case .label(let episode, let label):
            switch handlers.label(episode, label) {
            case .success(let event): reply(ControlResponse.labelled(event), to: c)
            case .failure(let refusal): reply(ControlResponse.error(refusal.description), to: c)
            }
        case .reload:
            switch handlers.reload() {
            case .success(let (models, adapted)): reply(ControlResponse.reloaded(models: models, adapted: adapted), to: c)
            case .failure(let refusal): reply(ControlResponse.error(refusal.description), to: c)
            }
        case .adapt:
            switch handlers.adapt() {
            case .success(let a): reply(ControlResponse.adaptation(a), to: c)
            case .failure(let refusal): reply(ControlResponse.error(refusal.description), to: c)
            }
        }
        if c.reserved { drop(c, because: nil, finalLine: false) }
    }

    private func reply(_ line: String, to c: Client) {
        if enqueue(Array(line.utf8), to: c) { flush(c) }
    }

    /// Queues a line; when the client's queue would overflow, drops the client instead
    /// (returns false).
    private func enqueue(_ line: [UInt8], to c: Client) -> Bool {
        if c.queuedBytes + line.count > options.clientQueueBytes && !c.output.isEmpty {
            drop(c)
            return false
        }
        c.output.append(line)
        c.queuedBytes += line.count
        return true
    }

    /// Drops a client (by default: its queue overflowed): keeps a partly sent line (no
    /// broken line), discards the rest, queues the final error line saying why and gives it
    /// a short grace to take it.
    /// `finalLine: false` closes after what is queued (the reserved slot's answer), quietly.
    private func drop(_ c: Client, because reason: String? = nil, finalLine: Bool = true) {
        guard c.closeDeadline == nil else { return }
        c.closeDeadline = monotonicSeconds() + options.dropGraceSeconds
        guard finalLine else { flush(c); return }
        let keepFirst = c.sentOfFirst > 0 && !c.output.isEmpty
        c.output = keepFirst ? [c.output[0]] : []
        if !keepFirst { c.sentOfFirst = 0 }
        let why = reason ?? "too slow: output queue overflowed (\(options.clientQueueBytes) bytes); dropped"
        let error = Array(ControlResponse.error(why).utf8)
        c.output.append(error)
        c.queuedBytes = c.output.reduce(0) { $0 + $1.count } - c.sentOfFirst
        // A client that stopped reading has filled its send buffer: without more room the
        // promised final line could never be sent. The kernel doubles the value and caps
        // it at net.core.wmem_max (twice the default buffer), room enough for two lines.
        var room = Int32.max / 4
        setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &room, socklen_t(MemoryLayout<Int32>.size))
        let wasSubscriber = c.subscribed
        c.subscribed = false
        statsBox.withLock { if wasSubscriber { $0.droppedSubscribers += 1 } }
        updateStats()
        flush(c)
        logDrop((wasSubscriber ? "subscriber" : "client") + " dropped: " + why)
    }

    /// One stderr line per drop, at most one a second (the rest counted in the next).
    private func logDrop(_ what: String) {
        let now = monotonicSeconds()
        guard now - lastDropLog >= 1 else { unloggedDrops += 1; return }
        let more = unloggedDrops > 0 ? " (and \(unloggedDrops) more drop(s) in the last second)" : ""
        options.dropLog("babymonitord: control socket: \(what)\(more)")
        lastDropLog = now
        unloggedDrops = 0
    }

    private static func seconds(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(x)
    }

    private func flush(_ c: Client) {
        while let first = c.output.first, !c.closed {
            let remaining = first.count - c.sentOfFirst
            let n = first.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.sentOfFirst, remaining, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { c.closed = true }
                return
            }
            c.queuedBytes -= n
            if n == remaining {
                c.output.removeFirst()
                c.sentOfFirst = 0
            } else {
                c.sentOfFirst += n
                return
            }
        }
    }

    private func reap() {
        guard clients.contains(where: { $0.closed }) else { return }
        for c in clients where c.closed { closeDescriptor(c.fd) }
        clients.removeAll { $0.closed }
        updateStats()
    }

    private func updateStats() {
        let open = clients.filter { !$0.closed }
        let subs = open.filter { $0.subscribed }.count
        statsBox.withLock {
            $0.clients = open.count
            $0.subscribers = subs
        }
    }
}
