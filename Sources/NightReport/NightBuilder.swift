import ControlProtocol

extension Night {
    /// Builds the report of `[since, until]` from the log's lines (all files, oldest first).
    ///
    /// How times are placed (interfaces.md: `ts` is wall-clock time, `t_audio` counts audio
    /// from the run's first sample):
    /// - A run begins at a `started` event (or where `t_audio` goes back: a lost `started`).
    ///   `t_audio` is compared only within one run.
    /// - A live run places each event at its `ts`. When `ts - t_audio` jumps by more than
    ///   `clockStepThreshold` between two events with no device loss or overrun between them,
    ///   the wall clock was set (NTP after a boot with a stale clock, a manual change): the
    ///   run's earlier events are moved by the jump, the later clock taken as the right one,
    ///   and the step is reported.
    /// - A replay (`input` `wav:...`) places each event at the run's start plus its `t_audio`:
    ///   the recorded night as if it were live then (a fast replay writes a night's events
    ///   within seconds of `ts`).
    /// - An episode starts at its onset: the `cry_start` event's time less the confirmation
    ///   lag (`t_confirmed - t_audio`), and lasts `cry_end.duration_s` (audio time). Without
    ///   `cry_end` (daemon killed) it lasts until the run's last event with `t_audio`.
    ///
    /// `isRunning(pid)` says whether the last run's daemon is still alive (its open episode
    /// is then ongoing and the run extends to `until`). With `extendToLastEvent` the window
    /// reaches at least the end of the last replay (a fast replay places a night after "now").
    public static func build(lines: [LogLine], since: Int64, until: Int64, extendToLastEvent: Bool = false,
                             files: [String] = [], notes: [String] = [], isRunning: (Int) -> Bool = { _ in false }) -> Night {
        var b = Builder()
        b.source.files = files
        b.source.notes = notes
        for line in lines { b.add(line) }
        return b.finish(since: since, until: until, extendToLastEvent: extendToLastEvent, isRunning: isRunning)
    }

    /// A jump of `ts - t_audio` larger than this (seconds) within a run is a clock change;
    /// smaller ones are processing lag (at most the ring buffer) and the onset estimate.
    public static let clockStepThreshold = 60.0
}

private struct Entry {
    var line: LogLine
    var event: MonitorEvent
    var wall: Int64 = 0
}

private struct Builder {
    var source = Night.Source()
    var runs: [[Entry]] = []

