// The control socket's requests and responses (interfaces.md, "Control socket").
// One JSON object per line each way.

public enum ControlProtocolError: Error, CustomStringConvertible, Equatable {
    /// A request the server cannot act on; the connection stays usable.
    case badRequest(String)
    /// A message from the server the client cannot read.
    case badMessage(String)

    public var description: String {
        switch self {
        case .badRequest(let s): return s
        case .badMessage(let s): return s
        }
    }
}

/// Longest request line the server accepts, newline excluded.
public let maxRequestLineBytes = 4096

/// Number of recent events the `events` request returns when it gives no `limit`.
public let defaultRecentEventCount = 20

public enum ControlRequest: Sendable, Equatable {
    /// `{"cmd":"status"}` -> `{"ok":true,"v":1,"status":{...}}`
    case status
    /// `{"cmd":"subscribe"}` -> `{"ok":true}`, then every new event as one line.
    case subscribe
    /// Addition to interfaces.md: `{"cmd":"events","limit":N}` -> `{"ok":true,"v":1,"events":[...]}`,
    /// the last N events the daemon keeps in memory (oldest first); `limit` optional.
    case events(limit: Int?)
    /// `{"cmd":"label","episode":N,"label":"not-cry"}` (`episode` may be `"last"`) ->
    /// `{"ok":true,"v":1,"label":{the label event}}`; the episode's audio must still be kept.
    case label(episode: EpisodeReference, label: EpisodeLabel)
    /// `{"cmd":"reload"}` -> `{"ok":true,"v":1,"models":{...},"adapted":[...]}` once the models
    /// are loaded and checked (they are swapped in between frames); an error keeps the old ones.
    case reload
    /// `{"cmd":"adapt"}` -> `{"ok":true,"v":1,"adaptation":{...}}` once `crymodel adapt` has
    /// started as a low-priority child of the daemon; progress and result in the status's
    /// `adaptation`; the models it writes are reloaded when it ends.
    case adapt

    public var json: JSONValue {
        switch self {
        case .status: return .object([("cmd", .string("status"))])
        case .subscribe: return .object([("cmd", .string("subscribe"))])
        case .events(let limit):
            var members: [(String, JSONValue)] = [("cmd", .string("events"))]
            if let limit { members.append(("limit", .number(Double(limit)))) }
            return .object(members)
        case .label(let episode, let label):
            return .object([("cmd", .string("label")), ("episode", episode.json), ("label", .string(label.rawValue))])
        case .reload: return .object([("cmd", .string("reload"))])
        case .adapt: return .object([("cmd", .string("adapt"))])
        }
    }

    public var line: String { json.description + "\n" }

    /// Parses one request line (without its newline).
    public static func parse(line: String) throws(ControlProtocolError) -> ControlRequest {
        if line.utf8.count > maxRequestLineBytes {
            throw .badRequest("request line longer than \(maxRequestLineBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw .badRequest("malformed request: \(error)")
        }
        guard case .object(let members) = value else {
            throw .badRequest("request must be a JSON object like {\"cmd\":\"status\"}")
        }
        // {"cmd":"status","cmd":"subscribe"}: which one was meant? Refuse rather than guess.
        var seen: Set<String> = []
        for (key, _) in members where !seen.insert(key).inserted {
            throw .badRequest("duplicate field \"\(key)\"")
        }
        guard let cmdValue = value["cmd"] else { throw .badRequest("request has no \"cmd\"") }
        guard let cmd = cmdValue.stringValue else { throw .badRequest("\"cmd\" must be a string") }
        let allowed: Set<String>
        let request: ControlRequest
        switch cmd {
        case "status":
            allowed = ["cmd"]
            request = .status
        case "subscribe":
            allowed = ["cmd"]
            request = .subscribe
        case "events":
            allowed = ["cmd", "limit"]
            var limit: Int?
            if let l = value["limit"], !l.isNull {
                guard let n = l.intValue, n >= 0 else {
                    throw .badRequest("\"limit\" must be a non-negative integer, got \(l)")
                }
                limit = n
            }
            request = .events(limit: limit)
        case "label":
            allowed = ["cmd", "episode", "label"]
            guard let e = value["episode"] else { throw .badRequest("label request has no \"episode\"") }
            guard let l = value["label"] else { throw .badRequest("label request has no \"label\"") }
            guard let text = l.stringValue else { throw .badRequest("\"label\" must be a string, got \(l)") }
            request = .label(episode: try EpisodeReference.parse(json: e), label: try EpisodeLabel.parse(text))
        case "reload":
            allowed = ["cmd"]
            request = .reload
        case "adapt":
            allowed = ["cmd"]
            request = .adapt
        default:
            throw .badRequest("unknown cmd \"\(cmd)\" (known: status, subscribe, events, label, reload, adapt)")
        }
        if let extra = members.first(where: { !allowed.contains($0.0) }) {
            throw .badRequest("unknown field \"\(extra.0)\" for cmd \"\(cmd)\"")
        }
        return request
    }
}

/// Response lines, newline included.
public enum ControlResponse {
    public static func status(_ status: DaemonStatus) -> String {
        JSONValue.object([("ok", .bool(true)), ("v", .number(Double(protocolVersion))), ("status", status.json)])
            .description + "\n"
    }

