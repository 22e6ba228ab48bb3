import ControlProtocol

/// What the morning report shows: the episodes, problems and gaps of a time window, built
/// from the event log (interfaces.md). All times are milliseconds since the Unix epoch (UTC).
public struct Night: Sendable {
    public var since: Int64
    public var until: Int64
    /// Episodes that overlap the window, in log order.
    public var episodes: [Episode]
    /// Device and daemon problems in the window, by time.
    public var problems: [Problem]
    /// Stretches of the window the monitor was not listening, by time.
    public var gaps: [Gap]
    /// Daemon runs that overlap the window.
    public var runs: [Run]
    /// The longest stretch without crying (false alarms do not count) while listening.
    public var longestQuiet: Interval?
    /// What was read: files, and lines skipped (a line cut by a crash, foreign text).
    public var source: Source

    /// Below this confidence a need is shown as "unsure" (5 classes: 0.2 is chance).
    public static let unsureBelow = 0.5
    public static let falseAlarmLabel = "not-cry"

    public struct Interval: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        public var seconds: Double { Double(end - start) / 1000 }
    }

    public struct Need: Sendable, Equatable {
        public var label: String
        public var confidence: Double
        /// False when the episode never got its final decision (daemon killed, too short).
        public var final: Bool
        public var probs: [String: Double]
        public var unsure: Bool { confidence < Night.unsureBelow }
    }

    public struct Episode: Sendable, Equatable {
        /// The daemon's episode number (`"episode"` in the log).
        public var number: Int
        /// Index into the report's run numbering (1 = first run read).
        public var run: Int
        public var start: Int64
        public var end: Int64
        public var durationSeconds: Double
        /// A `cry_end` was logged; false when the daemon stopped mid-episode.
        public var ended: Bool
        /// Still crying: the episode is open in the daemon that is running now.
        public var ongoing: Bool
        public var need: Need?
        /// Labels parents gave (`label` events), oldest first; the last one stands.
        public var labels: [String]
        public var label: String? { labels.last }
        public var falseAlarm: Bool { label == Night.falseAlarmLabel }
    }

    public struct Problem: Sendable, Equatable {
        /// `device_lost`, `overrun`, `degraded`, `daemon_stopped` (no `stopping`: killed or
        /// crashed), `clock_step`.
        public var kind: String
        public var at: Int64
        /// When it was over (device back, degraded component recovered), if known.
        public var until: Int64?
        public var detail: String
    }

    public struct Gap: Sendable, Equatable {
        public enum Kind: String, Sendable { case device, notRunning = "not_running", unknown }
        /// `device`: the daemon ran without its capture device; `not_running`: no daemon (stopped
        /// cleanly, or no log); `unknown`: after a daemon's last event when it ended without
        /// `stopping` (it may have listened quietly until it was killed).
        public var kind: Kind
        public var start: Int64
        public var end: Int64
    }

    public struct Run: Sendable, Equatable {
        public var number: Int
        public var start: Int64
        public var end: Int64
        public var input: String?
        public var version: String?
        public var pid: Int?
        /// `stopping` reason, `killed or crashed`, `running`, or `unknown`.
        public var ended: String
        /// Placed by audio time from its start (a `wav:` replay), not by each event's `ts`.
        public var placedByAudioTime: Bool
    }

    public struct Source: Sendable, Equatable {
        public var files: [String] = []
        public var linesRead = 0
        public var skippedLines = 0
        /// The first few skipped lines as `file:line: why`.
        public var skipped: [String] = []
        /// Labels naming an episode the log does not hold.
        public var orphanLabels = 0
        public var notes: [String] = []
        public init() {}
    }

    // MARK: totals

    public var falseAlarms: Int { episodes.filter(\.falseAlarm).count }
    /// Seconds of crying inside the window, false alarms excluded.
    public var cryingSeconds: Double { clippedSeconds(episodes.filter { !$0.falseAlarm }) }
    public var falseAlarmSeconds: Double { clippedSeconds(episodes.filter(\.falseAlarm)) }

    private func clippedSeconds(_ list: [Episode]) -> Double {
        list.reduce(0) { sum, e in
            let s = max(e.start, since), t = min(e.end, until)
            return sum + (t > s ? Double(t - s) / 1000 : 0)
        }
    }
}
