#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ControlProtocol
@testable import NightReport

/// Builds event-log lines with chosen `ts` (the daemon's constructors stamp "now").
struct TestLog {
    /// 2026-12-06T19:00:00Z
    static let evening: Int64 = 1_796_583_600_000
    var lines: [String] = []

    /// One event at `evening + at` seconds with `t_audio`.
    mutating func add(_ at: Double, _ type: String, episode: Int? = nil, t: Double? = nil, _ fields: [(String, JSONValue)] = []) {
        var e = MonitorEvent(type: type, episode: episode, tAudio: t, fields: fields,
                             timestampMillis: TestLog.evening + Int64(at * 1000))
        e.version = 1
        lines.append(e.json.description)
    }

    mutating func started(_ at: Double, input: String = "alsa:default", pid: Int = 100) {
        add(at, "started", t: 0, [("version", "test"), ("input", .string(input)), ("pid", .number(Double(pid)))])
    }

    /// A whole episode of a live run that started at `runStart`: cry_start (confirmed 0.2 s
    /// after the onset), a first need, the final need, cry_end.
    mutating func episode(_ n: Int, at: Double, runStart: Double, seconds: Double, need: String, confidence: Double) {
        let t = at - runStart
        add(at + 0.2, "cry_start", episode: n, t: t, [("t_confirmed", .fixed(t + 0.2, decimals: 3))])
        let probs: JSONValue = .object([(need, .number(confidence))])
        add(at + 3, "need", episode: n, t: t + 3, [("label", .string(need)), ("confidence", .number(confidence)),
                                                   ("probs", probs), ("final", false)])
        add(at + seconds + 0.5, "need", episode: n, t: t + seconds, [("label", .string(need)), ("confidence", .number(confidence)),
                                                                    ("probs", probs), ("final", true)])
        add(at + seconds + 0.5, "cry_end", episode: n, t: t + seconds, [("duration_s", .number(seconds))])
    }

    mutating func label(_ at: Double, episode: Int, _ label: String) {
        add(at, "label", episode: episode, [("label", .string(label))])
    }

    var logLines: [LogLine] {
        lines.enumerated().map { LogLine(file: "events.jsonl", number: $0.offset + 1, text: $0.element) }
    }

    func night(from: Double = 0, to: Double = 12 * 3600, isRunning: (Int) -> Bool = { _ in false }) -> Night {
        Night.build(lines: logLines, since: TestLog.evening + Int64(from * 1000), until: TestLog.evening + Int64(to * 1000),
                    isRunning: isRunning)
    }

    static func ms(_ at: Double) -> Int64 { evening + Int64(at * 1000) }
}

func makeTempDirectory(_ name: String = "bmreport") -> String {
    var template = Array("/tmp/\(name)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

func write(_ path: String, _ text: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
}

/// Runs a program (gzip), returning its exit status.
@discardableResult
func runTool(_ path: String, _ args: [String]) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}
