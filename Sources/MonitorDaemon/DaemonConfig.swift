// FoundationEssentials where the toolchain has it: no ICU in babymonitord (issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FileSafety

/// A configuration problem, naming the file, the key and what is wrong (exit 78).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String?
    public var problem: String
    /// Where a syntax error is (1-based; the column counts characters).
    public var line: Int?
    public var column: Int?

    public init(file: String, key: String? = nil, problem: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.key = key
        self.problem = problem
        self.line = line
        self.column = column
    }

    /// "file: key: problem", or "file:line:column: problem" for a syntax error.
    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        if let key { return "\(location): \(key): \(problem)" }
        return "\(location): \(problem)"
    }
}

/// The daemon's configuration (config/babymonitor.toml). Every key is optional and has the
/// default below; an unknown section or key is an error, so a typo is never ignored.
/// Relative paths are taken relative to the configuration file's directory.
public struct DaemonConfig: Sendable, Equatable {
    /// The directory part of a path ("" for a bare file name, "/" for a file in the root),
    /// as NSString's deletingLastPathComponent, which FoundationEssentials does not have.
    static func directory(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var d = p[..<slash]
        while d.hasSuffix("/") { d = d.dropLast() }
        return d.isEmpty ? "/" : String(d)
    }

    public struct Audio: Sendable, Equatable {
        /// ALSA PCM name captured when no --input is given.
        public var pcm = "default"
        /// Capture and analysis rate (the models' front end rate).
        public var sampleRate = 8000
        /// ALSA period: how much audio one capture read brings. Capture and processing wake
        /// once a period, which is most of the silent cost: 100 ms costs about a third of 20 ms's
        /// CPU and delays an alert by at most 80 ms more (docs/daemon-figures.md).
        public var periodMs = 100
        /// Ring buffer between capture and processing, in seconds of audio.
        public var ringSeconds = 10.0
    }

    public struct Models: Sendable, Equatable {
        /// Cause classifier (hungry, tired, ...) and cry detector model files; nil: none.
        public var cause: String?
        public var detector: String?
        /// Models adapted to this home (`crymodel adapt --out-dir`): `detector.safetensors` and
        /// `cause.safetensors` found here are used instead of the configured ones, at start and
        /// on reload. A missing directory or file: the configured model.
        public var adaptedDir = "/var/lib/babymonitor/models"
        /// `monitorctl adapt`: the `crymodel` program the daemon runs (nil: the one beside
        /// babymonitord, else `crymodel` on PATH), and its `--steps` (nil: crymodel's default).
        public var crymodel: String?
        public var adaptSteps: Int?
    }

    /// Episode audio kept on the device for labelling and adaptation (EpisodeRecorder).
    public struct Episodes: Sendable, Equatable {
        /// Where episode-<N>.wav and episode-<N>.json go.
        public var dir = "/var/lib/babymonitor/episodes"
        /// Megabytes (10^6 bytes) of episodes kept; the oldest are deleted first; 0: no audio kept.
        public var keepMB = 200.0
        /// Seconds of audio kept before each episode's onset.
        public var preRollS = 1.0
    }

    /// Cry detector and episode segmentation (CryDetector's DetectorConfiguration; the
    /// parameters not named here keep that type's defaults).
    public struct Detector: Sendable, Equatable {
        /// Energy gate: it opens when a frame's level exceeds the adaptive noise floor by
        /// this many dB; frames quieter than `gateMinimumDB` (dBFS) never open it.
        public var gateMarginDB = 10.0
        public var gateMinimumDB = -85.0
        /// Detector cry probability at or above which a frame counts as cry, and the lower
        /// one that keeps a confirmed episode going (hysteresis).
        /// 0.95 (with 5 onset frames): chosen for the shipped detector's recipe by the open-set
        /// protocol's rule on its validation night (docs/detector.md, "Open-set figures, session 11").
        public var onThreshold = 0.95
        public var offThreshold = 0.3
        /// Consecutive cry frames (10 ms each) that confirm an onset.
        public var onsetFrames = 5
        /// Non-cry time after which an episode ends.
        public var hangoverS = 0.5
        /// Episodes shorter than this are dropped.
        public var minEpisodeS = 0.5
        /// An onset this soon after an episode's end continues that episode.
        public var mergeGapS = 1.5
        /// With no detector model: use the energy gate alone (a sound-activated monitor,
        /// every loud sound is an "episode"). Off by default: without a detector model and
        /// without this the daemon refuses to start (exit 78): a baby monitor that cannot
        /// detect must not look like one that runs.
        public var energyOnly = false
    }

