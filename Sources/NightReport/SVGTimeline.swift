import ControlProtocol

extension Night {
    /// Layout of the timeline picture, in SVG user units. 720 wide: on a phone (360 CSS px)
    /// it is drawn at half size, so text is 22-28 units to stay 11-14 px there.
    public struct TimelineLayout: Sendable {
        public var width = 720.0
        public var laneLeft = 30.0
        public var laneRight = 690.0
        public var laneTop = 152.0
        public var laneHeight = 100.0
        public init() {}

        /// x of an instant inside `[since, until]` (clamped to the lane).
        public func x(_ ms: Int64, since: Int64, until: Int64) -> Double {
            let span = Double(max(1, until - since))
            let f = min(1, max(0, Double(ms - since) / span))
            return laneLeft + f * (laneRight - laneLeft)
        }
    }

    /// Colours by need (Okabe-Ito: told apart with the common colour-vision deficiencies).
    public static let needColours: [(String, String)] = [
        ("hungry", "#E69F00"), ("tired", "#0072B2"), ("belly_pain", "#D55E00"),
        ("discomfort", "#CC79A7"), ("burping", "#009E73"),
    ]
    static let unsureColour = "#9A9A9A"

    public static func colour(for episode: Episode) -> String {
        guard let n = episode.need, !n.unsure else { return unsureColour }
        return needColours.first { $0.0 == n.label }?.1 ?? unsureColour
    }

    /// The night as an SVG timeline: episodes as bars coloured by need (`class="episode"`,
    /// `data-episode`), labelled false alarms hatched and crossed, device gaps and time
    /// without a daemon shaded, local hour ticks, a legend.
    public func svg(clock: LocalClock, layout: TimelineLayout = TimelineLayout()) -> String {
        let L = layout
        func x(_ ms: Int64) -> Double { L.x(ms, since: since, until: until) }
        let laneBottom = L.laneTop + L.laneHeight
        let legendTop = laneBottom + 80
        let legendRows = 5
        let height = legendTop + Double(legendRows) * 38 + 10
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(L.width))" height="\(n(height))" viewBox="0 0 \(n(L.width)) \(n(height))" \
            font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">
            <defs>
            <pattern id="hatch-device" width="12" height="12" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">\
            <rect width="12" height="12" fill="#FBE3E3"/><line x1="0" y1="0" x2="0" y2="12" stroke="#C62828" stroke-width="4"/></pattern>
            <pattern id="hatch-unknown" width="12" height="12" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">\
            <rect width="12" height="12" fill="#F2F2F2"/><line x1="0" y1="0" x2="0" y2="12" stroke="#BDBDBD" stroke-width="3"/></pattern>
            <pattern id="hatch-false" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">\
            <rect width="8" height="8" fill="#FFFFFF"/><line x1="0" y1="0" x2="0" y2="8" stroke="#777777" stroke-width="3"/></pattern>
            </defs>
            <rect width="100%" height="100%" fill="#FFFFFF"/>

