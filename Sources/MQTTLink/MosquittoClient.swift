#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
// FoundationEssentials where the toolchain has it: babymonitord and monitorctl link no
// full Foundation (no ICU; issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch   // DispatchSemaphore
import ThreadSupport

/// What is needed to reach a broker: address, credentials, TLS. Shared by the daemon's
/// publisher and `monitorctl rooms`.
public struct BrokerEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    /// Read from a file by whoever builds this (never from the main config, never logged).
    public var password: String?
    /// PEM file of the CA that signed the broker's certificate: TLS when set. The broker's
    /// host name is always verified (there is no "insecure" mode).
    public var tlsCAFile: String?
    public var keepaliveSeconds: Int

    public init(host: String, port: Int, username: String? = nil, password: String? = nil,
                tlsCAFile: String? = nil, keepaliveSeconds: Int = 60) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tlsCAFile = tlsCAFile
        self.keepaliveSeconds = keepaliveSeconds
    }

    /// The MQTT default port: 1883, or 8883 with TLS.
    public static func defaultPort(tls: Bool) -> Int { tls ? 8883 : 1883 }

    /// `HOST`, `HOST:PORT`, `[V6ADDR]` or `[V6ADDR]:PORT`.
    public static func parseAddress(_ text: String, tls: Bool) throws(MQTTError) -> (host: String, port: Int) {
        var host = text
        var portText: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .invalid("\(text): missing ] after an IPv6 address") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw .invalid("\(text): expected :PORT after ]") }
                portText = String(rest.dropFirst())
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard text.firstIndex(of: ":") == colon else {
                throw .invalid("\(text): write an IPv6 address as [ADDRESS]:PORT")
            }
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        if host.isEmpty { throw .invalid("\(text): empty host") }
        guard let portText else { return (host, defaultPort(tls: tls)) }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw .invalid("\(text): port must be 1...65535, got \"\(portText)\"")
        }
        return (host, port)
    }
}

extension BrokerEndpoint {
    /// The password in a password file: its first line, without the newline (echo pw > file)
    /// or a CR (a file written on Windows). Split on scalars: "\r\n" is one Character.
    public static func password(fromFile data: Data) -> String {
        var line = String(decoding: data, as: UTF8.self).unicodeScalars.prefix { $0 != "\n" }
        while line.first == "\r" { line = line.dropFirst() }
        while line.last == "\r" { line = line.dropLast() }
        return String(String.UnicodeScalarView(line))
    }
}

public enum MQTTError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case library(String, Int32)

    public var description: String {
        switch self {
        case .invalid(let s): return s
        case .library(let call, let rc): return "\(call): \(MosquittoClient.describe(rc))"
        }
    }
}

/// What the client's network thread reports. Called on libmosquitto's own thread: keep
/// them short, never block.
public struct MQTTCallbacks: Sendable {
    /// CONNACK arrived; 0 is success, anything else is the broker's refusal code.
    public var connected: @Sendable (_ code: Int32) -> Void = { _ in }
    /// The connection ended (0: we asked for it).
    public var disconnected: @Sendable (_ code: Int32) -> Void = { _ in }
    /// A QoS 0 message left, or a QoS 1/2 message was acknowledged.
    public var published: @Sendable (_ messageID: Int32) -> Void = { _ in }
    public var subscribed: @Sendable (_ messageID: Int32) -> Void = { _ in }
    public var message: @Sendable (_ topic: String, _ payload: [UInt8], _ retained: Bool) -> Void = { _, _, _ in }
    /// libmosquitto's own warnings and errors (connection refused, TLS failures...).
    public var log: @Sendable (_ level: Int32, _ text: String) -> Void = { _, _ in }

    public init() {}
}

/// A thin owner of one `struct mosquitto` (libmosquitto 2.x): options, its network thread
/// (`mosquitto_loop_start`), publish and subscribe. Thread-safe as libmosquitto is.
public final class MosquittoClient: @unchecked Sendable {
    // @unchecked: the handle is used through libmosquitto's thread-safe calls only.
    private let handle: OpaquePointer
    private let callbacks: MQTTCallbacks
    private var loopRunning = false
    private var leaked = false

