#if canImport(Glibc)
import Glibc
#endif
import Testing
import Foundation
import AudioIO
import ThreadSupport
import ControlProtocol
import MQTTLink
@testable import MonitorDaemon

/// A real `mosquitto` broker on a free loopback port, with a generated configuration; each
/// test starts its own and stops it. `restart()` brings it back on the same port (and with
/// `persistence`, the same sessions and queued messages).
final class TestBroker {
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto")
    let dir: String
    let port: Int
    let persistence: Bool
    /// Extra lines for the listener (TLS files, password file...).
    let listenerLines: String
    private(set) var process: Process?

    init(dir: String, persistence: Bool = false, listenerLines: String = "allow_anonymous true") throws {
        self.dir = dir
        self.port = TestBroker.freePort()
        self.persistence = persistence
        self.listenerLines = listenerLines
        try start()
    }

    deinit { stop() }

    /// A port nobody listens on now (bound to port 0, then released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    func start() throws {
        let conf = dir + "/mosquitto-\(port).conf"
        var text = """
            per_listener_settings true
            # Started as root (CI), mosquitto would switch to user mosquitto, which cannot
            # read the test's private directory (its password, key and persistence files).
            user root
            log_dest file \(dir)/mosquitto-\(port).log
            log_type error
            log_type warning
            log_type notice
            log_type information
            listener \(port) 127.0.0.1
            \(listenerLines)

            """
        if persistence {
            text += "persistence true\npersistence_location \(dir)/\npersistence_file broker-\(port).db\n"
        }
        _ = FileManager.default.createFile(atPath: conf, contents: Data(text.utf8))
        // The test runner spawns children with SIGTERM blocked; the broker must see it (it
        // saves its persistence file then), so unblock it before exec'ing mosquitto.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
                       "/usr/sbin/mosquitto", "-c", conf]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try #require(waitUntil { TestBroker.accepts(port: self.port) }, "mosquitto did not listen on \(port): \(log)")
    }

    /// SIGTERM (the broker saves its persistence file) and wait.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        // Bounded: never hang a test run on a broker that ignores SIGTERM.
        if !waitUntil(seconds: 10, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    var log: String { readFile(dir + "/mosquitto-\(port).log") ?? "" }
}

/// An MQTT subscriber for tests (libmosquitto through MQTTLink): records every message with
/// its arrival time. With `cleanSession: false` and a fixed id, the broker keeps its
/// subscription and queues messages for it while it is away or the broker restarts.
final class TestSubscriber: @unchecked Sendable {
    struct Message: Sendable {
        let topic: String
        let payload: String
        let retained: Bool
        /// Wall-clock seconds at arrival.
        let arrival: Double
    }
    private let messagesBox = Locked<[Message]>([])
    private let subscribedBox = Locked(false)
    let client: MosquittoClient

    init(port: Int, topics: [String], clientID: String = "test-sub-\(UInt32.random(in: 0...UInt32.max))",
         cleanSession: Bool = true, caFile: String? = nil, host: String = "127.0.0.1") throws {
        let box = messagesBox
        let sub = subscribedBox
        let clientHolder = Locked<MosquittoClient?>(nil)
        var c = MQTTCallbacks()
        c.connected = { code in
            guard code == 0 else { return }
            _ = clientHolder.withLock { $0 }?.subscribe(topics, qos: 1)
        }
        c.subscribed = { _ in sub.withLock { $0 = true } }
        c.message = { topic, payload, retained in
            let now = Date().timeIntervalSince1970
            box.withLock { $0.append(Message(topic: topic, payload: String(decoding: payload, as: UTF8.self),
                                             retained: retained, arrival: now)) }
        }
        client = try MosquittoClient(clientID: clientID, cleanSession: cleanSession, callbacks: c)
        clientHolder.withLock { $0 = client }
        try client.configure(BrokerEndpoint(host: host, port: port, tlsCAFile: caFile, keepaliveSeconds: 30))
        client.setReconnectDelay(minimum: 1, maximum: 1)
        client.connectAsync(host: host, port: port, keepaliveSeconds: 30)
        try client.startLoop()
        try #require(waitUntil { sub.withLock { $0 } }, "test subscriber did not subscribe to \(topics)")
    }

    var messages: [Message] { messagesBox.withLock { $0 } }

    func payloads(_ topic: String) -> [String] { messages.filter { $0.topic == topic }.map(\.payload) }

    /// A clean disconnect (a persistent session stays on the broker).
    func stop() {
        client.disconnect()
        client.stopLoop(force: false)
    }

    /// Every retained message under `pattern` now: after the SUBACK the broker sends them
    /// all before our own marker message, so the marker's arrival means "complete".
    static func retained(port: Int, _ pattern: String, caFile: String? = nil) throws -> [String: String] {
        let marker = "test-marker/\(UInt32.random(in: 0...UInt32.max))"
        let sub = try TestSubscriber(port: port, topics: [pattern, marker], caFile: caFile)
        defer { sub.stop() }
        _ = sub.client.publish(topic: marker, payload: Array("x".utf8), qos: 1, retain: false)
        try #require(waitUntil { sub.messages.contains { $0.topic == marker } }, "marker did not come back")
        var result: [String: String] = [:]
        for m in sub.messages where m.retained && m.topic != marker { result[m.topic] = m.payload }
        return result
    }
}

enum MQTTTest {
    /// A daemon configuration with `[mqtt]` for a broker on `port`, energy-only detection
    /// and a random-weight cause model (so that `need` events happen).
    static func config(_ dir: String, port: Int, room: String = "nursery", mqtt extra: String = "") throws -> String {
        let model = dir + "/cause.safetensors"
        if !FileManager.default.fileExists(atPath: model) { try Integration.writeCauseModel(model) }
        return Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 1
            restart_every_s = 5
            [mqtt]
            enabled = true
            host = "127.0.0.1"
            port = \(port)
            room = "\(room)"
            reconnect_min_s = 1
            reconnect_max_s = 2
            \(extra)
            """)
    }

    /// Quiet noise with cry-like sounds at (start, seconds), as a WAV at 8 kHz.
    static func writeCries(_ path: String, cries: [(Double, Double)], total: Double) throws {
        try WAVWriter.write(AudioBuffer(samples: Integration.clip(cries: cries, total: total), sampleRate: Integration.rate), to: path)
    }

    /// The event log's lines, as written.
    static func logLines(_ path: String) -> [String] {
        (readFile(path) ?? "").split(separator: "\n").map(String.init)
    }

    static func type(_ line: String) -> String {
        (try? JSONValue.parse(line))?["type"]?.stringValue ?? "?"
    }

    static func status(_ socket: String) -> DaemonStatus? {
        try? ControlClient(socketPath: socket, receiveTimeoutSeconds: 10).status()
    }

    /// `list` without repeats of the same message back to back (QoS 1 is at least once: a
    /// message in flight when the broker went away may arrive twice).
    static func withoutRedeliveries(_ list: [String]) -> [String] {
        var out: [String] = []
        for x in list where out.last != x { out.append(x) }
        return out
    }
}
