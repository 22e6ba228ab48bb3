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
import ControlProtocol
import Logging
import MQTTLink

/// Sends the daemon's events and state to an MQTT broker (docs/interfaces.md, "MQTT").
///
/// Threads: whoever publishes an event (the processing thread mostly) only appends it to a
/// bounded queue and wakes the sender thread; the sender hands messages to libmosquitto,
/// whose own network thread (`mosquitto_loop_start`) talks to the broker and reconnects with
/// backoff. Nothing here ever blocks the audio: a slow or absent broker fills the queue, and
/// past `queue_size` the oldest events are dropped and counted.
///
/// Order: events leave in the order they were queued. At most `window` messages are
/// unacknowledged at once; after a reconnect, the ones that were in flight (libmosquitto
/// resends them) are acknowledged before any newer event is handed over.
public final class MQTTPublisher: @unchecked Sendable {
    // @unchecked: mutable state is behind `shared`; the client is used by the sender thread
    // and libmosquitto's thread-safe calls only.
    public let config: DaemonConfig.MQTT
    let topics: MQTTTopics
    private let discovery: MQTTDiscovery
    /// The daemon's state (`listening`, `cry`, ...) and today's episode count, read on
    /// every event and on the daemon's 1 s tick.
    private let snapshot = Locked<@Sendable () -> (state: String, episodesToday: Int)>({ ("starting", 0) })
    private let wakeup: Wakeup
    private let finished = DispatchSemaphore(value: 0)
    private let logger = Logger(label: "babymonitord")
    /// Unacknowledged messages at most.
    let window = 16

    struct Shared {
        var queue: [[UInt8]] = []     // ring of event payloads: oldest at `head`
        var head = 0
        var count = 0
        var dropped = 0
        var sent = 0
        var connected = false
        var everConnected = false
        var reason: String?
        var generation = 0            // successful connections so far
        var announcedGeneration = 0   // the connection availability/discovery went out on
        var connectedAt = 0.0
        var inflight: [Int32: Bool] = [:]   // message id -> is an event
        var earlyAcks: Set<Int32> = []      // acknowledged before we recorded the id
        var state: String?
        var stateSent: String?
        var episodes: Int?
        var episodesSent: Int?
        var need: [UInt8]?
        var needSent = true
        var stopping = false
        var drainSeconds = 2.0
        var lastActivity = monotonicSeconds()
    }
    private let shared: Locked<Shared>

    public init(config: DaemonConfig.MQTT, version: String) throws(DaemonError) {
        self.config = config
        topics = MQTTTopics(prefix: config.effectiveTopicPrefix)
        discovery = MQTTDiscovery(room: config.room, topics: topics, discoveryPrefix: config.discoveryPrefix, version: version)
        wakeup = try Wakeup()
        var s = Shared()
        s.queue = [[UInt8]](repeating: [], count: config.queueSize)
        shared = Locked(s)
    }

    public var brokerDescription: String {
        config.host.contains(":") ? "[\(config.host)]:\(config.effectivePort)" : "\(config.host):\(config.effectivePort)"
    }

    // MARK: producers (any thread)

    /// Queues `event` for `<prefix>/event` (and `<prefix>/need` when it is a need).
    public func enqueue(_ event: MonitorEvent) {
        let payload = Array(event.json.description.utf8)
        let isNeed = event.type == MonitorEvent.Kind.need
        shared.withLock { s in
            if s.count == s.queue.count {
                // Full: the oldest goes, counted.
                s.queue[s.head] = []
                s.head = (s.head + 1) % s.queue.count
                s.count -= 1
                s.dropped += 1
            }
            s.queue[(s.head + s.count) % s.queue.count] = payload
            s.count += 1
            if isNeed { s.need = payload; s.needSent = false }
        }
        refreshState()
    }

    /// Reads the daemon's state; a change is published (retained).
    public func refreshState() {
        let now = snapshot.withLock { $0 }()
        shared.withLock { s in
            s.state = now.state
            s.episodes = now.episodesToday
        }
        wakeup.signal()
    }