    /// libmosquitto is loaded (and initialised) on the first client, not linked: a daemon
    /// with MQTT off never maps it nor OpenSSL (issue 15). nil, or why it cannot be loaded.
    private static let libraryProblem: String? = {
        var error = [CChar](repeating: 0, count: 512)
        guard babymonitor_mosquitto_load(&error, error.count) != 0 else { return nil }
        return error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }()

    public init(clientID: String, cleanSession: Bool = true, callbacks: MQTTCallbacks) throws(MQTTError) {
        if let problem = MosquittoClient.libraryProblem {
            throw .invalid("MQTT needs libmosquitto (Debian: libmosquitto1): \(problem)")
        }
        self.callbacks = callbacks
        // The callbacks reach this object through libmosquitto's `obj` pointer; unretained,
        // because the object outlives its handle (deinit destroys the handle).
        guard let h = mosquitto_new(clientID, cleanSession, nil) else {
            throw .library("mosquitto_new", MOSQ_ERR_NOMEM.rawValue)
        }
        handle = h
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(h, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311))
        mosquitto_connect_callback_set(h) { _, obj, rc in MosquittoClient.from(obj)?.callbacks.connected(rc) }
        mosquitto_disconnect_callback_set(h) { _, obj, rc in MosquittoClient.from(obj)?.callbacks.disconnected(rc) }
        mosquitto_publish_callback_set(h) { _, obj, mid in MosquittoClient.from(obj)?.callbacks.published(mid) }
        mosquitto_subscribe_callback_set(h) { _, obj, mid, _, _ in MosquittoClient.from(obj)?.callbacks.subscribed(mid) }
        mosquitto_message_callback_set(h) { _, obj, message in
            guard let client = MosquittoClient.from(obj), let m = message?.pointee, let topic = m.topic else { return }
            let payload: [UInt8]
            if let p = m.payload, m.payloadlen > 0 {
                payload = Array(UnsafeRawBufferPointer(start: p, count: Int(m.payloadlen)))
            } else {
                payload = []
            }
            client.callbacks.message(String(cString: topic), payload, m.retain)
        }
        mosquitto_log_callback_set(h) { _, obj, level, text in
            guard let client = MosquittoClient.from(obj), let text else { return }
            client.callbacks.log(level, String(cString: text))
        }
    }

    deinit {
        if leaked { return }
        if loopRunning { mosquitto_loop_stop(handle, true) }
        mosquitto_destroy(handle)
    }

    private static func from(_ obj: UnsafeMutableRawPointer?) -> MosquittoClient? {
        guard let obj else { return nil }
        return Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue()
    }

    /// Credentials and TLS; call before connecting.
    public func configure(_ endpoint: BrokerEndpoint) throws(MQTTError) {
        if let user = endpoint.username {
            let rc = mosquitto_username_pw_set(handle, user, endpoint.password)
            guard rc == 0 else { throw .library("username", rc) }
        }
        if let ca = endpoint.tlsCAFile {
            guard access(ca, R_OK) == 0 else { throw .invalid("TLS CA file \(ca): \(String(cString: strerror(errno)))") }
            var rc = mosquitto_tls_set(handle, ca, nil, nil, nil, nil)
            guard rc == 0 else { throw .library("TLS CA file \(ca)", rc) }
            // Certificate chain and host name both verified (no tls_insecure).
            rc = mosquitto_tls_opts_set(handle, 1, nil, nil)
            guard rc == 0 else { throw .library("TLS options", rc) }
            mosquitto_tls_insecure_set(handle, false)
        }
    }

    /// The message the broker publishes for us when we vanish without disconnecting.
    public func setWill(topic: String, payload: String, qos: Int, retain: Bool) throws(MQTTError) {
        let bytes = Array(payload.utf8)
        let rc = mosquitto_will_set(handle, topic, Int32(bytes.count), bytes, Int32(qos), retain)
        guard rc == 0 else { throw .library("will", rc) }
    }

    /// Retry delays after a lost connection: `minimum`, doubling up to `maximum` seconds.
    public func setReconnectDelay(minimum: Int, maximum: Int) {
        mosquitto_reconnect_delay_set(handle, UInt32(minimum), UInt32(maximum), true)
    }

    /// At most this many QoS 1/2 messages unacknowledged at once.
    public func setMaxInflight(_ n: Int) {
        mosquitto_max_inflight_messages_set(handle, UInt32(n))
    }

    /// Starts connecting (name resolution happens here, so call it off any time-critical
    /// thread); the outcome arrives through `connected` / `disconnected` once the loop runs.
    @discardableResult
    public func connectAsync(host: String, port: Int, keepaliveSeconds: Int) -> Int32 {
        mosquitto_connect_async(handle, host, Int32(port), Int32(keepaliveSeconds))
    }

    /// Tries the last connection again (after a fatal error ended the network thread).
    @discardableResult
    public func reconnectAsync() -> Int32 { mosquitto_reconnect_async(handle) }

    /// Starts libmosquitto's network thread (it reconnects by itself after lost connections).
    public func startLoop() throws(MQTTError) {
        let rc = mosquitto_loop_start(handle)
        guard rc == 0 else { throw .library("mosquitto_loop_start", rc) }
        loopRunning = true
    }

    /// Stops the network thread; `force` cancels it even while it waits to reconnect.
    public func stopLoop(force: Bool) {
        guard loopRunning else { return }
        mosquitto_loop_stop(handle, force)
        loopRunning = false
    }

    /// Ends the connection (or the retrying) and the network thread without cancelling it
    /// (a cancelled thread can die holding a lock): DISCONNECT, which also ends the
    /// reconnect wait, then join. Returns false when the thread did not end within
    /// `timeoutSeconds` (stuck resolving a name, say); it is then left to the process's exit.
    @discardableResult
    public func stopLoopGracefully(timeoutSeconds: Double) -> Bool {
        guard loopRunning else { return true }
        mosquitto_disconnect(handle)
        let done = DispatchSemaphore(value: 0)
        let box = UnsafeHandle(handle)
        DaemonThread.start(name: "mqtt-stop") {
            mosquitto_loop_stop(box.handle, false)
            done.signal()
        }
        let ok = done.wait(timeout: .now() + timeoutSeconds) == .success
        if ok {
            loopRunning = false
        } else {
            // The thread may still use the handle and call back into this object: keep both.
            leaked = true
            _ = Unmanaged.passRetained(self)
        }
        return ok
    }

    /// Queues one message for the network thread; returns (rc, message id).
    public func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) -> (Int32, Int32) {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { buf in
            mosquitto_publish(handle, &mid, topic, Int32(buf.count), buf.baseAddress, Int32(qos), retain)
        }
        return (rc, mid)
    }

    public func subscribe(_ patterns: [String], qos: Int) -> (Int32, Int32) {
        var mid: Int32 = 0
        var cStrings = patterns.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let rc = cStrings.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafeMutablePointer<CChar>?.self, capacity: buf.count) { p in
                mosquitto_subscribe_multiple(handle, &mid, Int32(patterns.count), p, Int32(qos), 0, nil)
            }
        }
        return (rc, mid)
    }

    /// A clean DISCONNECT (the broker does not send the will).
    @discardableResult
    public func disconnect() -> Int32 { mosquitto_disconnect(handle) }

    /// libmosquitto's text for an error code, with errno's text for MOSQ_ERR_ERRNO.
    public static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }

    /// The broker's text for a CONNACK refusal ("not authorised", ...).
    public static func describeRefusal(_ code: Int32) -> String {
        String(cString: mosquitto_connack_string(code))
    }
}

/// libmosquitto's log levels (MOSQ_LOG_*), for `MQTTCallbacks.log`.
public enum MQTTLogLevel {
    public static let info = Int32(MOSQ_LOG_INFO)
    public static let notice = Int32(MOSQ_LOG_NOTICE)
    public static let warning = Int32(MOSQ_LOG_WARNING)
    public static let error = Int32(MOSQ_LOG_ERR)
    public static let debug = Int32(MOSQ_LOG_DEBUG)
}

/// The raw handle, handed to the joining thread.
private struct UnsafeHandle: @unchecked Sendable {
    // @unchecked: libmosquitto's loop_stop is thread-safe with respect to the handle.
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
}