    public static let subscribed = JSONValue.object([("ok", .bool(true))]).description + "\n"

    public static func events(_ events: [MonitorEvent]) -> String {
        JSONValue.object([("ok", .bool(true)), ("v", .number(Double(protocolVersion))),
                          ("events", .array(events.map(\.json)))]).description + "\n"
    }

    public static func labelled(_ event: MonitorEvent) -> String {
        JSONValue.object([("ok", .bool(true)), ("v", .number(Double(protocolVersion))), ("label", event.json)])
            .description + "\n"
    }

    public static func reloaded(models: [(String, String)], adapted: [String]) -> String {
        JSONValue.object([("ok", .bool(true)), ("v", .number(Double(protocolVersion))),
                          ("models", .object(models.map { ($0.0, JSONValue.string($0.1)) })),
                          ("adapted", .array(adapted.map(JSONValue.string)))]).description + "\n"
    }

    public static func adaptation(_ a: AdaptationStatus) -> String {
        JSONValue.object([("ok", .bool(true)), ("v", .number(Double(protocolVersion))), ("adaptation", a.json)])
            .description + "\n"
    }

    public static func error(_ message: String) -> String {
        JSONValue.object([("ok", .bool(false)), ("error", .string(message))]).description + "\n"
    }
}

/// What `{"cmd":"status"}` reports (interfaces.md: at least version, uptime, input, state,
/// frames processed, audio seconds, ring fill and dropped samples, xruns, current episode,
/// last need event, episodes today, model names; plus the event log's health).
public struct DaemonStatus: Sendable, Equatable {
    public var version: String = ""
    public var pid: Int = 0
    public var uptimeSeconds: Double = 0
    /// `alsa:PCM` or `wav:PATH`.
    public var input: String = ""
    /// `starting`, `listening`, `cry`, `no_device`, `finished`, `stopping`.
    public var state: String = "starting"
    /// Feature frames through the pipeline (hop 10 ms).
    public var framesProcessed: Int = 0
    /// Seconds of audio consumed from the ring (sample counter / rate).
    public var audioSeconds: Double = 0
    public var sampleRate: Int = 0
    public var ringFill: Int = 0
    public var ringCapacity: Int = 0
    public var droppedSamples: Int = 0
    public var xruns: Int = 0
    public var currentEpisode: Int?
    public var lastNeed: MonitorEvent?
    public var episodesToday: Int = 0
    public var causeModel: String?
    public var detectorModel: String?
    /// Why the daemon is degraded (event log unwritable...), nil when healthy.
    public var degraded: String?
    public var eventLog: String = ""
    /// Events waiting to be written to the event log (it failed; they are retried in order).
    public var pendingEvents: Int = 0
    /// Events the event log could not keep (pending queue overflowed while degraded).
    public var lostEvents: Int = 0
    public var subscribers: Int = 0
    /// Which of the models in use came from `[models] adapted_dir` ("detector", "cause").
    public var modelsAdapted: [String] = []
    /// Kept episode audio: directory (nil: keeping is off), episodes and bytes kept, and
    /// episodes still being written.
    public var episodesDir: String?
    public var episodesKept: Int = 0
    public var episodesBytes: Int = 0
    public var episodesWriting: Int = 0
    /// The MQTT connection; nil (and no `"mqtt"` member) when MQTT is off.
    public var mqtt: MQTTLinkStatus?
    /// The last adaptation started by `{"cmd":"adapt"}` (state `idle` when none).
    public var adaptation = AdaptationStatus()

    public init() {}

