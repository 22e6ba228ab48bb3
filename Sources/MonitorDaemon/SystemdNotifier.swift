#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET per message (as chrony
/// does). A leading '@' means an abstract socket name (first byte NUL). Without
/// NOTIFY_SOCKET (not started by systemd) every call does nothing.
public final class SystemdNotifier: @unchecked Sendable {
    // @unchecked: immutable after init; sendto(2) on a datagram socket is thread-safe.
    private let fd: Int32
    private var address = sockaddr_un()
    private let addressLength: socklen_t
    /// WATCHDOG_USEC / 2 in seconds, when the service has a watchdog (for this process).
    public let watchdogInterval: Double?

    public init(environment: [String: String] = SystemdNotifier.processEnvironment()) {
        var interval: Double?
        if let usec = environment["WATCHDOG_USEC"].flatMap(Double.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            interval = usec / 2e6
        }
        watchdogInterval = interval
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty,
              path.hasPrefix("/") || path.hasPrefix("@"),
              path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            fd = -1
            addressLength = 0
            return
        }
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // Abstract names are not NUL-terminated: the length says where they end.
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        if fd >= 0 { setNonBlockingCloseOnExec(fd) }
    }

    deinit { if fd >= 0 { _ = close(fd) } }

    public var isActive: Bool { fd >= 0 }

    /// Sends `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` (newline-separated if several).
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard fd >= 0 else { return false }
        var addr = address
        let sent = message.utf8CString.withUnsafeBufferPointer { msg in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, msg.baseAddress, msg.count - 1, Int32(MSG_NOSIGNAL), $0, addressLength)
                }
            }
        }
        return sent >= 0
    }

    public static func processEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return env
    }
}
