import ControlProtocol

extension Night {
    /// The report for a person: one line per episode, then the totals and problems.
    ///
    ///     Night report, Sun 6 Dec 19:00 - Mon 7 Dec 07:00
    ///
    ///       #   start  duration  need                 labels
    ///      12   22:13    2m 10s  hungry 0.71
    ///      13   01:05       45s  unsure (tired 0.38)  not-cry
    public func text(clock: LocalClock) -> String {
        var out: [String] = []
        out.append("Night report, \(clock.dayName(since)) \(clock.hhmm(since)) - \(clock.dayName(until)) \(clock.hhmm(until))")
        out.append("")
        if episodes.isEmpty {
            out.append("No crying in this time.")
        } else {
            let rows = episodes.map { e -> [String] in
                [String(e.number), clock.hhmm(e.start), Night.durationText(e), Night.needText(e), e.labels.joined(separator: ", ")]
            }
            let header = ["#", "start", "duration", "need", "labels"]
            let widths = (0..<5).map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) }
            func line(_ r: [String]) -> String {
                let cells = [padLeft(r[0], widths[0]), padLeft(r[1], widths[1]), padLeft(r[2], widths[2]),
                             padRight(r[3], widths[3]), r[4]]
                var s = "  " + cells.joined(separator: "  ")
                while s.last == " " { s.removeLast() }
                return s
            }
            out.append(line(header))
            out += rows.map(line)
        }
        out.append("")
        let fa = falseAlarms
        out.append(padRight("Episodes", 15) + "\(episodes.count)" + (fa > 0 ? " (\(fa) labelled not-cry)" : ""))
        var crying = "\(minutes(cryingSeconds)) min"
        if fa > 0 { crying += " (not counting \(minutes(falseAlarmSeconds)) min of false alarms)" }
        out.append(padRight("Crying", 15) + crying)
        if let q = longestQuiet {
            out.append(padRight("Longest quiet", 15) + "\(formatDuration(q.seconds)) (\(clock.hhmm(q.start)) - \(clock.hhmm(q.end)))")
        } else {
            out.append(padRight("Longest quiet", 15) + "none (the monitor was not listening)")
        }
        let notListening = gaps.filter { $0.kind != .device }.reduce(0.0) { $0 + Double($1.end - $1.start) / 1000 }
        let deviceGaps = gaps.filter { $0.kind == .device }.reduce(0.0) { $0 + Double($1.end - $1.start) / 1000 }
        if notListening > 0 || deviceGaps > 0 {
            var parts: [String] = []
            if deviceGaps > 0 { parts.append("\(formatDuration(deviceGaps)) without the microphone") }
            if notListening > 0 { parts.append("\(formatDuration(notListening)) with no daemon running (or not known)") }
            out.append(padRight("Not listening", 15) + parts.joined(separator: ", "))
        }
        if problems.isEmpty {
            out.append(padRight("Problems", 15) + "none")
        } else {
            out.append("Problems")
            for p in problems {
                var s = "  \(clock.hhmm(p.at))  \(padRight(p.kind, 15)) \(p.detail)"
                if let u = p.until {
                    let what = p.kind == "daemon_stopped" ? "restarted" : "until"
                    s += "; \(what) \(clock.hhmm(u))"
                    if u > p.at { s += " (\(formatDuration(Double(u - p.at) / 1000)))" }
                }
                out.append(s)
            }
        }
        if source.skippedLines > 0 || !source.notes.isEmpty || source.orphanLabels > 0 {
            out.append("Log")
            if source.skippedLines > 0 {
                out.append("  \(source.skippedLines) unreadable line\(source.skippedLines == 1 ? "" : "s") skipped, e.g. \(source.skipped[0])")
            }
            for n in source.notes { out.append("  " + n) }
            if source.orphanLabels > 0 { out.append("  \(source.orphanLabels) label(s) for episodes not in the log") }
        }
        return out.joined(separator: "\n")
    }

    /// `2m 10s`, `45s`, `>= 12s` (no end logged), `3m 02s so far`
    static func durationText(_ e: Episode) -> String {
        let d = formatDuration(e.durationSeconds)
        if e.ongoing { return d + " so far" }
        return e.ended ? d : ">= " + d
    }

    /// `hungry 0.71`, `unsure (tired 0.38)`, `no decision`; `(not final)` when the episode
    /// never got its final decision.
    static func needText(_ e: Episode) -> String {
        guard let n = e.need else { return "no decision" }
        let c = JSONValue.fixed(n.confidence, decimals: 2).description
        var s = n.unsure ? "unsure (\(n.label) \(c))" : "\(n.label) \(c)"
        if !n.final { s += " (not final)" }
        return s
    }

    private func minutes(_ seconds: Double) -> String { JSONValue.fixed(seconds / 60, decimals: 1).description }
}

func padLeft(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
func padRight(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