    public struct Classifier: Sendable, Equatable {
        /// Seconds into an episode before the first (non-final) need decision.
        public var firstDecisionS = 3.0
        /// The streaming classifier's state is reset every this many seconds of an episode
        /// (it was trained on clips of about this length), then decisions continue.
        public var restartEveryS = 5.0
        /// Below this calibrated top probability a need event says "unsure" (probs still
        /// given): the cry is reported without a cause. 0 always names the top cause.
        /// Default 0.9, chosen by repeated grouped cross-validation (docs/shipped-models.md):
        /// no lower threshold made the causes shown right more often than the base rate
        /// (84% "hungry"), so a cause is shown only when the calibrated model is 90% sure.
        public var minConfidence = 0.9
    }

    public struct Log: Sendable, Equatable {
        public var eventLog = "/var/log/babymonitor/events.jsonl"
        /// Rotate when the log would grow past this many bytes.
        public var maxBytes = 10 * 1024 * 1024
        /// Rotated files kept: events.jsonl.1 ... events.jsonl.<keep>.
        public var keep = 5
    }

    public struct Control: Sendable, Equatable {
        public var socket = "/run/babymonitor/control.sock"
        /// Group given access to the socket (mode 0660); empty: the daemon's own group.
        public var group = ""
        /// Recent events kept in memory for `monitorctl events`.
        public var recentEvents = 100
    }

    public var audio = Audio()
    public var models = Models()
    public var detector = Detector()
    public var classifier = Classifier()
    public var log = Log()
    public var control = Control()
    public var episodes = Episodes()
    public var mqtt = MQTT()
    /// The file this was read from (nil: built-in defaults).
    public var sourcePath: String?

    public init() {}

    /// A configuration file is a page of text; anything larger is refused before it is read.
    public static let maxFileBytes = 1 << 20

    public static func load(path: String) throws(ConfigError) -> DaemonConfig {
        let bytes: [UInt8]
        do { bytes = try SafeFile.readAll(path, maxBytes: maxFileBytes, what: "configuration file") } catch {
            // Never blocks (a FIFO is refused, not opened for a writer that never comes).
            let problem = error.code == ENOENT ? "configuration file does not exist"
                : error.code != 0 ? "configuration file cannot be read: \(error.problem)" : error.problem
            throw ConfigError(file: path, problem: problem)
        }
        // Bytes, not a String: invalid UTF-8 is reported with its line and column.
        return try parse(bytes: bytes, path: path)
    }

