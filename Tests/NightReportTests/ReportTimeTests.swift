import Testing
@testable import NightReport

@Suite struct ReportTimeTests {
    /// Now: 2026-12-07 07:30 local, in UTC+1.
    static let clock = LocalClock.fixed(offsetSeconds: 3600)
    static let now = Self.clock.instant(year: 2026, month: 12, day: 7, hour: 7, minute: 30)

    func parse(_ s: String) throws -> String {
        Self.clock.dateTime(try ReportTime.parse(s, now: Self.now, clock: Self.clock))
    }

    @Test func clockTimesAreTheLastSuchMoment() throws {
        #expect(try parse("22:00") == "2026-12-06 22:00")
        #expect(try parse("07:00") == "2026-12-07 07:00")
        #expect(try parse("7:30") == "2026-12-07 07:30")   // now itself is not in the future
        #expect(try parse("07:31") == "2026-12-06 07:31")
    }

    @Test func yesterdayAndToday() throws {
        #expect(try parse("yesterday 20:00") == "2026-12-06 20:00")
        #expect(try parse("Yesterday  8:15") == "2026-12-06 08:15")
        #expect(try parse("today 01:00") == "2026-12-07 01:00")
        #expect(try parse("yesterday") == "2026-12-06 00:00")
    }

    @Test func isoTimestamps() throws {
        #expect(try parse("2026-12-06T21:03:12.481Z") == "2026-12-06 22:03")
        #expect(try ReportTime.parse("2026-12-06T21:03:12.481Z", now: 0, clock: Self.clock) == 1_796_590_992_481)
        #expect(try parse("2026-12-06T21:03") == "2026-12-06 21:03")          // local
        #expect(try parse("2026-12-06 21:03:30") == "2026-12-06 21:03")
        #expect(try parse("2026-12-06T21:03+03:00") == "2026-12-06 19:03")
        #expect(try parse("2026-12-06T21:03-0200") == "2026-12-07 00:03")
        #expect(try parse("2026-12-06") == "2026-12-06 00:00")
    }

    @Test func durationsAgo() throws {
        #expect(try parse("12h") == "2026-12-06 19:30")
        #expect(try parse("90m") == "2026-12-07 06:00")
        #expect(try parse("1h30m") == "2026-12-07 06:00")
        #expect(try parse("2d") == "2026-12-05 07:30")
    }

    @Test func badTimesNameTheText() {
        for bad in ["", "25:00", "22:0", "12x", "h", "yesterday 20", "2026-13-01", "2026-12-06T21:03Q", "noon"] {
            #expect(throws: ReportTime.ParseError(text: bad)) { try ReportTime.parse(bad, now: Self.now, clock: Self.clock) }
        }
        #expect(ReportTime.ParseError(text: "noon").description.hasPrefix("cannot read time \"noon\": expected HH:MM"))
    }

    /// Europe-like DST end: 03:00 local (UTC+2) becomes 02:00 (UTC+1) at 01:00 UTC.
    @Test func localClockAcrossADSTChange() {
        let change: Int64 = 1_792_890_000   // 2026-10-25T01:00:00Z
        let dst = LocalClock { $0 < change ? 7200 : 3600 }
        #expect(dst.hhmm(change * 1000 - 1000) == "02:59")
        #expect(dst.hhmm(change * 1000) == "02:00")
        let t = dst.instant(year: 2026, month: 10, day: 25, hour: 4, minute: 0)
        #expect(t == (change + 2 * 3600) * 1000)
        // Hour ticks over the change: 00 01 02 02 03 04, each an hour apart.
        let since = dst.instant(year: 2026, month: 10, day: 25, hour: 0, minute: 0)
        let night = Night(since: since, until: since + 5 * 3_600_000, episodes: [], problems: [], gaps: [], runs: [],
                          longestQuiet: nil, source: Night.Source())
        let ticks = night.hourTicks(clock: dst, minSpacing: 3_600_000)
        #expect(ticks.map { dst.hhmm($0) } == ["00:00", "01:00", "02:00", "03:00", "04:00"])
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $1 - $0 >= 3_600_000 })
    }
}
