#if canImport(Glibc)
import Glibc
#endif
// FoundationEssentials where the toolchain has it: babymonitord and monitorctl link no
// full Foundation (no ICU; issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MQTTLink

/// A password read from a file: it never appears in descriptions, dumps or logs.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}

extension DaemonConfig {
    /// `[mqtt]`: events and state to an MQTT broker, Home Assistant discovery
    /// (docs/interfaces.md, "MQTT").
    public struct MQTT: Sendable, Equatable {
        public var enabled = false
        public var host = ""
        /// nil: 1883, or 8883 with TLS.
        public var port: Int?
        /// This monitor's room: letters, digits, `_` and `-`; default from the host name.
        public var room = MQTT.defaultRoom()
        /// nil: `babymonitor/<room>`.
        public var topicPrefix: String?
        /// nil: `babymonitor-<room>`.
        public var clientID: String?
        public var username: String?
        public var passwordFile: String?
        /// Read from `password_file` when the configuration is loaded.
        public var password: Secret?
        /// TLS (with the broker's certificate and host name verified) when set.
        public var tlsCAFile: String?
        public var qos = 1
        public var keepaliveS = 60
        public var discovery = true
        public var discoveryPrefix = "homeassistant"
        /// Events kept while the broker is unreachable; beyond it the oldest are dropped.
        public var queueSize = 1000
        /// Reconnect backoff: the first retry after this many seconds, doubling up to the maximum.
        public var reconnectMinS = 1
        public var reconnectMaxS = 30

        public init() {}

        public var effectivePort: Int { port ?? (tlsCAFile == nil ? 1883 : 8883) }
        public var effectiveTopicPrefix: String { topicPrefix ?? "babymonitor/\(room)" }
        public var effectiveClientID: String { clientID ?? "babymonitor-\(room)" }

        /// The host name up to its first dot, with anything but letters, digits, `_` and `-`
        /// replaced by `_` ("nursery-pi.local" -> "nursery-pi").
        public static func defaultRoom() -> String {
            var buf = [UInt8](repeating: 0, count: 256)
            let ok = buf.withUnsafeMutableBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { gethostname($0, p.count - 1) } == 0
            }
            let name = ok ? String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self) : ""
            let first = name.split(separator: ".").first.map(String.init) ?? ""
            let cleaned = String(first.map { isRoomCharacter($0) ? $0 : "_" })
            return cleaned.isEmpty ? "room" : cleaned
        }

        static func isRoomCharacter(_ c: Character) -> Bool {
            c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-")
        }
    }
}

extension DaemonConfig.Reader {
    /// Reads `[mqtt]`; the password file is read here so that a missing or unreadable one
    /// stops the daemon at start with an error naming `mqtt.password_file`.
    func mqtt(_ t: TOMLSubsetDocument.Section) throws(ConfigError) -> DaemonConfig.MQTT {
        let s = "mqtt"
        if t["tls_insecure"] != nil {
            throw fail("mqtt.tls_insecure", "not supported: the broker's certificate and host name are always verified (give its CA in tls_ca_file)")
        }
        try keys(t, s, known: ["enabled", "host", "port", "room", "topic_prefix", "client_id", "username",
                               "password_file", "tls_ca_file", "qos", "keepalive_s", "discovery", "discovery_prefix",
                               "queue_size", "reconnect_min_s", "reconnect_max_s"])
        var m = DaemonConfig.MQTT()
        m.enabled = try bool(t, s, "enabled") ?? m.enabled
        m.host = try string(t, s, "host", nonEmpty: true) ?? m.host
        m.port = try int(t, s, "port", in: 1...65535)
        if let room = try string(t, s, "room", nonEmpty: true) {
            guard room.allSatisfy(DaemonConfig.MQTT.isRoomCharacter), room.utf8.count <= 64 else {
                throw fail("mqtt.room", "\"\(room)\": use 1 to 64 letters, digits, _ and - (it is part of topics and ids)")
            }
            m.room = room
        }
        if let prefix = try string(t, s, "topic_prefix", nonEmpty: true) {
            try topic(prefix, key: "mqtt.topic_prefix")
            m.topicPrefix = prefix
        }
        if let id = try string(t, s, "client_id", nonEmpty: true) {
            guard id.utf8.count <= 128 else { throw fail("mqtt.client_id", "longer than 128 bytes") }
            m.clientID = id
        }
        m.username = try string(t, s, "username", nonEmpty: true)
        m.passwordFile = try path(t, s, "password_file")
        if let file = m.passwordFile {
            guard m.username != nil else { throw fail("mqtt.password_file", "needs mqtt.username as well") }
            guard let data = FileManager.default.contents(atPath: file) else {
                let why = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "does not exist"
                throw fail("mqtt.password_file", "\(file) \(why)")
            }
            let password = BrokerEndpoint.password(fromFile: data)
            guard !password.isEmpty else { throw fail("mqtt.password_file", "\(file) is empty") }
            m.password = Secret(password)
        }
        m.tlsCAFile = try path(t, s, "tls_ca_file")
        if let ca = m.tlsCAFile, access(ca, R_OK) != 0 {
            throw fail("mqtt.tls_ca_file", "\(ca): \(String(cString: strerror(errno)))")
        }
        m.qos = try int(t, s, "qos", in: 0...2) ?? m.qos
        m.keepaliveS = try int(t, s, "keepalive_s", in: 5...3600) ?? m.keepaliveS
        m.discovery = try bool(t, s, "discovery") ?? m.discovery
        if let prefix = try string(t, s, "discovery_prefix", nonEmpty: true) {
            try topic(prefix, key: "mqtt.discovery_prefix")
            m.discoveryPrefix = prefix
        }
        m.queueSize = try int(t, s, "queue_size", in: 1...1_000_000) ?? m.queueSize
        m.reconnectMinS = try int(t, s, "reconnect_min_s", in: 1...3600) ?? m.reconnectMinS
        m.reconnectMaxS = try int(t, s, "reconnect_max_s", in: 1...3600) ?? m.reconnectMaxS
        if m.reconnectMaxS < m.reconnectMinS {
            throw fail("mqtt.reconnect_max_s", "\(m.reconnectMaxS) is less than reconnect_min_s \(m.reconnectMinS)")
        }
        if m.enabled && m.host.isEmpty {
            throw fail("mqtt.host", "required when mqtt.enabled = true (the broker's host name or address)")
        }
        return m
    }

    /// A topic prefix: no wildcards, no empty levels, no leading or trailing `/`.
    private func topic(_ text: String, key: String) throws(ConfigError) {
        if text.contains("+") || text.contains("#") {
            throw fail(key, "\"\(text)\" must not contain the wildcards + or #")
        }
        if text.hasPrefix("/") || text.hasSuffix("/") || text.contains("//") {
            throw fail(key, "\"\(text)\": no empty topic levels (no leading, trailing or double /)")
        }
    }
}