    public var status: MQTTLinkStatus {
        shared.withLock { s in
            var m = MQTTLinkStatus()
            m.broker = brokerDescription
            m.room = config.room
            m.topicPrefix = topics.prefix
            m.state = s.connected ? "connected" : (s.everConnected || s.reason != nil ? "retrying" : "connecting")
            m.reason = s.connected ? nil : s.reason
            m.queued = s.count
            m.queueCapacity = s.queue.count
            m.dropped = s.dropped
            m.sent = s.sent
            m.tls = config.tlsCAFile != nil
            return m
        }
    }

    // MARK: lifecycle

    /// Where the daemon's state and episode count come from (set before `start`).
    public func setSnapshot(_ body: @escaping @Sendable () -> (state: String, episodesToday: Int)) {
        snapshot.withLock { $0 = body }
    }

    /// Starts the sender thread (it creates the client and starts libmosquitto's thread).
    public func start() {
        DaemonThread.start(name: "mqtt") { [self] in
            runSender()
            finished.signal()
        }
    }

    /// Sends what is queued (for at most `drainSeconds` when connected), then `offline`
    /// on the availability topic and a clean DISCONNECT (so the broker does not send the
    /// will), and stops the network thread.
    /// Bounded (about 3 s at most) to stay within the unit's TimeoutStopSec.
    public func stop(drainSeconds: Double = 2) {
        shared.withLock { $0.stopping = true; $0.drainSeconds = drainSeconds }
        wakeup.signal()
        _ = finished.wait(timeout: .now() + drainSeconds + 1.5)
    }

    // MARK: libmosquitto's thread

    private func makeCallbacks() -> MQTTCallbacks {
        var c = MQTTCallbacks()
        c.connected = { [weak self] code in
            guard let self else { return }
            let refusal = "broker refused the connection: \(MosquittoClient.describeRefusal(code))"
            let isNews = self.shared.withLock { s -> Bool in
                s.lastActivity = monotonicSeconds()
                if code == 0 {
                    s.connected = true
                    s.everConnected = true
                    s.reason = nil
                    s.generation += 1
                    s.connectedAt = monotonicSeconds()
                    return true
                }
                defer { s.reason = refusal }
                return s.reason != refusal
            }
            if code == 0 {
                self.logger.notice("mqtt: connected to \(self.brokerDescription) as \(self.config.effectiveClientID)")
            } else if isNews {
                // Once per reason, not at every retry (the status shows it meanwhile).
                self.logger.warning("mqtt: \(self.brokerDescription): \(refusal); retrying with backoff")
            }
            self.wakeup.signal()
        }
        c.disconnected = { [weak self] code in
            guard let self else { return }
            let wasConnected = self.shared.withLock { s -> Bool in
                let was = s.connected
                s.lastActivity = monotonicSeconds()
                s.connected = false
                if code != 0 && (was || s.reason == nil) {
                    s.reason = "connection lost: \(MosquittoClient.describe(code))"
                }
                return was
            }
            if wasConnected && code != 0 {
                self.logger.warning("mqtt: \(self.brokerDescription): connection lost (\(MosquittoClient.describe(code))); reconnecting with backoff, events wait in the queue")
            }
            self.wakeup.signal()
        }
        c.published = { [weak self] mid in
            guard let self else { return }
            self.shared.withLock { s in
                s.lastActivity = monotonicSeconds()
                if let isEvent = s.inflight.removeValue(forKey: mid) {
                    if isEvent { s.sent += 1 }
                } else {
                    s.earlyAcks.insert(mid)
                }
            }
            self.wakeup.signal()
        }
        c.log = { [weak self] level, text in
            guard let self else { return }
            // libmosquitto says why a connection attempt failed only here ("Connection
            // refused", TLS errors); the debug lines show that its thread is still trying.
            let isProblem = level & (MQTTLogLevel.error | MQTTLogLevel.warning) != 0
            self.shared.withLock { s in
                s.lastActivity = monotonicSeconds()
                if isProblem && !s.connected { s.reason = text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text }
            }
        }
        return c
    }

