import ControlProtocol

extension Night {
    /// The same content as the text, as one JSON object (times ISO 8601 UTC; for scripts and
    /// Home Assistant). Documented in docs/interfaces.md.
    public var json: JSONValue {
        func t(_ ms: Int64) -> JSONValue { .string(WallClock.iso8601(millis: ms)) }
        func opt(_ ms: Int64?) -> JSONValue { ms.map(t) ?? .null }
        let eps: [JSONValue] = episodes.map { e in
            let need: JSONValue = e.need.map { n in
                .object([("label", .string(n.label)), ("confidence", .fixed(n.confidence, decimals: 4)),
                         ("final", .bool(n.final)), ("unsure", .bool(n.unsure)),
                         ("probs", .object(n.probs.sorted { $0.key < $1.key }.map { ($0.key, .fixed($0.value, decimals: 4)) }))])
            } ?? .null
            return .object([
                ("episode", .number(Double(e.number))), ("run", .number(Double(e.run))),
                ("start", t(e.start)), ("end", t(e.end)),
                ("duration_s", .fixed(e.durationSeconds, decimals: 3)),
                ("ended", .bool(e.ended)), ("ongoing", .bool(e.ongoing)),
                ("need", need),
                ("labels", .array(e.labels.map(JSONValue.string))),
                ("label", e.label.map(JSONValue.string) ?? .null),
                ("false_alarm", .bool(e.falseAlarm)),
            ])
        }
        let quiet: JSONValue = longestQuiet.map { q in
            .object([("start", t(q.start)), ("end", t(q.end)), ("minutes", .fixed(q.seconds / 60, decimals: 1))])
        } ?? .null
        return .object([
            ("v", .number(Double(protocolVersion))),
            ("since", t(since)), ("until", t(until)),
            ("episodes", .array(eps)),
            ("totals", .object([
                ("episodes", .number(Double(episodes.count))),
                ("false_alarms", .number(Double(falseAlarms))),
                ("cry_minutes", .fixed(cryingSeconds / 60, decimals: 2)),
                ("false_alarm_minutes", .fixed(falseAlarmSeconds / 60, decimals: 2)),
                ("longest_quiet", quiet),
                ("device_problems", .number(Double(problems.filter { ["device_lost", "overrun", "degraded"].contains($0.kind) }.count))),
            ])),
            ("problems", .array(problems.map { p in
                .object([("type", .string(p.kind)), ("at", t(p.at)), ("until", opt(p.until)), ("detail", .string(p.detail))])
            })),
            ("gaps", .array(gaps.map { g in
                .object([("kind", .string(g.kind.rawValue)), ("start", t(g.start)), ("end", t(g.end))])
            })),
            ("runs", .array(runs.map { r in
                .object([("run", .number(Double(r.number))), ("start", t(r.start)), ("end", t(r.end)),
                         ("input", r.input.map(JSONValue.string) ?? .null),
                         ("pid", r.pid.map { .number(Double($0)) } ?? .null),
                         ("ended", .string(r.ended)), ("placed_by_audio_time", .bool(r.placedByAudioTime))])
            })),
            ("log", .object([
                ("files", .array(source.files.map(JSONValue.string))),
                ("lines", .number(Double(source.linesRead))),
                ("skipped_lines", .number(Double(source.skippedLines))),
                ("skipped", .array(source.skipped.map(JSONValue.string))),
                ("orphan_labels", .number(Double(source.orphanLabels))),
                ("notes", .array(source.notes.map(JSONValue.string))),
            ])),
        ])
    }
}
