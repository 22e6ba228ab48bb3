#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Version of the event and socket formats (`"v"`); bumped only when a field is renamed
/// or removed (interfaces.md).
public let protocolVersion = 1

/// One event of the log and of the socket's subscription stream (interfaces.md).
///
///     {"v":1,"ts":"2026-11-24T21:03:12.481Z","type":"cry_start","episode":12,"t_audio":4312.250}
///
/// `ts` is wall-clock time when the event was made; `t_audio` is seconds of audio since the
/// stream's first sample, from the sample counter (3 decimals). Type-specific fields follow
/// in `fields`, in the order they are written.
public struct MonitorEvent: Sendable, Equatable {
    public var version: Int
    /// Milliseconds since the Unix epoch (UTC).
    public var timestampMillis: Int64
    public var type: String
    public var episode: Int?
    public var tAudio: Double?
    public var fields: [(String, JSONValue)]

    public init(type: String, episode: Int? = nil, tAudio: Double? = nil,
                fields: [(String, JSONValue)] = [], timestampMillis: Int64 = WallClock.nowMillis()) {
        self.version = protocolVersion
        self.timestampMillis = timestampMillis
        self.type = type
        self.episode = episode
        self.tAudio = tAudio
        self.fields = fields
    }

    public static func == (a: MonitorEvent, b: MonitorEvent) -> Bool {
        a.json == b.json
    }

    /// The value of a type-specific field.
    public subscript(field: String) -> JSONValue? {
        fields.first(where: { $0.0 == field })?.1
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("v", .number(Double(version))),
            ("ts", .string(WallClock.iso8601(millis: timestampMillis))),
            ("type", .string(type)),
        ]
        if let episode { members.append(("episode", .number(Double(episode)))) }
        if let tAudio { members.append(("t_audio", .fixed(tAudio, decimals: 3))) }
        members.append(contentsOf: fields)
        return .object(members)
    }

    /// The event as one line of JSON, newline included.
    public var line: String { json.description + "\n" }

    /// Reads an event back from its JSON object (the client side of the socket).
    public init(json: JSONValue) throws(ControlProtocolError) {
        guard case .object(let members) = json else { throw .badMessage("event is not a JSON object") }
        guard let type = json["type"]?.stringValue else { throw .badMessage("event has no \"type\" string") }
        guard let ts = json["ts"]?.stringValue, let millis = WallClock.parseISO8601(ts) else {
            throw .badMessage("event \"\(type)\" has no valid \"ts\"")
        }
        self.version = json["v"]?.intValue ?? protocolVersion
        self.timestampMillis = millis
        self.type = type
        self.episode = json["episode"]?.intValue
        self.tAudio = json["t_audio"]?.doubleValue
        let known: Set<String> = ["v", "ts", "type", "episode", "t_audio"]
        self.fields = members.filter { !known.contains($0.0) }
    }
}

// MARK: the event types of interfaces.md

extension MonitorEvent {
    public enum Kind {
        public static let cryStart = "cry_start"
        public static let need = "need"
        public static let cryEnd = "cry_end"
        public static let started = "started"
        public static let stopping = "stopping"
        public static let deviceLost = "device_lost"
        public static let deviceOK = "device_ok"
        public static let overrun = "overrun"
        public static let degraded = "degraded"
    }

    /// Start of a cry episode; `tAudio` is the estimated onset, `tConfirmed` when the
    /// detector was sure.
    public static func cryStart(episode: Int, tAudio: Double, tConfirmed: Double? = nil) -> MonitorEvent {
        var fields: [(String, JSONValue)] = []
        if let tConfirmed { fields.append(("t_confirmed", .fixed(tConfirmed, decimals: 3))) }
        return MonitorEvent(type: Kind.cryStart, episode: episode, tAudio: tAudio, fields: fields)
    }

    /// A cause decision. `probs` are written in the order given (callers pass the model's
    /// class order or sorted names).
    public static func need(episode: Int, tAudio: Double, label: String, confidence: Double,
                            probs: [(String, Double)], final: Bool) -> MonitorEvent {
        MonitorEvent(type: Kind.need, episode: episode, tAudio: tAudio, fields: [
            ("label", .string(label)),
            ("confidence", .fixed(confidence, decimals: 4)),
            ("probs", .object(probs.map { ($0.0, JSONValue.fixed($0.1, decimals: 4)) })),
            ("final", .bool(final)),
        ])
    }

