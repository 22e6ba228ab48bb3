import Testing
import ControlProtocol
@testable import NightReport

@Suite struct NightBuilderTests {
    /// Two runs: episodes with needs, a label given hours later, a device gap, an overrun,
    /// a run killed mid-episode with its last line cut, then a clean restart.
    static func night() -> TestLog {
        var log = TestLog()
        log.started(0)
        log.episode(1, at: 5400, runStart: 0, seconds: 95, need: "tired", confidence: 0.81)
        log.episode(2, at: 9000, runStart: 0, seconds: 40, need: "discomfort", confidence: 0.44)
        log.add(18000, "device_lost", t: 18000, [("device", "plughw:1,0"), ("error", "No such device")])
        log.add(19200, "device_ok", t: 18000, [("device", "plughw:1,0")])
        log.add(20000, "overrun", t: 18790, [("dropped_samples", 1600), ("xruns", 1)])
        log.episode(3, at: 21600, runStart: 1200, seconds: 300, need: "hungry", confidence: 0.77)
        // Killed 10 s into episode 4, after its first need; the need's line was cut.
        log.add(25200.2, "cry_start", episode: 4, t: 24000, [("t_confirmed", .fixed(24000.2, decimals: 3))])
        log.add(25203, "need", episode: 4, t: 24003, [("label", "hungry"), ("confidence", 0.6), ("final", false)])
        log.add(25210, "overrun", t: 24010, [("dropped_samples", 0), ("xruns", 1)])
        log.lines.append(#"{"v":1,"ts":"2026-12-07T02:00:11.000Z","type":"need","episode":4,"t_au"#)
        log.started(25500, pid: 200)
        log.episode(5, at: 30000, runStart: 25500, seconds: 60, need: "burping", confidence: 0.9)
        log.label(31000, episode: 2, "not-cry")
        log.label(31010, episode: 5, "hungry")
        log.label(31020, episode: 99, "cry")
        log.add(40000, "stopping", t: 14500, [("reason", "SIGTERM")])
        return log
    }

    @Test func episodesNeedsLabelsAndTotals() {
        let n = Self.night().night()
        #expect(n.episodes.map(\.number) == [1, 2, 3, 4, 5])
        let e1 = n.episodes[0]
        #expect(e1.start == TestLog.ms(5400) && e1.durationSeconds == 95 && e1.ended)
        #expect(e1.need == Night.Need(label: "tired", confidence: 0.81, final: true, probs: ["tired": 0.81]))
        #expect(n.episodes[1].need?.unsure == true && n.episodes[1].falseAlarm)
        #expect(n.episodes[4].labels == ["hungry"] && !n.episodes[4].falseAlarm)
        #expect(n.falseAlarms == 1)
        #expect(n.cryingSeconds == 95 + 300 + 10 + 60)   // episode 4: until the run's last event (10 s)
        #expect(n.falseAlarmSeconds == 40)
        #expect(n.source.orphanLabels == 1)
        #expect(n.source.skippedLines == 1 && n.source.skipped[0].hasPrefix("events.jsonl:20: cut short"))
        #expect(n.runs.map(\.ended) == ["killed or crashed", "SIGTERM"])
    }

    @Test func killedRunLeavesAnUnendedEpisodeAndAProblem() {
        let n = Self.night().night()
        let e4 = n.episodes[3]
        #expect(!e4.ended && !e4.ongoing)
        #expect(e4.need?.final == false && e4.need?.label == "hungry")
        #expect(e4.end == TestLog.ms(25210))
        let stopped = n.problems.filter { $0.kind == "daemon_stopped" }
        #expect(stopped.count == 1 && stopped[0].at == TestLog.ms(25210) && stopped[0].until == TestLog.ms(25500))
        #expect(n.gaps.contains(Night.Gap(kind: .unknown, start: TestLog.ms(25210), end: TestLog.ms(25500))))
        #expect(Night.durationText(e4) == ">= 10s")
        #expect(Night.needText(e4) == "hungry 0.60 (not final)")
    }

    @Test func deviceProblemsAndGaps() {
        let n = Self.night().night()
        let lost = n.problems.first { $0.kind == "device_lost" }
        #expect(lost?.at == TestLog.ms(18000) && lost?.until == TestLog.ms(19200))
        #expect(lost?.detail == "plughw:1,0 lost: No such device")
        #expect(n.problems.filter { $0.kind == "overrun" }.count == 2)
        #expect(n.gaps.contains(Night.Gap(kind: .device, start: TestLog.ms(18000), end: TestLog.ms(19200))))
        // After the clean stop: not running to the end of the window.
        #expect(n.gaps.last == Night.Gap(kind: .notRunning, start: TestLog.ms(40000), end: TestLog.ms(43200)))
        // No clock step: the device gap explains the jump of ts - t_audio.
        #expect(!n.problems.contains { $0.kind == "clock_step" })
    }

    @Test func longestQuietSkipsFalseAlarmsAndGaps() {
        let n = Self.night().night()
        // From episode 1's end to the device loss: episode 2 was labelled not-cry.
        #expect(n.longestQuiet == Night.Interval(start: TestLog.ms(5495), end: TestLog.ms(18000)))
    }

    @Test func windowKeepsOverlappingEpisodes() {
        let n = Self.night().night(from: 5450, to: 9010)
        #expect(n.episodes.map(\.number) == [1, 2])
        #expect(n.cryingSeconds == 45)   // clipped to the window
        #expect(n.problems.isEmpty)
        let none = Self.night().night(from: 41000, to: 42000)
        #expect(none.episodes.isEmpty && none.longestQuiet == nil)
        #expect(none.gaps == [Night.Gap(kind: .notRunning, start: TestLog.ms(41000), end: TestLog.ms(42000))])
    }

    /// A device that booted with a stale clock: NTP sets it 2 h forward 10 min into the run.
    @Test func clockStepMovesTheRunsEarlierEvents() {
        var log = TestLog()
        let stale = -7200.0
        log.started(stale)
        log.episode(1, at: stale + 300, runStart: stale, seconds: 30, need: "tired", confidence: 0.9)
        log.episode(2, at: 900, runStart: -600, seconds: 20, need: "hungry", confidence: 0.9)   // after the step
        let n = log.night(from: -10000, to: 3600)
        // Within the 0.3 s the test's events add to the onset lag.
        #expect(near(n.episodes.map(\.start), [TestLog.ms(-300), TestLog.ms(900)]))
        #expect(near([n.runs[0].start], [TestLog.ms(-600)]))
        let step = n.problems.first { $0.kind == "clock_step" }
        #expect(step?.detail.hasPrefix("the wall clock was set forward by 1h 50m") == true)

        // And back: a clock set back by an hour mid-run.
        var back = TestLog()
        back.started(0)
        back.episode(1, at: 600, runStart: 0, seconds: 10, need: "tired", confidence: 0.9)
        back.episode(2, at: 1200 - 3600, runStart: -3600, seconds: 10, need: "tired", confidence: 0.9)
        let b = back.night(from: -7200, to: 7200)
        #expect(near(b.episodes.map(\.start), [TestLog.ms(600 - 3600), TestLog.ms(1200 - 3600)]))
        #expect(b.problems.first { $0.kind == "clock_step" }?.detail.contains("back by 1h 00m") == true)
    }

    /// A fast replay writes the night within seconds; it is placed by audio time.
    @Test func replayRunIsPlacedByAudioTime() {
        var log = TestLog()
        log.started(0, input: "wav:/tmp/night.wav")
        log.add(1.0, "cry_start", episode: 1, t: 3600, [("t_confirmed", .fixed(3600.3, decimals: 3))])
        log.add(1.1, "cry_end", episode: 1, t: 3660, [("duration_s", 60)])
        log.add(2.0, "stopping", t: 7200, [("reason", "end of input")])
        let n = log.night()
        #expect(n.runs[0].placedByAudioTime && n.runs[0].end == TestLog.ms(7200))
        #expect(n.episodes[0].start == TestLog.ms(3600) && n.episodes[0].end == TestLog.ms(3660))
    }

    /// A run whose `started` line was lost: t_audio going back starts a new run.
    @Test func audioTimeGoingBackStartsARun() {
        var log = TestLog()
        log.started(0)
        log.episode(1, at: 100, runStart: 0, seconds: 10, need: "tired", confidence: 0.9)
        log.episode(1, at: 500, runStart: 450, seconds: 10, need: "hungry", confidence: 0.9)   // no `started`
        let n = log.night()
        #expect(n.runs.count == 2)
        #expect(n.episodes.map(\.run) == [1, 2])
        #expect(n.episodes.map(\.durationSeconds) == [10, 10])
    }

    @Test func runningDaemonsOpenEpisodeIsOngoing() {
        var log = TestLog()
        log.started(0, pid: 4242)
        log.add(100.2, "cry_start", episode: 7, t: 100, [("t_confirmed", .fixed(100.2, decimals: 3))])
        let n = log.night(from: 0, to: 160, isRunning: { $0 == 4242 })
        #expect(n.episodes[0].ongoing && n.episodes[0].end == TestLog.ms(160))
        #expect(n.runs[0].ended == "running" && n.gaps.isEmpty)
        #expect(Night.durationText(n.episodes[0]) == "1m 00s so far")
        #expect(!n.problems.contains { $0.kind == "daemon_stopped" })
    }

    @Test func labelsFollowTheLatestEpisodeOfThatNumber() {
        var log = TestLog()
        log.started(0)
        log.episode(3, at: 100, runStart: 0, seconds: 10, need: "tired", confidence: 0.9)
        log.started(1000)   // a fresh log elsewhere restarted numbering
        log.episode(3, at: 1100, runStart: 1000, seconds: 10, need: "hungry", confidence: 0.9)
        log.label(1200, episode: 3, "not-cry")
        log.label(1300, episode: 3, "cry")
        let n = log.night()
        #expect(n.episodes[0].labels.isEmpty)
        #expect(n.episodes[1].labels == ["not-cry", "cry"] && !n.episodes[1].falseAlarm)
    }

    /// A crash cut a line and the next run's `started` was appended right after it (or
    /// after the NULs a power cut leaves): the glued event still counts.
    @Test func eventGluedToACutLineIsRecovered() {
        var log = TestLog()
        log.started(0, pid: 1)
        log.add(100.2, "cry_start", episode: 1, t: 100)
        var next = TestLog()
        next.started(500, pid: 2)
        next.episode(2, at: 600, runStart: 500, seconds: 10, need: "tired", confidence: 0.9)
        log.lines.append(#"{"v":1,"ts":"2026-12-06T19:01:43.000Z","type":"need","episode":1,"t_au"# + next.lines[0])
        log.lines.append("\0\0\0\0" + next.lines[1])
        log.lines += next.lines.dropFirst(2)
        let n = log.night()
        #expect(n.runs.map(\.pid) == [1, 2])
        #expect(n.episodes.map(\.number) == [1, 2] && n.episodes[1].ended)
        #expect(n.source.skippedLines == 2)
        #expect(n.source.skipped.allSatisfy { $0.contains("cut short") })
    }

    @Test func textReport() {
        let text = Self.night().night().text(clock: .fixed(offsetSeconds: 3600))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "Night report, Sun 6 Dec 20:00 - Mon 7 Dec 08:00")
        #expect(lines.contains("  1  21:30    1m 35s  tired 0.81"))
        #expect(lines.contains("  2  22:30       40s  unsure (discomfort 0.44)  not-cry"))
        #expect(lines.contains("  4  03:00    >= 10s  hungry 0.60 (not final)"))
        #expect(lines.contains("Episodes       5 (1 labelled not-cry)"))
        #expect(lines.contains("Crying         7.8 min (not counting 0.7 min of false alarms)"))
        #expect(lines.contains("Longest quiet  3h 28m (21:31 - 01:00)"))
        #expect(lines.contains("  01:00  device_lost     plughw:1,0 lost: No such device; until 01:20 (20m 00s)"))
        #expect(lines.contains { $0.hasPrefix("  03:00  daemon_stopped") && $0.hasSuffix("restarted 03:05 (4m 50s)") })
        #expect(lines.contains { $0.hasPrefix("  1 unreadable line skipped, e.g. events.jsonl:20") })
    }

    @Test func jsonReportHoldsTheSameContent() throws {
        let night = Self.night().night()
        let v = try JSONValue.parse(night.json.description)
        #expect(v["episodes"]?.arrayValue?.count == 5)
        let e2 = v["episodes"]?.arrayValue?[1]
        #expect(e2?["episode"]?.intValue == 2 && e2?["false_alarm"]?.boolValue == true)
        #expect(e2?["start"]?.stringValue == "2026-12-06T21:30:00.000Z")
        #expect(e2?["need"]?["unsure"]?.boolValue == true && e2?["labels"]?.arrayValue == ["not-cry"])
        #expect(v["episodes"]?.arrayValue?[3]["ended"]?.boolValue == false)
        #expect(v["totals"]?["false_alarms"]?.intValue == 1)
        #expect(v["totals"]?["cry_minutes"]?.doubleValue == 7.75)
        #expect(v["totals"]?["device_problems"]?.intValue == 3)
        #expect(v["totals"]?["longest_quiet"]?["start"]?.stringValue == "2026-12-06T20:31:35.000Z")
        #expect(v["problems"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == ["device_lost", "overrun", "overrun", "daemon_stopped"])
        #expect(v["log"]?["skipped_lines"]?.intValue == 1)
    }
}

func near(_ a: [Int64], _ b: [Int64], ms: Int64 = 1000) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= ms }
}