    /// Parses configuration text; `path` names the file in errors and anchors relative paths.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> DaemonConfig {
        try parse(bytes: Array(text.utf8), path: path)
    }

    static func parse(bytes: [UInt8], path: String) throws(ConfigError) -> DaemonConfig {
        let root: TOMLSubsetDocument
        do {
            root = try TOMLSubsetDocument.parse(bytes: bytes)
        } catch {
            throw ConfigError(file: path, problem: error.problem, line: error.line, column: error.column)
        }
        var c = DaemonConfig()
        c.sourcePath = path
        let base = Self.directory(of: path)
        let r = Reader(file: path, baseDirectory: base.isEmpty ? "." : base)

        try r.sections(root, known: ["audio", "models", "detector", "classifier", "log", "control", "episodes", "mqtt"])
        if let t = try r.table(root, "audio") {
            try r.keys(t, "audio", known: ["pcm", "sample_rate", "period_ms", "ring_seconds"])
            c.audio.pcm = try r.string(t, "audio", "pcm", nonEmpty: true) ?? c.audio.pcm
            c.audio.sampleRate = try r.int(t, "audio", "sample_rate", in: 4000...192_000) ?? c.audio.sampleRate
            c.audio.periodMs = try r.int(t, "audio", "period_ms", in: 1...1000) ?? c.audio.periodMs
            c.audio.ringSeconds = try r.number(t, "audio", "ring_seconds", in: 0.1...600) ?? c.audio.ringSeconds
        }
        if let t = try r.table(root, "models") {
            try r.keys(t, "models", known: ["cause", "detector", "adapted_dir", "crymodel", "adapt_steps"])
            c.models.cause = try r.path(t, "models", "cause")
            c.models.detector = try r.path(t, "models", "detector")
            c.models.adaptedDir = try r.path(t, "models", "adapted_dir") ?? c.models.adaptedDir
            c.models.crymodel = try r.path(t, "models", "crymodel")
            c.models.adaptSteps = try r.int(t, "models", "adapt_steps", in: 1...100_000)
        }
        if let t = try r.table(root, "detector") {
            try r.keys(t, "detector", known: ["gate_margin_db", "gate_minimum_db", "on_threshold", "off_threshold",
                                              "onset_frames", "hangover_s", "min_episode_s", "merge_gap_s", "energy_only"])
            c.detector.gateMarginDB = try r.number(t, "detector", "gate_margin_db", in: 0...100) ?? c.detector.gateMarginDB
            c.detector.gateMinimumDB = try r.number(t, "detector", "gate_minimum_db", in: -200...0) ?? c.detector.gateMinimumDB
            c.detector.onThreshold = try r.number(t, "detector", "on_threshold", in: 0...1) ?? c.detector.onThreshold
            c.detector.offThreshold = try r.number(t, "detector", "off_threshold", in: 0...1) ?? c.detector.offThreshold
            c.detector.onsetFrames = try r.int(t, "detector", "onset_frames", in: 1...10_000) ?? c.detector.onsetFrames
            c.detector.hangoverS = try r.number(t, "detector", "hangover_s", in: 0...600) ?? c.detector.hangoverS
            c.detector.minEpisodeS = try r.number(t, "detector", "min_episode_s", in: 0...3600) ?? c.detector.minEpisodeS
            c.detector.mergeGapS = try r.number(t, "detector", "merge_gap_s", in: 0...3600) ?? c.detector.mergeGapS
            c.detector.energyOnly = try r.bool(t, "detector", "energy_only") ?? c.detector.energyOnly
            if c.detector.offThreshold > c.detector.onThreshold {
                throw ConfigError(file: path, key: "detector.off_threshold",
                                  problem: "\(c.detector.offThreshold) must not exceed on_threshold \(c.detector.onThreshold)")
            }
        }
        if let t = try r.table(root, "classifier") {
            try r.keys(t, "classifier", known: ["first_decision_s", "restart_every_s", "min_confidence"])
            c.classifier.minConfidence = try r.number(t, "classifier", "min_confidence", in: 0...1) ?? c.classifier.minConfidence
            c.classifier.firstDecisionS = try r.number(t, "classifier", "first_decision_s", in: 0.1...600) ?? c.classifier.firstDecisionS
            c.classifier.restartEveryS = try r.number(t, "classifier", "restart_every_s", in: 0.1...3600) ?? c.classifier.restartEveryS
        }
        if let t = try r.table(root, "log") {
            try r.keys(t, "log", known: ["event_log", "max_bytes", "keep"])
            c.log.eventLog = try r.path(t, "log", "event_log") ?? c.log.eventLog
            c.log.maxBytes = try r.int(t, "log", "max_bytes", in: 4096...(1 << 40)) ?? c.log.maxBytes
            c.log.keep = try r.int(t, "log", "keep", in: 0...1000) ?? c.log.keep
        }
        if let t = try r.table(root, "control") {
            try r.keys(t, "control", known: ["socket", "group", "recent_events"])
            c.control.socket = try r.path(t, "control", "socket") ?? c.control.socket
            c.control.group = try r.string(t, "control", "group") ?? c.control.group
            c.control.recentEvents = try r.int(t, "control", "recent_events", in: 1...100_000) ?? c.control.recentEvents
        }
        if let t = try r.table(root, "episodes") {
            try r.keys(t, "episodes", known: ["dir", "keep_mb", "pre_roll_s"])
            c.episodes.dir = try r.path(t, "episodes", "dir") ?? c.episodes.dir
            c.episodes.keepMB = try r.number(t, "episodes", "keep_mb", in: 0...1_000_000) ?? c.episodes.keepMB
            c.episodes.preRollS = try r.number(t, "episodes", "pre_roll_s", in: 0...10) ?? c.episodes.preRollS
        }
        if let t = try r.table(root, "mqtt") { c.mqtt = try r.mqtt(t) }
        if c.control.socket.utf8.count > 107 {
            throw ConfigError(file: path, key: "control.socket", problem: "path longer than 107 bytes (a Unix socket path limit)")
        }
        return c
    }

    /// Strict typed access with errors naming `section.key`.
    struct Reader {
        let file: String
        let baseDirectory: String

        func fail(_ key: String, _ problem: String) -> ConfigError {
            ConfigError(file: file, key: key, problem: problem)
        }

        func sections(_ root: TOMLSubsetDocument, known: Set<String>) throws(ConfigError) {
            let names = root.rootEntries.map(\.key) + root.sections.map(\.name)
            for key in names.sorted() where !known.contains(key) {
                throw ConfigError(file: file, key: key,
                                  problem: "unknown section or key (known sections: \(known.sorted().joined(separator: ", ")))")
            }
        }

        func table(_ root: TOMLSubsetDocument, _ name: String) throws(ConfigError) -> TOMLSubsetDocument.Section? {
            if let entry = root.rootEntries.first(where: { $0.key == name }) {
                throw fail(name, "expected a table [\(name)], got \(entry.value.typeAndValue) (line \(entry.line))")
            }
            return root.section(name)
        }

        func keys(_ t: TOMLSubsetDocument.Section, _ section: String, known: Set<String>) throws(ConfigError) {
            for key in t.keys.sorted() where !known.contains(key) {
                throw fail("\(section).\(key)", "unknown key (known in [\(section)]: \(known.sorted().joined(separator: ", ")))")
            }
        }

        func string(_ t: TOMLSubsetDocument.Section, _ section: String, _ key: String, nonEmpty: Bool = false) throws(ConfigError) -> String? {
            guard let v = t[key] else { return nil }
            guard case .string(let s) = v else { throw fail("\(section).\(key)", "expected a string, got \(v.typeAndValue)") }
            if nonEmpty && s.isEmpty { throw fail("\(section).\(key)", "must not be empty") }
            // A \u0000 escape would silently cut a path or group name short in the C calls.
            if s.utf8.contains(0) { throw fail("\(section).\(key)", "must not contain a NUL character") }
            return s
        }

        func path(_ t: TOMLSubsetDocument.Section, _ section: String, _ key: String) throws(ConfigError) -> String? {
            guard let s = try string(t, section, key, nonEmpty: true) else { return nil }
            if s.hasPrefix("/") { return s }
            return baseDirectory.hasSuffix("/") ? baseDirectory + s : baseDirectory + "/" + s
        }

        func bool(_ t: TOMLSubsetDocument.Section, _ section: String, _ key: String) throws(ConfigError) -> Bool? {
            guard let v = t[key] else { return nil }
            guard case .boolean(let b) = v else { throw fail("\(section).\(key)", "expected true or false, got \(v.typeAndValue)") }
            return b
        }

        func int(_ t: TOMLSubsetDocument.Section, _ section: String, _ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let v = t[key] else { return nil }
            guard case .integer(let n) = v else { throw fail("\(section).\(key)", "expected an integer, got \(v.typeAndValue)") }
            guard range.contains(n) else {
                throw fail("\(section).\(key)", "\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }

        /// A float or an integer.
        func number(_ t: TOMLSubsetDocument.Section, _ section: String, _ key: String, in range: ClosedRange<Double>) throws(ConfigError) -> Double? {
            guard let v = t[key] else { return nil }
            let x: Double
            switch v {
            case .float(let f): x = f
            case .integer(let n): x = Double(n)
            default: throw fail("\(section).\(key)", "expected a number, got \(v.typeAndValue)")
            }
            guard range.contains(x), x.isFinite else {
                throw fail("\(section).\(key)", "\(x) is out of range \(range.lowerBound)...\(range.upperBound)")
            }
            return x
        }
    }
}
