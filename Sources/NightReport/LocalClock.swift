#if canImport(Glibc)
import Glibc
#endif

/// Local wall-clock time for the report: a UTC offset for each instant (the system's time
/// zone through localtime_r, or a fixed offset in tests), so that hour ticks and printed
/// times are the parent's, across a DST change too.
public struct LocalClock: Sendable {
    /// Seconds east of UTC in effect at a Unix time (seconds).
    public let utcOffset: @Sendable (Int64) -> Int

    public init(utcOffset: @escaping @Sendable (Int64) -> Int) { self.utcOffset = utcOffset }

    /// The system's time zone (TZ, /etc/localtime).
    public static let system = LocalClock { seconds in
        var t = time_t(seconds)
        var tm = tm()
        localtime_r(&t, &tm)
        return Int(tm.tm_gmtoff)
    }

    public static func fixed(offsetSeconds: Int) -> LocalClock { LocalClock { _ in offsetSeconds } }

    public struct Fields: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
        /// 0 = Sunday.
        public var weekday: Int
    }

    /// The local calendar fields of an instant (milliseconds since the epoch).
    public func fields(_ millis: Int64) -> Fields {
        let s = floorDiv(millis, 1000)
        let local = s + Int64(utcOffset(s))
        let days = floorDiv(local, 86400)
        let secOfDay = Int(local - days * 86400)
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719468
        let era = floorDiv(z, 146097)
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let weekday = Int(((days % 7) + 11) % 7)   // 1970-01-01 was a Thursday (4)
        return Fields(year: Int(y), month: Int(m), day: Int(d), hour: secOfDay / 3600,
                      minute: secOfDay % 3600 / 60, second: secOfDay % 60, weekday: weekday)
    }

    /// The instant (ms) of a local date and time; in a DST fold the first, in a gap the later.
    public func instant(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int = 0) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let local = days * 86400 + Int64(hour * 3600 + minute * 60 + second)
        // Two passes settle the offset at the instant itself.
        var utc = local - Int64(utcOffset(local))
        utc = local - Int64(utcOffset(utc))
        return utc * 1000
    }

    /// Local midnight starting the day of `millis`, shifted by `days`.
    public func midnight(of millis: Int64, addingDays days: Int = 0) -> Int64 {
        let f = fields(millis)
        // Via noon to step whole days safely across DST.
        let noon = instant(year: f.year, month: f.month, day: f.day, hour: 12, minute: 0) + Int64(days) * 86_400_000
        let g = fields(noon)
        return instant(year: g.year, month: g.month, day: g.day, hour: 0, minute: 0)
    }

    /// `22:05`
    public func hhmm(_ millis: Int64) -> String {
        let f = fields(millis)
        return pad2(f.hour) + ":" + pad2(f.minute)
    }

    /// `2026-12-06 22:05`
    public func dateTime(_ millis: Int64) -> String {
        let f = fields(millis)
        return "\(f.year)-\(pad2(f.month))-\(pad2(f.day)) \(pad2(f.hour)):\(pad2(f.minute))"
    }

    /// `Sun 6 Dec`
    public func dayName(_ millis: Int64) -> String {
        let f = fields(millis)
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(names[f.weekday]) \(f.day) \(months[f.month - 1])"
    }
}

func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