    mutating func add(_ line: LogLine) {
        source.linesRead += 1
        var event: MonitorEvent
        do {
            event = try MonitorEvent(json: JSONValue.parse(line.text))
        } catch {
            // A line cut by a crash (or NULs left by a power cut) has the next run's first
            // line glued to it: keep the event that starts after the fragment.
            let text = Array(line.text.utf8)
            let marker = Array(#"{"v":"#.utf8)
            var recovered: MonitorEvent? = nil
            if text.count > marker.count, let at = (1...(text.count - marker.count)).reversed().first(where: {
                text[$0] == marker[0] && Array(text[$0..<$0 + marker.count]) == marker
            }) {
                recovered = try? MonitorEvent(json: JSONValue.parse(String(decoding: text[at...], as: UTF8.self)))
            }
            skip(line, recovered != nil || (line.text.hasPrefix("{") && !line.text.hasSuffix("}"))
                 ? "cut short (a crash mid-write?)" : "\(error)")
            guard let recovered else { return }
            event = recovered
        }
        // Audio time is seconds of a stream: anything else (negative, beyond 30 years) is
        // not used as one (and would overflow milliseconds).
        event.tAudio = event.tAudio.flatMap(audioSeconds)
        let lastT = runs.last?.last(where: { $0.event.tAudio != nil })?.event.tAudio
        // An onset may lie a little before the last event written; 10 s back is a new stream.
        let wentBack = lastT.map { (event.tAudio ?? .infinity) < $0 - 10 } ?? false
        if runs.isEmpty || event.type == MonitorEvent.Kind.started || wentBack {
            runs.append([])
        }
        runs[runs.count - 1].append(Entry(line: line, event: event))
    }

    mutating func skip(_ line: LogLine, _ why: String) {
        source.skippedLines += 1
        if source.skipped.count < 5 { source.skipped.append("\(line.file):\(line.number): \(why)") }
    }

    func finish(since: Int64, until requestedUntil: Int64, extendToLastEvent: Bool, isRunning: (Int) -> Bool) -> Night {
        var until = requestedUntil
        var episodes: [Night.Episode] = []
        var latestByNumber: [Int: Int] = [:]
        var problems: [Night.Problem] = []
        var gaps: [Night.Gap] = []
        var runInfo: [Night.Run] = []
        var source = self.source

        for (r, raw) in runs.enumerated() {
            var entries = raw
            let started = entries.first.flatMap { $0.event.type == MonitorEvent.Kind.started ? $0.event : nil }
            let input = started?["input"]?.stringValue
            let byAudio = input?.hasPrefix("wav:") == true
            if byAudio { placeByAudioTime(&entries) } else { problems += placeByWallClock(&entries) }

            var run = Night.Run(number: r + 1, start: entries.first!.wall, end: entries.last!.wall, input: input,
                                version: started?["version"]?.stringValue, pid: started?["pid"]?.intValue,
                                ended: "unknown", placedByAudioTime: byAudio)
            var open: [Int: Int] = [:]          // episode number -> index in `episodes`
            var deviceLost: (Int64, Int)? = nil  // since, problem index
            var lastAudio: (t: Double, wall: Int64)? = nil
            var stopped = false
            for e in entries {
                let ev = e.event
                if let t = ev.tAudio, ev.type != MonitorEvent.Kind.cryStart { lastAudio = (t, e.wall) }
                switch ev.type {
                case MonitorEvent.Kind.cryStart:
                    guard let n = ev.episode else { continue }
                    // A live event's ts is when the onset was confirmed; a replay's wall is the onset.
                    let confirmed = ev["t_confirmed"]?.doubleValue.flatMap(audioSeconds) ?? ev.tAudio ?? 0
                    let onsetLag = byAudio ? 0 : max(0, min(60, confirmed - (ev.tAudio ?? 0)))
                    let start = e.wall - Int64((onsetLag * 1000).rounded())
                    episodes.append(Night.Episode(number: n, run: r + 1, start: start, end: start, durationSeconds: 0,
                                                  ended: false, ongoing: false, need: nil, labels: []))
                    open[n] = episodes.count - 1
                    latestByNumber[n] = episodes.count - 1
                    if let t = ev.tAudio, lastAudio == nil || t > lastAudio!.t { lastAudio = (t, e.wall) }
                case MonitorEvent.Kind.need:
                    guard let n = ev.episode, let i = open[n] ?? latestByNumber[n], let label = ev["label"]?.stringValue,
                          let confidence = ev["confidence"]?.doubleValue else { continue }
                    let final = ev["final"]?.boolValue ?? false
                    if episodes[i].need?.final == true && !final { continue }
                    var probs: [String: Double] = [:]
                    for (k, v) in ev["probs"]?.objectValue ?? [] { if let p = v.doubleValue { probs[k] = p } }
                    episodes[i].need = Night.Need(label: label, confidence: confidence, final: final, probs: probs)
                case MonitorEvent.Kind.cryEnd:
                    guard let n = ev.episode, let i = open.removeValue(forKey: n) else { continue }
                    var d = ev["duration_s"]?.doubleValue.flatMap(audioSeconds) ?? 0
                    if d <= 0, let t = ev.tAudio, let s = entries.first(where: { $0.event.type == MonitorEvent.Kind.cryStart && $0.event.episode == n })?.event.tAudio {
                        d = max(0, t - s)
                    }
                    episodes[i].durationSeconds = d
                    episodes[i].end = episodes[i].start + Int64((d * 1000).rounded())
                    episodes[i].ended = true
                case "label":
                    guard let n = ev.episode, let label = ev["label"]?.stringValue else { continue }
                    if let i = latestByNumber[n] { episodes[i].labels.append(label) } else { source.orphanLabels += 1 }
                case MonitorEvent.Kind.deviceLost:
                    let device = ev["device"]?.stringValue ?? "the capture device"
                    let error = ev["error"]?.stringValue.map { ": " + $0 } ?? ""
                    problems.append(Night.Problem(kind: ev.type, at: e.wall, until: nil, detail: "\(device) lost\(error)"))
                    if deviceLost == nil { deviceLost = (e.wall, problems.count - 1) }
                case MonitorEvent.Kind.deviceOK:
                    if let (at, p) = deviceLost {
                        problems[p].until = e.wall
                        gaps.append(Night.Gap(kind: .device, start: at, end: e.wall))
                        deviceLost = nil
                    }
                case MonitorEvent.Kind.overrun:
                    let dropped = ev["dropped_samples"]?.intValue ?? 0, xruns = ev["xruns"]?.intValue ?? 0
                    problems.append(Night.Problem(kind: ev.type, at: e.wall, until: nil,
                                                  detail: "\(dropped) samples dropped, \(xruns) capture xrun\(xruns == 1 ? "" : "s")"))
                case MonitorEvent.Kind.degraded:
                    let component = ev["component"]?.stringValue ?? "?"
                    let reason = ev["reason"]?.stringValue ?? ""
                    if ev["recovered"]?.boolValue == true {
                        if let p = problems.lastIndex(where: { $0.kind == ev.type && $0.until == nil && $0.detail.hasPrefix(component + ":") }) {
                            problems[p].until = e.wall
                        }
                    } else {
                        problems.append(Night.Problem(kind: ev.type, at: e.wall, until: nil, detail: "\(component): \(reason)"))
                    }
                case MonitorEvent.Kind.stopping:
                    run.ended = ev["reason"]?.stringValue ?? "stopped"
                    stopped = true
                default:
                    break
                }
            }
            let isLast = r == runs.count - 1
            let alive = isLast && !stopped && run.pid.map(isRunning) == true
            if alive {
                run.ended = "running"
                run.end = max(run.end, until)
            } else if !stopped {
                run.ended = "killed or crashed"
            }
            // Open episodes: the daemon stopped (or is) mid-cry.
            for (_, i) in open {
                let lastWall = lastAudio.map { $0.wall } ?? episodes[i].start
                if alive {
                    episodes[i].ongoing = true
                    episodes[i].end = max(episodes[i].start, run.end)
                } else {
                    episodes[i].end = max(episodes[i].start, lastWall)
                }
                episodes[i].durationSeconds = Double(episodes[i].end - episodes[i].start) / 1000
            }
            if let (at, _) = deviceLost {
                gaps.append(Night.Gap(kind: .device, start: at, end: run.end))
            }
            runInfo.append(run)
            if extendToLastEvent && run.placedByAudioTime {
                until = max(until, run.end, episodes.last?.end ?? run.end)
            }
        }

        // Between runs, and around them.
        for (i, run) in runInfo.enumerated() {
            let nextStart = i + 1 < runInfo.count ? runInfo[i + 1].start : nil
            let clean = run.ended != "killed or crashed"
            if !clean {
                let detail = nextStart == nil
                    ? "last event of the daemon, no `stopping`: killed, crashed, or running where this report cannot see it"
                    : "last event of the daemon, no `stopping`: killed or crashed"
                problems.append(Night.Problem(kind: "daemon_stopped", at: run.end, until: nextStart, detail: detail))
            }
            let end = nextStart ?? max(until, run.end)
            if end > run.end && run.ended != "running" {
                gaps.append(Night.Gap(kind: clean ? .notRunning : .unknown, start: run.end, end: end))
            }
        }
        if let first = runInfo.first, first.start > since {
            gaps.append(Night.Gap(kind: .notRunning, start: min(since, first.start), end: first.start))
        }
        if runInfo.isEmpty { gaps.append(Night.Gap(kind: .notRunning, start: since, end: until)) }

        // The window.
        let inWindow = episodes.filter { $0.end >= since && $0.start <= until }
        let windowProblems = problems.filter { ($0.until ?? $0.at) >= since && $0.at <= until }.sorted { $0.at < $1.at }
        let windowGaps = gaps.compactMap { g -> Night.Gap? in
            let s = max(g.start, since), t = min(g.end, until)
            return t > s ? Night.Gap(kind: g.kind, start: s, end: t) : nil
        }.sorted { $0.start < $1.start }
        let windowRuns = runInfo.filter { $0.end >= since && $0.start <= until }

        // Longest quiet stretch: listening time (runs, less device gaps) not covered by crying.
        var listening: [Night.Interval] = windowRuns.map { Night.Interval(start: max($0.start, since), end: min($0.end, until)) }
        for g in windowGaps where g.kind == .device { listening = subtract(listening, g.start, g.end) }
        for e in inWindow where !e.falseAlarm { listening = subtract(listening, e.start, e.end) }
        let longest = listening.filter { $0.end > $0.start }.max { $0.end - $0.start < $1.end - $1.start }

        return Night(since: since, until: until, episodes: inWindow, problems: windowProblems, gaps: windowGaps,
                     runs: windowRuns, longestQuiet: longest, source: source)
    }

    /// Places a replay's events at its start plus their audio time.
    func placeByAudioTime(_ entries: inout [Entry]) {
        let first = entries[0].event
        let base = first.timestampMillis - Int64(((first.tAudio ?? 0) * 1000).rounded())
        var last = base
        for i in entries.indices {
            if let t = entries[i].event.tAudio { last = base + Int64((t * 1000).rounded()) }
            entries[i].wall = last
        }
    }

    /// Places a live run's events at `ts`, undoing clock steps (see `Night.build`).
    func placeByWallClock(_ entries: inout [Entry]) -> [Night.Problem] {
        var steps: [Night.Problem] = []
        var fix: Int64 = 0
        var next: (index: Int, offset: Int64)? = nil   // the next event (later in the log) with t_audio
        var explained = false                        // a device loss or overrun lies between
        for i in entries.indices.reversed() {
            let ev = entries[i].event
            if [MonitorEvent.Kind.deviceLost, MonitorEvent.Kind.deviceOK, MonitorEvent.Kind.overrun].contains(ev.type) {
                explained = true
            }
            if let t = ev.tAudio {
                let offset = ev.timestampMillis - Int64((t * 1000).rounded())
                if let n = next {
                    let jump = n.offset - offset
                    if abs(Double(jump)) > Night.clockStepThreshold * 1000 && !(explained && jump > 0) {
                        let at = entries[n.index].event.timestampMillis + fix
                        steps.append(Night.Problem(kind: "clock_step", at: at, until: nil,
                                                   detail: "the wall clock was set \(jump > 0 ? "forward" : "back") by \(formatDuration(Double(abs(jump)) / 1000)); this run's earlier times are corrected by audio time"))
                        fix += jump
                    }
                }
                next = (i, offset)
                explained = false
            }
            entries[i].wall = ev.timestampMillis + fix
        }
        return steps
    }

    func subtract(_ list: [Night.Interval], _ s: Int64, _ t: Int64) -> [Night.Interval] {
        var out: [Night.Interval] = []
        for iv in list {
            if t <= iv.start || s >= iv.end { out.append(iv); continue }
            if s > iv.start { out.append(Night.Interval(start: iv.start, end: s)) }
            if t < iv.end { out.append(Night.Interval(start: t, end: iv.end)) }
        }
        return out
    }
}

/// A finite number of seconds within 0 ... 1e9 (about 30 years), else nil.
func audioSeconds(_ x: Double) -> Double? { x.isFinite && x >= 0 && x <= 1e9 ? x : nil }

/// `2h 05m`, `12m 30s`, `45s`
public func formatDuration(_ seconds: Double) -> String {
    let t = Int(seconds.rounded())
    let (h, m, s) = (t / 3600, t % 3600 / 60, t % 60)
    if h > 0 { return "\(h)h \(pad2(m))m" }
    if m > 0 { return "\(m)m \(pad2(s))s" }
    return "\(s)s"
}
