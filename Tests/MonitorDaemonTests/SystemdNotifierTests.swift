import Testing
import Foundation
@testable import MonitorDaemon

@Suite struct SystemdNotifierTests {
    /// A datagram socket standing in for systemd's notify socket.
    func receiver(abstractName: String?, path: String?) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes: [UInt8] = abstractName.map { [0] + Array($0.utf8) } ?? Array(path!.utf8) + [0]
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        try #require(rc == 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        bytes.removeAll()
        return fd
    }

    func receive(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : ""
    }

    @Test func abstractSocket() throws {
        let name = "bm-notify-test-\(getpid())"
        let fd = try receiver(abstractName: name, path: nil); defer { close(fd) }
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "30000000"])
        #expect(n.isActive && n.watchdogInterval == 15)
        #expect(n.notify("READY=1\nSTATUS=listening"))
        #expect(receive(fd) == "READY=1\nSTATUS=listening")
    }

    @Test func pathSocket() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let fd = try receiver(abstractName: nil, path: dir + "/notify"); defer { close(fd) }
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": dir + "/notify", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"])
        #expect(n.watchdogInterval == nil)   // the watchdog is meant for another process
        #expect(n.notify("WATCHDOG=1"))
        #expect(receive(fd) == "WATCHDOG=1")
    }

    @Test func withoutSystemdNothingHappens() {
        let n = SystemdNotifier(environment: [:])
        #expect(!n.isActive && !n.notify("READY=1"))
    }
}
