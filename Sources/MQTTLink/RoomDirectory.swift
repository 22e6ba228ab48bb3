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
import Dispatch   // DispatchSemaphore
import ThreadSupport

/// One monitor on the broker, from its retained topics `<prefix>/<room>/...`.
public struct RoomInfo: Sendable, Equatable {
    public var room: String
    /// `listening`, `cry`, `no_device`, ... (the daemon's status state).
    public var state: String?
    /// `online`, or `offline` (clean stop, or the broker's last will).
    public var availability: String?
    /// The last `need` event, as the JSON text the daemon published.
    public var lastNeed: String?
    public var episodesToday: Int?

    public init(room: String) { self.room = room }
}

public enum RoomDirectoryError: Error, CustomStringConvertible {
    /// The broker could not be reached (connection refused, no such host, TLS failure...).
    case unreachable(String)
    /// The broker answered but refused us (credentials).
    case refused(String)
    case timeout(String)

    public var description: String {
        switch self {
        case .unreachable(let s), .refused(let s), .timeout(let s): return s
        }
    }
}

/// Lists the rooms on a broker from the retained messages every daemon keeps there.
/// Subscribes to `<prefix>/+/{state,need,availability,episodes_today}`; the broker sends
/// the retained messages right after the SUBACK, so a marker message we publish to
/// ourselves after it arrives last: when it does, the list is complete (no guessing wait).
public enum RoomDirectory {
    public static func scan(_ endpoint: BrokerEndpoint, prefix: String = "babymonitor",
                            timeoutSeconds: Double = 10) throws(RoomDirectoryError) -> [RoomInfo] {
        final class Scan: @unchecked Sendable {
            // @unchecked: immutable; `state` is mutex-guarded, the semaphore is thread-safe.
            struct State {
                var rooms: [String: RoomInfo] = [:]
                var failure: RoomDirectoryError?
                var finished = false
            }
            let state = Locked(State())
            let done = DispatchSemaphore(value: 0)
            func finish(_ error: RoomDirectoryError? = nil) {
                let first = state.withLock { s -> Bool in
                    guard !s.finished else { return false }
                    s.finished = true
                    s.failure = error
                    return true
                }
                if first { done.signal() }
            }
        }
        let scan = Scan()
        let clientID = "monitorctl-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let marker = "monitorctl/\(clientID)/done"
        let address = "\(endpoint.host):\(endpoint.port)"
        let levels = ["state", "need", "availability", "episodes_today"]
        let clientBox = Locked<MosquittoClient?>(nil)

        var callbacks = MQTTCallbacks()
        callbacks.connected = { code in
            guard code == 0 else {
                scan.finish(.refused("\(address): the broker refused the connection: \(MosquittoClient.describeRefusal(code))"))
                return
            }
            let patterns = levels.map { "\(prefix)/+/\($0)" } + [marker]
            let rc = clientBox.withLock { $0 }?.subscribe(patterns, qos: 1).0 ?? 1
            if rc != 0 { scan.finish(.unreachable("\(address): subscribe: \(MosquittoClient.describe(rc))")) }
        }
        callbacks.subscribed = { _ in
            _ = clientBox.withLock { $0 }?.publish(topic: marker, payload: Array("done".utf8), qos: 1, retain: false)
        }
        callbacks.message = { topic, payload, _ in
            if topic == marker { scan.finish(); return }
            let parts = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let level = parts.last else { return }
            let room = parts[parts.count - 2]
            let text = String(decoding: payload, as: UTF8.self)
            scan.state.withLock { s in
                var info = s.rooms[room] ?? RoomInfo(room: room)
                switch level {
                case "state": info.state = text.isEmpty ? nil : text
                case "need": info.lastNeed = text.isEmpty ? nil : text
                case "availability": info.availability = text.isEmpty ? nil : text
                case "episodes_today": info.episodesToday = Int(text)
                default: return
                }
                s.rooms[room] = info
            }
        }
        callbacks.disconnected = { code in
            if code != 0 { scan.finish(.unreachable("\(address): connection lost: \(MosquittoClient.describe(code))")) }
        }
        callbacks.log = { level, text in
            // A refused TCP connection or a failed TLS handshake is only said here.
            if level & MQTTLogLevel.error != 0 {
                let t = text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text
                scan.finish(.unreachable("\(address): \(t)"))
            }
        }

        let client: MosquittoClient
        do {
            client = try MosquittoClient(clientID: clientID, cleanSession: true, callbacks: callbacks)
            try client.configure(endpoint)
        } catch {
            throw .unreachable("\(address): \(error)")
        }
        clientBox.withLock { $0 = client }
        let rc = client.connectAsync(host: endpoint.host, port: endpoint.port, keepaliveSeconds: endpoint.keepaliveSeconds)
        if rc != 0 {
            throw .unreachable("\(address): \(MosquittoClient.describe(rc))")
        }
        do { try client.startLoop() } catch { throw .unreachable("\(address): \(error)") }
        let waited = scan.done.wait(timeout: .now() + timeoutSeconds)
        client.disconnect()
        client.stopLoop(force: waited == .timedOut)
        clientBox.withLock { $0 = nil }
        if waited == .timedOut {
            throw .timeout("\(address): no complete answer within \(Int(timeoutSeconds)) s")
        }
        let (failure, rooms) = scan.state.withLock { ($0.failure, $0.rooms) }
        if let failure { throw failure }
        return rooms.values.sorted { $0.room < $1.room }
    }
}
