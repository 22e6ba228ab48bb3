import Testing
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import AudioIO
import ControlProtocol
import NightReport
@testable import MonitorDaemon

/// `monitorctl report` on logs the real daemon wrote: a generated night replayed, a run
/// killed mid-cry (SIGKILL) with a line cut after it, a label, size rotation, logrotate's
/// gzip of the oldest file, and a live daemon asked for its log over the socket.
@Suite(.serialized) struct NightReportProcessTests {
    static let rsvgAvailable = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].contains {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let gzip = ["/usr/bin/gzip", "/bin/gzip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: Self.gzip != nil, "needs gzip"))
    func reportOnARealDaemonsNight() throws {
        let dir = makeTempDirectory("bmreport"); defer { removeTree(dir) }
        let log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Integration.writeCauseModel(dir + "/cause.safetensors")
        // A small max_bytes so that the night rotates the log.
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 1
            [log]
            max_bytes = 4096
            keep = 5
            """)

        // Run 1: a generated night of eight cries, replayed fast.
        let cries: [(Double, Double)] = [(2, 3), (10, 4), (20, 2.5), (28, 3), (37, 5), (48, 3), (57, 2.5), (66, 4)]
        let night = dir + "/night.wav"
        try WAVWriter.write(AudioBuffer(samples: Integration.clip(cries: cries, total: 75), sampleRate: 8000), to: night)
        let run1 = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + night, "--pace", "fast",
                                                 "--event-log", log, "--socket", sock], in: dir)
        defer { run1.stop() }
        run1.process.waitUntilExit()
        #expect(run1.process.terminationStatus == 0, "\(run1.errorText)")

        // Run 2: live pace, killed (SIGKILL) mid-cry after its first need; then a line cut
        // mid-way, as a crash during a write would leave it.
        let long = dir + "/long.wav"
        try WAVWriter.write(AudioBuffer(samples: Integration.clip(cries: [(1, 40)], total: 45), sampleRate: 8000), to: long)
        let run2 = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + long, "--pace", "realtime",
                                                 "--event-log", log, "--socket", sock], in: dir)
        defer { run2.stop() }
        #expect(waitUntil(seconds: 30) {
            guard let s = try? ControlClient(socketPath: sock, receiveTimeoutSeconds: 10).status() else { return false }
            return s.currentEpisode != nil && s.lastNeed?.episode == s.currentEpisode
        })
        kill(run2.process.processIdentifier, SIGKILL)
        run2.process.waitUntilExit()
        unlink(sock)   // a killed daemon leaves its socket behind
        let fh = try #require(FileHandle(forWritingAtPath: log))
        fh.seekToEndOfFile()
        fh.write(Data(#"{"v":1,"ts":"2026-12-07T02:00:11.000Z","type":"need","epis"#.utf8))
        fh.closeFile()

        // A parent's label, in the shape of interfaces.md (`monitorctl label` writes it),
        // appended right after the cut line: the report recovers it.
        let logged = try allEvents(log)
        let firstEpisode = try #require(logged.first { $0["type"]?.stringValue == "cry_start" }?["episode"]?.intValue)
        let labelLine = JSONValue.object([("v", 1), ("ts", .string(WallClock.iso8601(millis: WallClock.nowMillis()))),
                                          ("type", "label"), ("episode", .number(Double(firstEpisode + 1))), ("label", "not-cry")])
        let fh2 = try #require(FileHandle(forWritingAtPath: log))
        fh2.seekToEndOfFile()
        fh2.write(Data((labelLine.description + "\n").utf8))   // glued to the cut line
        fh2.closeFile()

        // Run 3: a daemon without its microphone that keeps running; monitorctl asks it for the log.
        let run3 = try DaemonProcessTests.start(["--config", config, "--input", "alsa:nosuchpcm-for-test",
                                                 "--event-log", log, "--socket", sock], in: dir)
        defer { run3.stop() }
        #expect(waitUntil(seconds: 20) { (try? ControlClient(socketPath: sock, receiveTimeoutSeconds: 10).status().state) == "no_device" })

        let files = try EventLogFiles.files(forLog: log)
        #expect(files.count >= 2, "the log did not rotate: \(files)")
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "report", "--since", "1h", "--json"])
        #expect(code == 0, "\(text)")
        let report = try JSONValue.parse(text)
        let episodes = try #require(report["episodes"]?.arrayValue)
        try checkEpisodes(episodes, logged: try allEvents(log), firstEpisode: firstEpisode)
        #expect(report["runs"]?.arrayValue?.compactMap { $0["ended"]?.stringValue } == ["end of input", "killed or crashed", "running"])
        let problems = report["problems"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        #expect(problems.contains("daemon_stopped") && problems.contains("device_lost"), "\(problems)")
        #expect(report["log"]?["skipped_lines"]?.intValue == 1)
        #expect(report["totals"]?["false_alarms"]?.intValue == 1)
        #expect(report["totals"]?["episodes"]?.intValue == cries.count + 1)

        // The text report and the picture, from the same running daemon.
        let svg = dir + "/night.svg"
        let (tcode, human) = try DaemonProcessTests.monitorctl(["--socket", sock, "report", "--since", "1h", "--svg", svg])
        #expect(tcode == 0, "\(human)")
        #expect(human.contains("Episodes       \(cries.count + 1) (1 labelled not-cry)"), "\(human)")
        #expect(human.contains("device_lost"))
        #expect(human.contains(">= "))   // the killed run's episode has no end
        let bars = try svgBars(readFile(svg) ?? "")
        #expect(bars.count == cries.count + 1)
        if Self.rsvgAvailable {
            let png = dir + "/night.png"
            let (pcode, out) = try DaemonProcessTests.monitorctl(["--socket", sock, "report", "--since", "1h", "--png", png])
            #expect(pcode == 0, "\(out)")
            let head = try #require(FileManager.default.contents(atPath: png)).prefix(8)
            #expect(Array(head) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }

        // The daemon stopped, logrotate compressed the oldest file: --log reads it all the same.
        #expect(Integration.terminate(run3) == 0)
        let oldest = files[0]
        #expect(try DaemonProcessTests.runTool(Self.gzip!, [oldest]) == 0)
        let (lcode, ltext) = try DaemonProcessTests.monitorctl(["report", "--log", log, "--since", "1h", "--json"])
        #expect(lcode == 0, "\(ltext)")
        let after = try JSONValue.parse(ltext)
        #expect(after["log"]?["files"]?.arrayValue?.first?.stringValue == oldest + ".gz")
        #expect(after["episodes"]?.arrayValue == episodes)
        #expect(after["runs"]?.arrayValue?.last?["ended"]?.stringValue == "SIGTERM")

        // No daemon and no --log: says so, exit 69.
        let (gone, goneText) = try DaemonProcessTests.monitorctl(["--socket", sock, "report"])
        #expect(gone == 69 && goneText.contains("no daemon at \(sock)"), "\(goneText)")
    }

    /// Each replayed cry is one episode, placed at its run's start plus the onset's audio
    /// time; the killed run's episode has no end and no final need; the label landed.
    func checkEpisodes(_ episodes: [JSONValue], logged: [JSONValue], firstEpisode: Int) throws {
        let starts = logged.filter { $0["type"]?.stringValue == "cry_start" }
        let runStarts = logged.filter { $0["type"]?.stringValue == "started" }.compactMap { $0["ts"]?.stringValue.flatMap(WallClock.parseISO8601) }
        #expect(episodes.count == starts.count)
        for (e, s) in zip(episodes, starts) {
            #expect(e["episode"]?.intValue == s["episode"]?.intValue)
            let run = try #require(e["run"]?.intValue)
            let start = try #require(e["start"]?.stringValue.flatMap(WallClock.parseISO8601))
            let onset = try #require(s["t_audio"]?.doubleValue)
            #expect(abs(Double(start - runStarts[run - 1]) - onset * 1000) <= 1, "episode \(e)")
        }
        let last = try #require(episodes.last)
        #expect(last["ended"]?.boolValue == false && last["run"]?.intValue == 2)
        #expect(last["need"]?["final"]?.boolValue == false)
        #expect(episodes.dropLast().allSatisfy { $0["ended"]?.boolValue == true && $0["need"]?["final"]?.boolValue == true })
        #expect(episodes.filter { $0["false_alarm"]?.boolValue == true }.compactMap { $0["episode"]?.intValue } == [firstEpisode + 1])
    }

    /// The events of the log and its rotated plain files, oldest first (cut lines skipped).
    func allEvents(_ log: String) throws -> [JSONValue] {
        let files = try EventLogFiles.files(forLog: log)
        return try EventLogFiles.lines(of: files).lines.compactMap { try? JSONValue.parse($0.text) }
    }

    func svgBars(_ svg: String) throws -> [[String: String]] {
        final class Bars: NSObject, XMLParserDelegate {
            var found: [[String: String]] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if name == "rect", attributes["class"]?.hasPrefix("episode") == true { found.append(attributes) }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let bars = Bars()
        parser.delegate = bars
        try #require(parser.parse(), "the SVG is not well-formed")
        return bars.found
    }
}

extension DaemonProcessTests {
    @discardableResult
    static func runTool(_ path: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