    public var json: JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var members: [(String, JSONValue)] = [
            ("version", .string(version)),
            ("pid", .number(Double(pid))),
            ("uptime_s", .fixed(uptimeSeconds, decimals: 1)),
            ("input", .string(input)),
            ("state", .string(state)),
            ("frames_processed", .number(Double(framesProcessed))),
            ("audio_seconds", .fixed(audioSeconds, decimals: 3)),
            ("sample_rate", .number(Double(sampleRate))),
            ("ring_fill", .number(Double(ringFill))),
            ("ring_capacity", .number(Double(ringCapacity))),
            ("dropped_samples", .number(Double(droppedSamples))),
            ("xruns", .number(Double(xruns))),
            ("current_episode", currentEpisode.map { .number(Double($0)) } ?? .null),
            ("last_need", lastNeed?.json ?? .null),
            ("episodes_today", .number(Double(episodesToday))),
            ("models", .object([("cause", opt(causeModel)), ("detector", opt(detectorModel))])),
            ("degraded", opt(degraded)),
            ("event_log", .string(eventLog)),
            ("pending_events", .number(Double(pendingEvents))),
            ("lost_events", .number(Double(lostEvents))),
            ("subscribers", .number(Double(subscribers))),
            ("models_adapted", .array(modelsAdapted.map(JSONValue.string))),
            ("episodes", .object([
                ("dir", opt(episodesDir)),
                ("kept", .number(Double(episodesKept))),
                ("bytes", .number(Double(episodesBytes))),
                ("writing", .number(Double(episodesWriting))),
            ])),
        ]
        if let mqtt { members.append(("mqtt", mqtt.json)) }
        members.append(("adaptation", adaptation.json))
        return .object(members)
    }

    /// Reads a status object; missing fields keep their defaults (older or newer daemons).
    public init(json: JSONValue) throws(ControlProtocolError) {
        guard case .object = json else { throw .badMessage("status is not a JSON object") }
        version = json["version"]?.stringValue ?? ""
        pid = json["pid"]?.intValue ?? 0
        uptimeSeconds = json["uptime_s"]?.doubleValue ?? 0
        input = json["input"]?.stringValue ?? ""
        state = json["state"]?.stringValue ?? "unknown"
        framesProcessed = json["frames_processed"]?.intValue ?? 0
        audioSeconds = json["audio_seconds"]?.doubleValue ?? 0
        sampleRate = json["sample_rate"]?.intValue ?? 0
        ringFill = json["ring_fill"]?.intValue ?? 0
        ringCapacity = json["ring_capacity"]?.intValue ?? 0
        droppedSamples = json["dropped_samples"]?.intValue ?? 0
        xruns = json["xruns"]?.intValue ?? 0
        currentEpisode = json["current_episode"]?.intValue
        if let need = json["last_need"], !need.isNull { lastNeed = try MonitorEvent(json: need) }
        episodesToday = json["episodes_today"]?.intValue ?? 0
        causeModel = json["models"]?["cause"]?.stringValue
        detectorModel = json["models"]?["detector"]?.stringValue
        degraded = json["degraded"]?.stringValue
        eventLog = json["event_log"]?.stringValue ?? ""
        pendingEvents = json["pending_events"]?.intValue ?? 0
        lostEvents = json["lost_events"]?.intValue ?? 0
        subscribers = json["subscribers"]?.intValue ?? 0
        modelsAdapted = json["models_adapted"]?.arrayValue?.compactMap(\.stringValue) ?? []
        episodesDir = json["episodes"]?["dir"]?.stringValue
        episodesKept = json["episodes"]?["kept"]?.intValue ?? 0
        episodesBytes = json["episodes"]?["bytes"]?.intValue ?? 0
        episodesWriting = json["episodes"]?["writing"]?.intValue ?? 0
        if let m = json["mqtt"], !m.isNull { mqtt = try MQTTLinkStatus(json: m) }
        if let a = json["adaptation"], !a.isNull { adaptation = AdaptationStatus(json: a) }
    }
}

/// `monitorctl adapt`: the daemon's `crymodel adapt` child (status member `adaptation`).
public struct AdaptationStatus: Sendable, Equatable {
    /// `idle` (none started), `running`, `done` (both models written or skipped), `refused`
    /// (a model was refused as worse than the shipped one; the other may be written),
    /// `failed` (could not run, or bad episodes/models).
    public var state = "idle"
    /// The child's process id while it runs.
    public var pid: Int?
    /// Its last progress line (`detector: adapting on 33 episodes (60 steps)`...).
    public var progress: String?
    /// How it ended: the exit status and what happened (refusal, error, the reload's result).
    public var exitStatus: Int?
    public var result: String?
    /// Seconds since it started (running) or that it took (ended).
    public var seconds: Double?

    public init(state: String = "idle") { self.state = state }

    public var json: JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        return .object([
            ("state", .string(state)),
            ("pid", pid.map { .number(Double($0)) } ?? .null),
            ("progress", opt(progress)),
            ("exit_status", exitStatus.map { .number(Double($0)) } ?? .null),
            ("result", opt(result)),
            ("seconds", seconds.map { .fixed($0, decimals: 1) } ?? .null),
        ])
    }

    public init(json: JSONValue) {
        state = json["state"]?.stringValue ?? "idle"
        pid = json["pid"]?.intValue
        progress = json["progress"]?.stringValue
        exitStatus = json["exit_status"]?.intValue
        result = json["result"]?.stringValue
        seconds = json["seconds"]?.doubleValue
    }
}