    // MARK: sender thread

    private struct Outgoing {
        let topic: String
        let payload: [UInt8]
        let retain: Bool
        let isEvent: Bool
    }

    private func runSender() {
        let client: MosquittoClient
        do {
            client = try MosquittoClient(clientID: config.effectiveClientID, cleanSession: true, callbacks: makeCallbacks())
            try client.configure(BrokerEndpoint(host: config.host, port: config.effectivePort, username: config.username,
                                                password: config.password?.value, tlsCAFile: config.tlsCAFile,
                                                keepaliveSeconds: config.keepaliveS))
            try client.setWill(topic: topics.availability, payload: "offline", qos: max(1, config.qos), retain: true)
        } catch {
            shared.withLock { $0.reason = "\(error)" }
            logger.error("mqtt: \(error); MQTT is off until the daemon restarts")
            waitForStop()
            return
        }
        client.setReconnectDelay(minimum: config.reconnectMinS, maximum: config.reconnectMaxS)
        client.setMaxInflight(window + 8)
        // The first connection: libmosquitto's thread only retries connections that once
        // started, so until one does (refused, no route, name not resolved) retry here,
        // with the same backoff.
        var delay = Double(config.reconnectMinS)
        var lastWhy = ""
        while true {
            let rc = client.connectAsync(host: config.host, port: config.effectivePort, keepaliveSeconds: config.keepaliveS)
            if rc == 0 { break }
            let why = MosquittoClient.describe(rc)
            shared.withLock { $0.reason = why }
            if why != lastWhy {
                logger.warning("mqtt: \(brokerDescription): \(why); retrying with backoff (events wait in the queue)")
                lastWhy = why
            }
            let until = monotonicSeconds() + delay
            while monotonicSeconds() < until {
                if shared.withLock({ $0.stopping }) { return }
                wakeup.wait(timeoutMillis: 200)
            }
            delay = min(delay * 2, Double(config.reconnectMaxS))
        }
        shared.withLock { $0.lastActivity = monotonicSeconds() }
        do { try client.startLoop() } catch {
            shared.withLock { $0.reason = "\(error)" }
            logger.error("mqtt: \(error)")
            waitForStop()
            return
        }

        var drainDeadline: Double?
        while true {
            wakeup.wait(timeoutMillis: 500)
            let now = monotonicSeconds()
            let (batch, stop) = nextBatch(now: now, drainDeadline: &drainDeadline)
            for m in batch {
                let (rc, mid) = client.publish(topic: m.topic, payload: m.payload, qos: config.qos, retain: m.retain)
                settle(m, rc: rc, mid: mid)
            }
            if stop { break }
            superviseNetworkThread(client, now: now)
        }

        let connected = shared.withLock { $0.connected }
        if connected {
            let (rc, mid) = client.publish(topic: topics.availability, payload: Array("offline".utf8), qos: max(1, config.qos), retain: true)
            if rc == 0 {
                shared.withLock { $0.inflight[mid] = false }
                let deadline = monotonicSeconds() + 1
                while monotonicSeconds() < deadline && shared.withLock({ $0.inflight[mid] != nil && $0.connected }) {
                    wakeup.wait(timeoutMillis: 50)
                }
            }
        }
        client.stopLoopGracefully(timeoutSeconds: 1)
        let left = shared.withLock { $0.count }
        if left > 0 { logger.warning("mqtt: stopping with \(left) events not delivered to \(brokerDescription)") }
    }

    private func waitForStop() {
        while !shared.withLock({ $0.stopping }) { wakeup.wait(timeoutMillis: 500) }
    }

