#if canImport(Glibc)
import Glibc
#endif
import NightReport

/// libFuzzer entry point: the bytes as an event log given to `monitorctl report --log`.
/// Split into lines as EventLogFiles does, built into a night over a fixed window and one
/// reaching the last event, and rendered as text, JSON and SVG. Whatever the lines hold,
/// the night must be consistent: episodes end at or after they start, inside the window
/// they overlap, and the JSON written parses back. A trap, crash or sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNightReport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    var lines: [LogLine] = []
    for (i, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
        lines.append(LogLine(file: "fuzz.jsonl", number: i + 1, text: String(decoding: line, as: UTF8.self)))
    }
    let since: Int64 = 1_796_583_600_000   // 2026-12-06T19:00Z
    for extend in [false, true] {
        let night = Night.build(lines: lines, since: since, until: since + 12 * 3_600_000, extendToLastEvent: extend,
                                isRunning: { $0 == 4242 })
        for e in night.episodes {
            precondition(e.end >= e.start, "episode \(e.number) ends before it starts")
            precondition(e.end >= night.since && e.start <= night.until, "episode \(e.number) outside the window")
        }
        for g in night.gaps { precondition(g.end > g.start, "empty or reversed gap \(g)") }
        _ = night.text(clock: .fixed(offsetSeconds: 3600))
        _ = night.svg(clock: .fixed(offsetSeconds: 3600))
        let json = night.json.description
        precondition(!json.isEmpty)
    }
    return 0
}

// MARK: - Seeds

/// With BABYMONITOR_FUZZ_SEEDS=DIR (scripts/fuzz): event logs as the daemon writes them
/// (two runs, a killed one, a device gap, a clock step, a replay, a label), then exit.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let directory = getenv("BABYMONITOR_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    let live = """
        {"v":1,"ts":"2026-12-06T19:02:00.000Z","type":"started","t_audio":0.000,"version":"0.3.0","input":"alsa:plughw:1,0","pid":812,"models":{}}
        {"v":1,"ts":"2026-12-06T20:40:00.200Z","type":"cry_start","episode":41,"t_audio":5880.000,"t_confirmed":5880.200}
        {"v":1,"ts":"2026-12-06T20:40:03.000Z","type":"need","episode":41,"t_audio":5883.000,"label":"tired","confidence":0.7600,"probs":{"tired":0.76,"hungry":0.1},"final":false}
        {"v":1,"ts":"2026-12-06T20:41:35.500Z","type":"need","episode":41,"t_audio":5975.000,"label":"tired","confidence":0.8100,"probs":{"tired":0.81},"final":true}
        {"v":1,"ts":"2026-12-06T20:41:35.500Z","type":"cry_end","episode":41,"t_audio":5975.000,"duration_s":95.000}
        {"v":1,"ts":"2026-12-07T00:10:00.000Z","type":"device_lost","t_audio":18480.000,"device":"plughw:1,0","error":"No such device"}
        {"v":1,"ts":"2026-12-07T00:32:00.000Z","type":"device_ok","t_audio":18480.000,"device":"plughw:1,0"}
        {"v":1,"ts":"2026-12-07T02:15:00.000Z","type":"overrun","t_audio":23400.000,"dropped_samples":1600,"xruns":1}
        {"v":1,"ts":"2026-12-07T02:16:00.000Z","type":"degraded","component":"event_log","reason":"disk full","recovered":false}
        {"v":1,"ts":"2026-12-07T02:17:00.000Z","type":"degraded","component":"event_log","reason":"writable again","recovered":true}
        {"v":1,"ts":"2026-12-07T03:20:00.200Z","type":"cry_start","episode":42,"t_audio":27480.000,"t_confirmed":27480.200}
        {"v":1,"ts":"2026-12-07T03:20:03.000Z","type":"need","episode":42,"t_au
        {"v":1,"ts":"2026-12-07T03:26:00.000Z","type":"started","t_audio":0.000,"version":"0.3.0","input":"alsa:default","pid":4242,"models":{}}
        {"v":1,"ts":"2026-12-07T05:55:00.000Z","type":"cry_start","episode":43,"t_audio":8940.000}
        {"v":1,"ts":"2026-12-07T05:56:00.000Z","type":"label","episode":41,"label":"not-cry"}

        """
    let replay = """
        {"v":1,"ts":"2026-12-06T19:00:00.000Z","type":"started","t_audio":0,"input":"wav:/tmp/night.wav","pid":9}
        {"v":1,"ts":"2026-12-06T19:00:01.000Z","type":"cry_start","episode":1,"t_audio":3600.0,"t_confirmed":3600.3}
        {"v":1,"ts":"2026-12-06T19:00:01.100Z","type":"cry_end","episode":1,"t_audio":3660.0,"duration_s":60}
        {"v":1,"ts":"2026-12-06T19:00:02.000Z","type":"stopping","t_audio":7200,"reason":"end of input"}
        {"v":1,"ts":"2026-12-06T17:00:00.000Z","type":"started","t_audio":0,"input":"alsa:default","pid":10}
        {"v":1,"ts":"2026-12-06T17:05:00.000Z","type":"cry_start","episode":2,"t_audio":300}
        {"v":1,"ts":"2026-12-06T19:15:00.000Z","type":"cry_end","episode":2,"t_audio":900,"duration_s":10}

        """
    for (name, text) in [("live", live), ("replay-and-clock-step", replay)] {
        guard let file = fopen(directory + "/" + name, "wb") else { fatalError("cannot create \(directory)/\(name)") }
        fputs(text, file)
        fclose(file)
    }
    exit(0)
}
