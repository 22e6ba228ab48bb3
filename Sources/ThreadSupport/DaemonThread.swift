#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A detached, named POSIX thread running `body`: what the daemon used Foundation's `Thread`
/// for, without Foundation (FoundationEssentials has no `Thread`; babymonitord and monitorctl
/// link no ICU). Shared by MonitorDaemon and MQTTLink.
public enum DaemonThread {
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body, name: name)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        #if canImport(Darwin)
        var thread: pthread_t? = nil
        #else
        var thread = pthread_t()
        #endif
        let code = pthread_create(&thread, &attributes, daemonThreadEntry, box)
        // Out of threads at startup is not recoverable for a daemon that needs three.
        precondition(code == 0, "pthread_create for the \(name) thread failed: \(String(cString: strerror(code)))")
    }
}

private final class ThreadBody: @unchecked Sendable {
    // @unchecked: immutable; handed from the creating thread to the new one once.
    let run: @Sendable () -> Void
    let name: String
    init(_ run: @escaping @Sendable () -> Void, name: String) { self.run = run; self.name = name }
}

#if canImport(Darwin)
private func daemonThreadEntry(_ raw: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
    let body = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
    pthread_setname_np(body.name)
    body.run()
    return nil
}
#else
private func daemonThreadEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
    setCurrentThreadName(body.name)
    body.run()
    return nil
}

/// The name `top -H` and `ps -L` show. pthread_setname_np is a GNU extension that Glibc does
/// not export to Swift; proc(5) lets a thread write its own comm (15 bytes are kept).
private func setCurrentThreadName(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
#endif