    /// What to hand to libmosquitto now, and whether the sender should stop.
    private func nextBatch(now: Double, drainDeadline: inout Double?) -> ([Outgoing], Bool) {
        shared.withLock { s -> ([Outgoing], Bool) in
            if s.stopping {
                if drainDeadline == nil { drainDeadline = now + s.drainSeconds }
                let drained = s.count == 0 && s.inflight.isEmpty
                // Not connected: stop at once when retrying (a known failure), but give a
                // first connection still under way until the deadline.
                let hopeless = !s.connected && (s.everConnected || s.reason != nil)
                if hopeless || drained || now >= drainDeadline! { return ([], true) }
            }
            guard s.connected else { return ([], false) }
            var batch: [Outgoing] = []
            if s.announcedGeneration != s.generation {
                // After a reconnect, what was in flight is resent by libmosquitto first;
                // wait for it (a few seconds at most) so that events stay in order.
                if !s.inflight.isEmpty && now - s.connectedAt < 5 { return ([], false) }
                s.inflight.removeAll()
                s.earlyAcks.removeAll()
                s.announcedGeneration = s.generation
                s.stateSent = nil
                s.episodesSent = nil
                s.needSent = s.need == nil
                batch.append(Outgoing(topic: topics.availability, payload: Array("online".utf8), retain: true, isEvent: false))
                for m in discovery.messages(enabled: config.discovery) {
                    batch.append(Outgoing(topic: m.topic, payload: m.payload, retain: true, isEvent: false))
                }
            }
            if let state = s.state, state != s.stateSent {
                batch.append(Outgoing(topic: topics.state, payload: Array(state.utf8), retain: true, isEvent: false))
                s.stateSent = state
            }
            if let n = s.episodes, n != s.episodesSent {
                batch.append(Outgoing(topic: topics.episodesToday, payload: Array(String(n).utf8), retain: true, isEvent: false))
                s.episodesSent = n
            }
            if !s.needSent, let need = s.need {
                batch.append(Outgoing(topic: topics.need, payload: need, retain: true, isEvent: false))
                s.needSent = true
            }
            var room = window - s.inflight.count
            while room > 0 && s.count > 0 {
                batch.append(Outgoing(topic: topics.event, payload: s.queue[s.head], retain: false, isEvent: true))
                s.queue[s.head] = []
                s.head = (s.head + 1) % s.queue.count
                s.count -= 1
                room -= 1
            }
            return (batch, false)
        }
    }

    /// Records a handed-over message, or puts an event back at the queue's front when
    /// libmosquitto refused it (the connection just dropped).
    private func settle(_ m: Outgoing, rc: Int32, mid: Int32) {
        shared.withLock { s in
            if rc == 0 {
                if s.earlyAcks.remove(mid) != nil {
                    if m.isEvent { s.sent += 1 }
                } else {
                    s.inflight[mid] = m.isEvent
                }
                return
            }
            if m.isEvent {
                if s.count == s.queue.count {
                    s.dropped += 1     // it is the oldest, and newer ones filled its place
                } else {
                    s.head = (s.head - 1 + s.queue.count) % s.queue.count
                    s.queue[s.head] = m.payload
                    s.count += 1
                }
            } else if m.topic == topics.state {
                s.stateSent = nil
            } else if m.topic == topics.episodesToday {
                s.episodesSent = nil
            } else if m.topic == topics.need {
                s.needSent = false
            } else {
                s.announcedGeneration = 0
            }
        }
    }

    /// libmosquitto's thread gives up after some errors (a failed TLS handshake, a name
    /// that does not resolve at reconnect time); when it has been silent for longer than
    /// any backoff while we are not connected, start it again.
    private func superviseNetworkThread(_ client: MosquittoClient, now: Double) {
        let stalled = shared.withLock { s -> Bool in
            !s.connected && !s.stopping && now - s.lastActivity > Double(config.reconnectMaxS) + 10
        }
        guard stalled else { return }
        client.stopLoop(force: true)
        client.reconnectAsync()
        shared.withLock { $0.lastActivity = monotonicSeconds() }
        try? client.startLoop()
    }
}
