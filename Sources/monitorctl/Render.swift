import ControlProtocol

/// Human-readable status, one fact per line.
func render(_ s: DaemonStatus) -> String {
    var lines: [String] = []
    func row(_ name: String, _ value: String) {
        lines.append(pad(name, 12) + value)
    }
    row("daemon", "babymonitord \(s.version) (pid \(s.pid)), up \(duration(s.uptimeSeconds))")
    row("input", s.sampleRate > 0 ? "\(s.input) (\(s.sampleRate) Hz)" : s.input)
    row("state", s.state)
    row("audio", "\(fixed(s.audioSeconds, 1)) s processed, \(s.framesProcessed) frames")
    row("ring", "\(s.ringFill)/\(s.ringCapacity) samples, \(s.droppedSamples) dropped, \(s.xruns) xruns")
    row("episode", (s.currentEpisode.map { "\($0) (crying now)" } ?? "none") + ", \(s.episodesToday) today")
    if let need = s.lastNeed {
        row("last need", renderNeed(need))
    } else {
        row("last need", "none")
    }
    func model(_ role: String, _ path: String?) -> String {
        guard let path else { return "\(role) none" }
        return "\(role) \(path)" + (s.modelsAdapted.contains(role) ? " (adapted to this home)" : "")
    }
    row("models", model("detector", s.detectorModel) + ", " + model("cause", s.causeModel))
    if let dir = s.episodesDir {
        var kept = "\(s.episodesKept) kept in \(dir) (\(fixed(Double(s.episodesBytes) / 1e6, 1)) MB)"
        if s.episodesWriting > 0 { kept += ", \(s.episodesWriting) being written" }
        row("episodes", kept)
    } else {
        row("episodes", "audio not kept ([episodes] keep_mb = 0)")
    }
    if let d = s.degraded {
        row("DEGRADED", d)
    }
    var log = s.eventLog
    if s.pendingEvents > 0 { log += " (\(s.pendingEvents) events waiting to be written)" }
    if s.lostEvents > 0 { log += " (\(s.lostEvents) events lost)" }
    row("event log", log)
    row("subscribers", "\(s.subscribers)")
    if let m = s.mqtt { row("mqtt", renderMQTT(m)) }
    if s.adaptation.state != "idle" { row("adaptation", renderAdaptation(s.adaptation)) }
    return lines.joined(separator: "\n")
}

/// `running for 12 s (pid 4242): detector: adapting on 33 episodes (60 steps)` /
/// `done in 24.1 s: adapted models written to ...; reloaded (adapted: detector, cause)`
func renderAdaptation(_ a: AdaptationStatus) -> String {
    let took = a.seconds.map { " \(fixed($0, 1)) s" } ?? ""
    switch a.state {
    case "running": return "running for\(took) (pid \(a.pid ?? 0)): \(a.progress ?? "")"
    default: return "\(a.state)" + (took.isEmpty ? "" : " in\(took)") + ": \(a.result ?? "")"
    }
}

/// `2026-11-24T21:03:12.481Z  cry_start   episode 12 at 4312.250 s`
func render(_ e: MonitorEvent) -> String {
    let head = WallClock.iso8601(millis: e.timestampMillis) + "  " + pad(e.type, 11)
    var parts: [String] = []
    if let ep = e.episode { parts.append("episode \(ep)") }
    switch e.type {
    case MonitorEvent.Kind.need:
        parts = [renderNeed(e)]
    case MonitorEvent.Kind.cryStart:
        if let t = e.tAudio { parts.append("at \(fixed(t, 3)) s") }
        if let c = e["t_confirmed"]?.doubleValue { parts.append("(confirmed at \(fixed(c, 3)) s)") }
        return head + " " + parts.joined(separator: " ")
    case MonitorEvent.Kind.cryEnd:
        if let d = e["duration_s"]?.doubleValue { parts.append("lasted \(fixed(d, 1)) s") }
        if let p = e["peak_p_cry"]?.doubleValue { parts.append("peak p(cry) \(fixed(p, 2))") }
    case MonitorEvent.Kind.label:
        parts.append("labelled \(e["label"]?.stringValue ?? "?")")
        if let all = e["labels"]?.arrayValue, all.count > 1 {
            parts.append("(labels: \(all.compactMap(\.stringValue).joined(separator: ", ")))")
        }
    default:
        for (key, value) in e.fields {
            switch value {
            case .string(let s): parts.append("\(key)=\(s)")
            default: parts.append("\(key)=\(value)")
            }
        }
    }
    if let t = e.tAudio, e.type != MonitorEvent.Kind.need { parts.append("at \(fixed(t, 3)) s") }
    return head + " " + parts.joined(separator: " ")
}

/// `hungry 0.71 (final), episode 12 at 4321.050 s; hungry 0.71 tired 0.12 ...`
func renderNeed(_ e: MonitorEvent) -> String {
    var s: String
    if e["label"]?.stringValue == "unsure" {
        // Below [classifier] min_confidence: a cry without a cause (the best guess stays in probs).
        let guess = e["probs"]?.objectValue?.compactMap { k, v in v.doubleValue.map { (k, $0) } }.max { $0.1 < $1.1 }
        s = "cry, cause unsure" + (guess.map { " (best guess \($0.0) \(fixed($0.1, 2)))" } ?? "")
    } else {
        s = "\(e["label"]?.stringValue ?? "?") \(fixed(e["confidence"]?.doubleValue ?? 0, 2))"
    }
    if e["final"]?.boolValue == true { s += " (final)" }
    if let ep = e.episode { s += ", episode \(ep)" }
    if let t = e.tAudio { s += " at \(fixed(t, 3)) s" }
    if let probs = e["probs"]?.objectValue {
        let sorted = probs.compactMap { k, v in v.doubleValue.map { (k, $0) } }.sorted { $0.1 > $1.1 }
        s += "; " + sorted.map { "\($0.0) \(fixed($0.1, 2))" }.joined(separator: " ")
    }
    return s
}

func fixed(_ x: Double, _ decimals: Int) -> String {
    JSONValue.fixed(x, decimals: decimals).description
}

func duration(_ seconds: Double) -> String {
    let t = Int(seconds)
    let (d, h, m, s) = (t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60)
    if d > 0 { return "\(d)d \(h)h \(m)m" }
    if h > 0 { return "\(h)h \(m)m \(s)s" }
    if m > 0 { return "\(m)m \(s)s" }
    return "\(s)s"
}

func basename(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}

/// `connected to 10.0.0.2:1883 (room nursery), 0 queued, 42 sent` or
/// `retrying 10.0.0.2:1883: Connection refused; 12 events queued (of 1000), 0 dropped`
func renderMQTT(_ m: MQTTLinkStatus) -> String {
    let broker = m.broker + (m.tls ? " (TLS)" : "")
    if m.state == "connected" {
        var s = "connected to \(broker), room \(m.room), \(m.sent) events sent"
        if m.queued > 0 { s += ", \(m.queued) queued" }
        if m.dropped > 0 { s += ", \(m.dropped) dropped (queue full)" }
        return s
    }
    var s = "\(m.state) \(broker)"
    if let r = m.reason { s += ": \(r)" }
    s += "; \(m.queued) events queued (of \(m.queueCapacity)), \(m.dropped) dropped"
    return s
}
