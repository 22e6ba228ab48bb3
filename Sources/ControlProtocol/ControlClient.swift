#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// send(2) that makes a closed peer EPIPE instead of SIGPIPE, out of reach of methods named `send`.
func sendWithoutSignal(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return send(fd, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    return send(fd, bytes, count, 0)
    #endif
}

/// close(2), out of reach of methods named `close`.
public func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// errno as text: `No such file or directory (errno 2)`.
public func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

public enum UnixSocketAddress {
    /// Calls `body` with a `sockaddr_un` for `path`; throws when the path does not fit.
    public static func with<R>(path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(ControlClientError) -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw .badPath(path, "socket path must be 1 to \(capacity - 1) bytes, got \(bytes.count)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, len) }
        }
    }
}

public enum ControlClientError: Error, CustomStringConvertible, Equatable {
    /// No daemon answers at the path (connect failed with this errno).
    case unreachable(path: String, errno: Int32)
    case badPath(String, String)
    /// The connection failed after it was made.
    case io(String)
    /// The daemon answered `{"ok":false,"error":...}`.
    case refused(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .unreachable(let path, let code):
            if code == EACCES || code == EPERM {
                return "permission denied: are you in the socket's group? (\(path): \(errnoDescription(code)))"
            }
            if code == EAGAIN {
                return "the daemon at \(path) does not accept connections (its queue stayed full: stopped or overloaded?)"
            }
            return "no daemon at \(path) (\(errnoDescription(code)))"
        case .badPath(let path, let problem): return "bad socket path \(path): \(problem)"
        case .io(let s): return s
        case .refused(let s): return "daemon refused the request: \(s)"
        case .protocolError(let s): return "unreadable answer from the daemon: \(s)"
        }
    }
}

/// A blocking client of the control socket (for monitorctl and tests).
public final class ControlClient: @unchecked Sendable {
    // @unchecked: a client may be handed to another thread, but is used by one at a time.
    public let socketPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var scanned = 0
    private var timeoutSeconds: Int
    /// Longest reply line accepted: a server streaming bytes without a newline is cut off
    /// here instead of growing the client's memory without bound. An `events` answer with
    /// the configurable maximum of 100000 recent events fits.
    public var maxLineBytes = 64 << 20

    /// Connects to the daemon's socket. `receiveTimeoutSeconds` bounds the connect (a full
    /// backlog of a stopped daemon), each write and each read (0: none).
    public init(socketPath: String, receiveTimeoutSeconds: Int = 0) throws(ControlClientError) {
        self.socketPath = socketPath
        timeoutSeconds = receiveTimeoutSeconds
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw .io("socket(): \(errnoDescription(errno))") }
        if receiveTimeoutSeconds > 0 {
            // For a Unix socket, SO_SNDTIMEO also bounds connect(2) waiting on a full backlog.
            var tv = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        let rc = try UnixSocketAddress.with(path: socketPath) { connect(fd, $0, $1) }
        if rc != 0 {
            let code = errno
            closeDescriptor(fd)
            throw .unreachable(path: socketPath, errno: code)
        }
        self.fd = fd
        setReceiveTimeout(seconds: receiveTimeoutSeconds)
    }

    /// Bounds each read from now on (0: wait forever, as `events --follow` does once subscribed).
    public func setReceiveTimeout(seconds: Int) {
        timeoutSeconds = seconds
        var tv = timeval(tv_sec: max(0, seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { if fd >= 0 { closeDescriptor(fd) } }

    public func close() {
        if fd >= 0 { closeDescriptor(fd); fd = -1 }
    }

    /// Sends raw bytes (tests use it to send garbage); the whole string is written.
    public func send(raw: String) throws(ControlClientError) {
        var bytes = Array(raw.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { sendWithoutSignal(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw timedOut() }
                if errno == EPIPE || errno == ECONNRESET {
                    throw .io("the daemon at \(socketPath) closed the connection before the request was sent\(pendingRefusal())")
                }
                throw .io("write to \(socketPath): \(errnoDescription(errno))")
            }
            off += n
        }
    }

    public func send(_ request: ControlRequest) throws(ControlClientError) {
        try send(raw: request.line)
    }

    /// The next line from the daemon without its newline; nil at end of stream.
    public func readLine() throws(ControlClientError) -> String? {
        while true {
            if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                scanned = 0
                return line
            }
            scanned = buffer.count
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw timedOut() }
                throw .io("read from \(socketPath): \(errnoDescription(errno))")
            }
            if n == 0 {
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll()
                scanned = 0
                return line
            }
            buffer.append(contentsOf: chunk[..<n])
            if buffer.count > maxLineBytes {
                buffer.removeAll()
                scanned = 0
                throw .protocolError("a reply line longer than \(maxLineBytes) bytes from \(socketPath); not a babymonitord socket?")
            }
        }
    }

    private func timedOut() -> ControlClientError {
        .io("no answer from the daemon at \(socketPath) within \(timeoutSeconds) s (stopped, hung, or not a babymonitord socket?)")
    }

    /// The daemon's error line, when it sent one before closing (at its client limit).
    private func pendingRefusal() -> String {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n > 0, let line = String(validating: chunk[..<n], as: UTF8.self)?.split(separator: "\n").first,
              let value = try? JSONValue.parse(String(line)), let error = value["error"]?.stringValue else { return "" }
        return ": \(error)"
    }

    /// The next line parsed as JSON; throws `.refused` for `{"ok":false,...}`.
    public func readMessage() throws(ControlClientError) -> JSONValue {
        guard let line = try readLine() else { throw .io("the daemon at \(socketPath) closed the connection") }
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch { throw .protocolError("\(error)") }
        if value["ok"]?.boolValue == false {
            throw .refused(value["error"]?.stringValue ?? line)
        }
        return value
    }

    /// Sends a request and returns its (successful) answer.
    public func request(_ request: ControlRequest) throws(ControlClientError) -> JSONValue {
        try send(request)
        return try readMessage()
    }

    public func status() throws(ControlClientError) -> DaemonStatus {
        let answer = try request(.status)
        guard let s = answer["status"] else { throw .protocolError("status answer has no \"status\"") }
        do { return try DaemonStatus(json: s) } catch { throw .protocolError(error.description) }
    }

    public func recentEvents(limit: Int? = nil) throws(ControlClientError) -> [MonitorEvent] {
        let answer = try request(.events(limit: limit))
        guard let list = answer["events"]?.arrayValue else { throw .protocolError("events answer has no \"events\" array") }
        do {
            return try list.map { (v: JSONValue) throws(ControlProtocolError) -> MonitorEvent in try MonitorEvent(json: v) }
        } catch { throw .protocolError(error.description) }
    }
}
