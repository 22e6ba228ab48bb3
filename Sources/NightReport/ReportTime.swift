import ControlProtocol

/// The TIME forms of `monitorctl report --since/--until`:
///
///     22:00               the last such local moment (at or before now)
///     yesterday 20:00     that local time yesterday (also `today 20:00`)
///     2026-11-24T21:03Z   an ISO timestamp: with Z or +01:00 as given, without a zone local;
///                         `2026-11-24 21:03`, `2026-11-24T21:03:12.5`, `2026-11-24` also
///     12h                 this long ago: d, h, m, s, combinable (`1h30m`)
public enum ReportTime {
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var text: String
        public var description: String {
            "cannot read time \"\(text)\": expected HH:MM, \"yesterday HH:MM\", an ISO timestamp (2026-11-24T21:03Z) or a duration ago (12h, 90m, 1h30m)"
        }
    }

    /// The instant (ms since the epoch) `text` names, relative to `now`.
    public static func parse(_ text: String, now: Int64, clock: LocalClock) throws(ParseError) -> Int64 {
        let s = text.trimmingSpaces().lowercased()
        guard !s.isEmpty else { throw ParseError(text: text) }
        if let ago = duration(s) { return now - ago }
        for (word, days) in [("yesterday", -1), ("today", 0)] where s.hasPrefix(word) {
            let rest = String(s.dropFirst(word.count)).trimmingSpaces()
            let (h, m) = rest.isEmpty ? (0, 0) : try hourMinute(rest, text)
            let day = clock.fields(clock.midnight(of: now, addingDays: days))
            return clock.instant(year: day.year, month: day.month, day: day.day, hour: h, minute: m)
        }
        if let (h, m) = try? hourMinute(s, text) {
            let today = clock.fields(now)
            var t = clock.instant(year: today.year, month: today.month, day: today.day, hour: h, minute: m)
            if t > now {
                let y = clock.fields(clock.midnight(of: now, addingDays: -1))
                t = clock.instant(year: y.year, month: y.month, day: y.day, hour: h, minute: m)
            }
            return t
        }
        if let t = iso(s, clock: clock) { return t }
        throw ParseError(text: text)
    }

    /// `12h`, `90m`, `2d`, `1h30m`, `45s` -> milliseconds.
    static func duration(_ s: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64? = nil
        var any = false
        for c in s {
            if let d = c.wholeNumberValue, c.isASCII {
                number = (number ?? 0) * 10 + Int64(d)
                if number! > 1_000_000_000 { return nil }
                continue
            }
            guard let n = number else { return nil }
            switch c {
            case "d": total += n * 86_400_000
            case "h": total += n * 3_600_000
            case "m": total += n * 60_000
            case "s": total += n * 1000
            default: return nil
            }
            number = nil
            any = true
        }
        return any && number == nil ? total : nil
    }

    static func hourMinute(_ s: String, _ original: String) throws(ParseError) -> (Int, Int) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m)
        else { throw ParseError(text: original) }
        return (h, m)
    }

    /// `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM]`
    static func iso(_ s: String, clock: LocalClock) -> Int64? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for c in b[from..<from + len] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let y = num(0, 4), b.count >= 10, b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var i = 10
        var (h, mi, sec, ms) = (0, 0, 0, 0)
        if i < b.count, b[i] == UInt8(ascii: "t") || b[i] == 32 {
            guard let hh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let mm = num(i + 4, 2),
                  hh < 24, mm < 60 else { return nil }
            (h, mi) = (hh, mm)
            i += 6
            if i < b.count, b[i] == 58 {
                guard let ss = num(i + 1, 2), ss < 61 else { return nil }
                sec = ss
                i += 3
                if i < b.count, b[i] == 46 {
                    i += 1
                    var digits = 0
                    var frac = 0
                    while i < b.count, b[i] >= 48 && b[i] <= 57 {
                        if digits < 3 { frac = frac * 10 + Int(b[i] - 48); digits += 1 }
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    while digits < 3 { frac *= 10; digits += 1 }
                    ms = frac
                }
            }
        }
        if i == b.count {   // no zone: local time
            return clock.instant(year: y, month: mo, day: d, hour: h, minute: mi, second: sec) + Int64(ms)
        }
        var offset = 0
        if b[i] == UInt8(ascii: "z"), i + 1 == b.count {
            offset = 0
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2) {
            var om = 0
            if i + 3 == b.count {
            } else if i + 6 == b.count, b[i + 3] == 58, let m = num(i + 4, 2) {
                om = m
            } else if i + 5 == b.count, let m = num(i + 3, 2) {
                om = m
            } else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
        } else {
            return nil
        }
        let utc = LocalClock.fixed(offsetSeconds: 0).instant(year: y, month: mo, day: d, hour: h, minute: mi, second: sec)
        return utc - Int64(offset) * 1000 + Int64(ms)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