            """
        // Title and summary.
        s += svgText(L.laneLeft, 40, "\(clock.dayName(since)) \(clock.hhmm(since)) – \(clock.dayName(until)) \(clock.hhmm(until))",
                  size: 28, weight: "bold")
        var summary = "\(episodes.count) episode\(episodes.count == 1 ? "" : "s") · \(formatDuration(cryingSeconds)) crying"
        if falseAlarms > 0 { summary += " · \(falseAlarms) false alarm\(falseAlarms == 1 ? "" : "s")" }
        s += svgText(L.laneLeft, 78, summary, size: 24)
        let deviceProblems = problems.filter { ["device_lost", "overrun", "degraded", "daemon_stopped"].contains($0.kind) }.count
        var second = longestQuiet.map { "Longest quiet \(formatDuration($0.seconds)) (\(clock.hhmm($0.start))–\(clock.hhmm($0.end)))" } ?? "No quiet time while listening"
        if deviceProblems > 0 { second += " · \(deviceProblems) problem\(deviceProblems == 1 ? "" : "s")" }
        s += svgText(L.laneLeft, 112, second, size: 22, fill: "#444444")

        // Lane, gaps, hour grid.
        s += "<rect x=\"\(n(L.laneLeft))\" y=\"\(n(L.laneTop))\" width=\"\(n(L.laneRight - L.laneLeft))\" height=\"\(n(L.laneHeight))\" fill=\"#F7F9FC\" stroke=\"#B0B7C3\" stroke-width=\"1.5\"/>\n"
        for g in gaps {
            let fill: String
            switch g.kind {
            case .device: fill = "url(#hatch-device)"
            case .notRunning: fill = "#DCDCDC"
            case .unknown: fill = "url(#hatch-unknown)"
            }
            s += "<rect class=\"gap\" data-kind=\"\(g.kind.rawValue)\" x=\"\(n(x(g.start)))\" y=\"\(n(L.laneTop))\" width=\"\(n(max(2, x(g.end) - x(g.start))))\" height=\"\(n(L.laneHeight))\" fill=\"\(fill)\"/>\n"
        }
        var ticks = hourTicks(clock: clock, minSpacing: 44 * Double(until - since) / (L.laneRight - L.laneLeft))
        // Whole hours as "22"; with quarter or half hours every label as "22:15".
        let minutesShown = ticks.contains { clock.fields($0).minute != 0 }
        if minutesShown {
            ticks.removeAll()
            ticks = hourTicks(clock: clock, minSpacing: 80 * Double(until - since) / (L.laneRight - L.laneLeft))
        }
        for t in ticks {
            let tx = x(t)
            s += "<line x1=\"\(n(tx))\" y1=\"\(n(L.laneTop))\" x2=\"\(n(tx))\" y2=\"\(n(laneBottom + 10))\" stroke=\"#C9CED8\" stroke-width=\"1\"/>\n"
            let f = clock.fields(t)
            let label = until - since > 2 * 86_400_000 ? "\(f.day)/\(f.month)"   // a long window: days
                : minutesShown ? "\(pad2(f.hour)):\(pad2(f.minute))" : pad2(f.hour)
            s += svgText(tx, laneBottom + 36, label, size: 22, anchor: "middle", fill: "#333333")
        }

        // Episodes: at least 5 units wide so a 20 s cry in a 12 h night still shows.
        for e in episodes {
            var x0 = x(e.start), x1 = max(x(e.end), x0 + 5)
            if x1 > L.laneRight { x0 -= x1 - L.laneRight; x1 = L.laneRight }
            let y = L.laneTop + 12, h = L.laneHeight - 24
            var title = "#\(e.number) \(clock.hhmm(e.start)) \(Night.durationText(e)) \(Night.needText(e))"
            if !e.labels.isEmpty { title += " labelled " + e.labels.joined(separator: ", ") }
            if e.falseAlarm {
                s += "<rect class=\"episode false-alarm\" data-episode=\"\(e.number)\" x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(x1 - x0))\" height=\"\(n(h))\" fill=\"url(#hatch-false)\" stroke=\"#555555\" stroke-width=\"1\"><title>\(escape(title))</title></rect>\n"
                let cx = (x0 + x1) / 2, cy = L.laneTop - 14
                s += "<path class=\"false-alarm-mark\" d=\"M\(n(cx - 8)) \(n(cy - 8)) L\(n(cx + 8)) \(n(cy + 8)) M\(n(cx + 8)) \(n(cy - 8)) L\(n(cx - 8)) \(n(cy + 8))\" stroke=\"#B00020\" stroke-width=\"3.5\" stroke-linecap=\"round\"/>\n"
            } else {
                s += "<rect class=\"episode\" data-episode=\"\(e.number)\" x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(x1 - x0))\" height=\"\(n(h))\" fill=\"\(Night.colour(for: e))\"><title>\(escape(title))</title></rect>\n"
            }
        }

        // Legend: two columns.
        var items: [(String, String)] = Night.needColours.map { ($0.1, $0.0.replacingUnderscores()) }
        items.append((Night.unsureColour, "unsure / no decision"))
        items.append(("url(#hatch-false)", "labelled not-cry"))
        items.append(("url(#hatch-device)", "no microphone"))
        items.append(("#DCDCDC", "monitor off"))
        items.append(("url(#hatch-unknown)", "unknown (crashed)"))
        for (i, item) in items.enumerated() {
            let col = Double(i / legendRows), row = Double(i % legendRows)
            let lx = L.laneLeft + col * 340, ly = legendTop + row * 38
            s += "<rect x=\"\(n(lx))\" y=\"\(n(ly - 20))\" width=\"28\" height=\"24\" fill=\"\(item.0)\" stroke=\"#777777\" stroke-width=\"1\"/>\n"
            s += svgText(lx + 40, ly, item.1, size: 22, fill: "#333333")
        }
        s += "</svg>\n"
        return s
    }

    /// Local clock times for ticks: the smallest step of 15 min ... 1 day whose ticks are at
    /// least `minSpacing` ms apart, on multiples of the step in local time.
    public func hourTicks(clock: LocalClock, minSpacing: Double) -> [Int64] {
        let steps: [Int64] = [15, 30, 60, 120, 180, 360, 720, 1440].map { $0 * 60_000 }
        let step = steps.first { Double($0) >= minSpacing } ?? steps.last!
        // Beyond a day per tick: midnights, every so many days (a long window stays cheap).
        let everyDays = max(1, Int((minSpacing / 86_400_000).rounded(.up)))
        var ticks: [Int64] = []
        var day = clock.midnight(of: since)
        while day <= until && ticks.count < 1000 {
            // Walk the local day by local clock fields (a DST day has 23 or 25 hours).
            let f = clock.fields(day)
            var minute: Int64 = 0
            while minute < 1440 {
                let t = clock.instant(year: f.year, month: f.month, day: f.day, hour: Int(minute / 60), minute: Int(minute % 60))
                if t >= since && t <= until && ticks.last != t { ticks.append(t) }
                minute += step / 60_000
            }
            day = clock.midnight(of: day, addingDays: everyDays)
        }
        return ticks
    }
}

private func n(_ v: Double) -> String { JSONValue.fixed(v, decimals: 1).description }

private func escape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}

private func svgText(_ x: Double, _ y: Double, _ s: String, size: Double, weight: String = "normal",
                  anchor: String = "start", fill: String = "#111111") -> String {
    "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" font-weight=\"\(weight)\" text-anchor=\"\(anchor)\" fill=\"\(fill)\">\(escape(s))</text>\n"
}

extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
