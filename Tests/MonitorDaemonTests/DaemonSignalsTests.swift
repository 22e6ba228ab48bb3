import Testing
import Foundation
import AudioIO
import ControlProtocol
@testable import MonitorDaemon

/// The real daemon process: sd_notify, SIGHUP reopen, an unwritable event log.
@Suite(.serialized) struct DaemonSignalsTests {
    func startReplay(_ dir: String, extra: [String] = [], environment: [String: String] = [:]) throws -> DaemonProcessTests.Run {
        let wav = dir + "/tone.wav"
        try DaemonProcessTests.writeTone(wav, seconds: 30, rate: 8000)
        let arguments: [String] = ["--config", DaemonProcessTests.writeConfig(dir), "--input", "wav:" + wav,
                                   "--socket", dir + "/control.sock"]
        return try DaemonProcessTests.start(arguments + extra, in: dir, environment: environment)
    }

    func connected(_ dir: String) -> Bool {
        waitUntil { (try? ControlClient(socketPath: dir + "/control.sock")) != nil }
    }

    @Test func notifiesReadyWatchdogAndStopping() throws {
        let dir = makeTempDirectory("bmsig"); defer { removeTree(dir) }
        let notifyPath = dir + "/notify"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        let rc = try UnixSocketAddress.with(path: notifyPath) { bind(fd, $0, $1) }
        try #require(rc == 0)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String? {
            var buf = [UInt8](repeating: 0, count: 1024)
            let n = recv(fd, &buf, buf.count, 0)
            return n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : nil
        }
        let run = try startReplay(dir, extra: ["--event-log", dir + "/events.jsonl"],
                                  environment: ["NOTIFY_SOCKET": notifyPath, "WATCHDOG_USEC": "2000000"])
        defer { run.stop() }
        let first = try #require(receive())
        #expect(first.hasPrefix("READY=1\nSTATUS="))
        var sawWatchdog = false
        for _ in 0..<20 {
            guard let m = receive() else { break }
            if m == "WATCHDOG=1" { sawWatchdog = true; break }
        }
        #expect(sawWatchdog)
        kill(run.process.processIdentifier, SIGTERM)
        var sawStopping = false
        while let m = receive() {
            if m.hasPrefix("STOPPING=1") { sawStopping = true; break }
        }
        #expect(sawStopping)
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0)
    }

    /// logrotate moves the log away and sends SIGHUP: later events go to a new file.
    @Test func sighupReopensTheEventLog() throws {
        let dir = makeTempDirectory("bmsig"); defer { removeTree(dir) }
        let log = dir + "/events.jsonl"
        let run = try startReplay(dir, extra: ["--event-log", log])
        defer { run.stop() }
        #expect(connected(dir))
        #expect(waitUntil { (readFile(log) ?? "").contains("\"started\"") })
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        kill(run.process.processIdentifier, SIGHUP)
        // The reopen creates the new file at once.
        #expect(waitUntil { FileManager.default.fileExists(atPath: log) })
        kill(run.process.processIdentifier, SIGTERM)
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.errorText)")
        let old = try DaemonProcessTests.events(log + ".1").map { $0["type"]?.stringValue ?? "" }
        let new = try DaemonProcessTests.events(log).map { $0["type"]?.stringValue ?? "" }
        #expect(old == ["started"])
        #expect(new == ["stopping"])
    }

    /// An event log that cannot be written (its directory does not exist; /dev/full is
    /// refused, not being a regular file, and ENOSPC itself is EventLogTests' business):
    /// the daemon keeps running, says it is degraded, keeps the events pending, and exits
    /// cleanly, with 74 since the events never reached the log.
    @Test func unwritableEventLogIsReportedNotFatal() throws {
        let dir = makeTempDirectory("bmsig"); defer { removeTree(dir) }
        let run = try startReplay(dir, extra: ["--event-log", dir + "/missing/events.jsonl"])
        defer { run.stop() }
        #expect(connected(dir))
        let client = try ControlClient(socketPath: dir + "/control.sock", receiveTimeoutSeconds: 10)
        // The socket answers before the first event is written: wait for that write to fail.
        #expect(waitUntil {
            guard let s = try? client.status() else { return false }
            return s.degraded?.contains("No such file or directory") == true && s.pendingEvents >= 2
        })
        let status = try client.status()
        #expect(status.degraded?.contains("No such file or directory") == true, "\(status.degraded ?? "nil")")
        #expect(status.pendingEvents >= 2)
        #expect(try client.recentEvents().contains { $0.type == "degraded" && $0["component"]?.stringValue == "event_log" })
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", dir + "/control.sock", "status"])
        #expect(code == 0 && text.contains("DEGRADED"))
        kill(run.process.processIdentifier, SIGTERM)
        run.process.waitUntilExit()
        #expect(run.process.terminationReason == .exit && run.process.terminationStatus == 74)
        #expect(run.errorText.contains("event(s) could not be written to the event log"), "\(run.errorText)")
    }

    /// Live capture through ALSA's `file` plugin (no sound card needed): the capture
    /// thread reads as fast as the plugin gives (it is not paced), so the ring overflows
    /// and the drops are counted and reported, never blocking capture.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/alsa/alsa.conf"),
                   "needs ALSA's configuration (/usr/share/alsa/alsa.conf, Debian libasound2-data)"))
    func alsaCaptureThroughTheFilePlugin() throws {
        let dir = makeTempDirectory("bmsig"); defer { removeTree(dir) }
        var raw = [Int16](repeating: 0, count: 8000 * 2)
        for i in raw.indices { raw[i] = Int16(8000 * sin(2 * Double.pi * 500 * Double(i) / 8000)) }
        let alsaPath = Integration.filePluginPCM("bmtestcap", samples: raw, in: dir)
        let arguments: [String] = ["--config", DaemonProcessTests.writeConfig(dir), "--input", "alsa:bmtestcap",
                                   "--event-log", dir + "/events.jsonl", "--socket", dir + "/control.sock"]
        let run = try DaemonProcessTests.start(arguments, in: dir, environment: ["ALSA_CONFIG_PATH": alsaPath])
        let p = run.process
        defer { run.stop() }
        #expect(connected(dir))
        let client = try ControlClient(socketPath: dir + "/control.sock", receiveTimeoutSeconds: 10)
        #expect(waitUntil { ((try? client.status().audioSeconds) ?? 0) > 2 }, "\(run.errorText)")
        let status = try client.status()
        #expect(status.state == "listening" && status.input == "alsa:bmtestcap")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let types = try DaemonProcessTests.events(dir + "/events.jsonl").map { $0["type"]?.stringValue ?? "" }
        #expect(types.first == "started" && types.last == "stopping")
        #expect(!types.contains("device_lost"))
    }
}
