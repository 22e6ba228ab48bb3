#if canImport(Glibc)
import Glibc
#endif
import ThreadSupport
import ControlProtocol
import Logging

/// Where every event goes: the event log, the control socket's subscribers, and the recent
/// events kept in memory; it also follows episodes for the status (current episode, last
/// need, episodes today). Thread-safe; called mostly from the processing thread, also from
/// the capture thread (device events) and the main thread (started/stopping).
public final class EventPublisher: @unchecked Sendable {
    // @unchecked: mutable state is behind `state`; `log` and `server` are thread-safe.
    public let log: EventLog
    private let server = Locked<ControlServer?>(nil)
    /// Further destinations (the MQTT publisher's queue), after the log and the socket.
    private let sinks = Locked<[@Sendable (MonitorEvent) -> Void]>([])
    private let recentLimit: Int
    /// Every event also goes to stderr (the journal under systemd), so that a person running
    /// the daemon in a terminal sees a missing microphone or a cry without a second tool.
    private let logger = Logger(label: "babymonitord")

    struct Tracking {
        var recent: [MonitorEvent] = []
        var recentStart = 0            // ring of `recentLimit` events: oldest at recentStart
        var currentEpisode: Int?
        var lastNeed: MonitorEvent?
        var episodesDay = ""           // local date of the episodes counted in episodesToday
        var episodesToday = 0
    }
    private let state = Locked(Tracking())

    public init(log: EventLog, recentLimit: Int = 100) {
        self.log = log
        self.recentLimit = max(1, recentLimit)
        log.onHealthChange { [weak self] event in
            // Already queued in the log itself; subscribers and `recent` hear it now.
            self?.report(event)
            self?.remember(event)
            self?.server.withLock { $0 }?.publish(event)
            self?.sinks.withLock { $0 }.forEach { $0(event) }
        }
    }

    /// Adds a destination that hears every event (it must only queue, never block).
    public func attach(sink: @escaping @Sendable (MonitorEvent) -> Void) {
        sinks.withLock { $0.append(sink) }
    }

    public func attach(server: ControlServer?) {
        self.server.withLock { $0 = server }
    }

    public func publish(_ event: MonitorEvent) {
        report(event)
        remember(event)
        log.append(event)
        server.withLock { $0 }?.publish(event)
        sinks.withLock { $0 }.forEach { $0(event) }
    }

    private func report(_ event: MonitorEvent) {
        let text = event.json.description
        switch event.type {
        case "device_lost":
            logger.warning("no capture device, retrying with backoff (1 s to 30 s); `monitorctl status` still answers: \(text)")
        case "degraded", "overrun": logger.warning("\(event.type): \(text)")
        default: logger.info("\(event.type): \(text)")
        }
    }

    /// The last `limit` events, oldest first.
    public func recentEvents(limit: Int) -> [MonitorEvent] {
        state.withLock { s in
            let ordered = Array(s.recent[s.recentStart...] + s.recent[..<s.recentStart])
            return Array(ordered.suffix(limit))
        }
    }

    /// Starts today's episode count at `count` (episodes of an earlier run, from the log).
    public func seedEpisodesToday(_ count: Int) {
        let today = EventPublisher.localDay(WallClock.nowMillis())
        state.withLock { s in
            s.episodesDay = today
            s.episodesToday = count
        }
    }

    public var currentEpisode: Int? { state.withLock { $0.currentEpisode } }
    public var lastNeed: MonitorEvent? { state.withLock { $0.lastNeed } }
    public var episodesToday: Int {
        let today = EventPublisher.localDay(WallClock.nowMillis())
        return state.withLock { $0.episodesDay == today ? $0.episodesToday : 0 }
    }

    private func remember(_ event: MonitorEvent) {
        state.withLock { s in
            if s.recent.count < recentLimit {
                s.recent.append(event)
            } else {
                s.recent[s.recentStart] = event
                s.recentStart = (s.recentStart + 1) % recentLimit
            }
            switch event.type {
            case MonitorEvent.Kind.cryStart:
                s.currentEpisode = event.episode
                let day = EventPublisher.localDay(event.timestampMillis)
                if day != s.episodesDay { s.episodesDay = day; s.episodesToday = 0 }
                s.episodesToday += 1
            case MonitorEvent.Kind.cryEnd:
                if s.currentEpisode == event.episode { s.currentEpisode = nil }
            case MonitorEvent.Kind.need:
                s.lastNeed = event
            default:
                break
            }
        }
    }

    /// The local calendar day of a time, e.g. `2026-11-25`.
    public static func localDay(_ millis: Int64) -> String {
        var t = time_t(millis / 1000)
        var tm = tm()
        localtime_r(&t, &tm)
        return "\(tm.tm_year + 1900)-\(tm.tm_mon + 1)-\(tm.tm_mday)"
    }
}