    /// `peakProbability`: the detector's highest p(cry) over the episode (`peak_p_cry`).
    public static func cryEnd(episode: Int, tAudio: Double, duration: Double, peakProbability: Double? = nil) -> MonitorEvent {
        var fields: [(String, JSONValue)] = [("duration_s", .fixed(duration, decimals: 3))]
        if let peakProbability { fields.append(("peak_p_cry", .fixed(peakProbability, decimals: 4))) }
        return MonitorEvent(type: Kind.cryEnd, episode: episode, tAudio: tAudio, fields: fields)
    }

    public static func started(version: String, input: String, models: [(String, String)], tAudio: Double = 0) -> MonitorEvent {
        MonitorEvent(type: Kind.started, tAudio: tAudio, fields: [
            ("version", .string(version)),
            ("input", .string(input)),
            ("pid", .number(Double(getpid()))),
            ("models", .object(models.map { ($0.0, JSONValue.string($0.1)) })),
        ])
    }

    public static func stopping(reason: String, tAudio: Double) -> MonitorEvent {
        MonitorEvent(type: Kind.stopping, tAudio: tAudio, fields: [("reason", .string(reason))])
    }

    public static func deviceLost(device: String, error: String, tAudio: Double) -> MonitorEvent {
        MonitorEvent(type: Kind.deviceLost, tAudio: tAudio, fields: [
            ("device", .string(device)), ("error", .string(error)),
        ])
    }

    public static func deviceOK(device: String, tAudio: Double) -> MonitorEvent {
        MonitorEvent(type: Kind.deviceOK, tAudio: tAudio, fields: [("device", .string(device))])
    }

    /// Samples lost since the previous overrun event (`dropped_samples`, ring full) and
    /// capture xruns, with running totals.
    public static func overrun(droppedSamples: Int, xruns: Int, totalDroppedSamples: Int, totalXruns: Int,
                               tAudio: Double) -> MonitorEvent {
        MonitorEvent(type: Kind.overrun, tAudio: tAudio, fields: [
            ("dropped_samples", .number(Double(droppedSamples))),
            ("xruns", .number(Double(xruns))),
            ("total_dropped_samples", .number(Double(totalDroppedSamples))),
            ("total_xruns", .number(Double(totalXruns))),
        ])
    }

    /// Something stopped working (or, with `recovered: true`, works again). `component`
    /// names what (`event_log`, ...).
    public static func degraded(component: String, reason: String, recovered: Bool = false,
                                extra: [(String, JSONValue)] = []) -> MonitorEvent {
        MonitorEvent(type: Kind.degraded, fields: [
            ("component", .string(component)),
            ("reason", .string(reason)),
            ("recovered", .bool(recovered)),
        ] + extra)
    }
}

// MARK: wall clock

public enum WallClock {
    public static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// `2026-11-24T21:03:12.481Z`
    public static func iso8601(millis: Int64) -> String {
        var seconds = time_t(millis >= 0 ? millis / 1000 : (millis - 999) / 1000)
        let ms = Int(millis - Int64(seconds) * 1000)
        var tm = tm()
        gmtime_r(&seconds, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }

    /// Parses what `iso8601(millis:)` writes (UTC, `Z`, 0 to 9 fraction digits).
    public static func parseISO8601(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for c in b[from..<from + len] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return nil }
                v = v * 10 + Int(c - UInt8(ascii: "0"))
            }
            return v
        }
        guard let year = num(0, 4), b[4] == UInt8(ascii: "-"), let month = num(5, 2), b[7] == UInt8(ascii: "-"),
              let day = num(8, 2), b[10] == UInt8(ascii: "T"), let hour = num(11, 2), b[13] == UInt8(ascii: ":"),
              let minute = num(14, 2), b[16] == UInt8(ascii: ":"), let second = num(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var millis = 0
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count - 21 >= 1, b.count - 21 <= 9,
                  let frac = num(20, b.count - 21) else { return nil }
            var f = frac
            var digits = b.count - 21
            while digits > 3 { f /= 10; digits -= 1 }
            while digits < 3 { f *= 10; digits += 1 }
            millis = f
        } else if b.count != 20 {
            return nil
        }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Int64(((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + Int64(millis)
    }
}
