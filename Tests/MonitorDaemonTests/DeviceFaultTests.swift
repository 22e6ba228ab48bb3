import Testing
import Foundation
import ControlProtocol
@testable import MonitorDaemon

/// Capture devices that are absent, overrun or disappear, with the real daemon.
@Suite(.serialized) struct DeviceFaultTests {
    /// No such PCM at start: the daemon keeps running and retrying, says `no_device` over
    /// the socket (monitorctl too), logs `device_lost`, and stops cleanly on SIGTERM.
    @Test func missingDeviceAtStart() throws {
        let dir = makeTempDirectory("bmfault"); defer { removeTree(dir) }
        let log = dir + "/events.jsonl", sock = dir + "/control.sock"
        let run = try DaemonProcessTests.start(["--config", DaemonProcessTests.writeConfig(dir), "--input", "alsa:nosuchpcm",
                                                "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        #expect(waitUntil(seconds: 20) { (try? client.status().state) == "no_device" })
        #expect(run.process.isRunning)

        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && text.contains("no_device") && text.contains("alsa:nosuchpcm"), "\(text)")
        let (jsonCode, jsonText) = try DaemonProcessTests.monitorctl(["--socket", sock, "status", "--json"])
        #expect(jsonCode == 0)
        let json = try JSONValue.parse(jsonText.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["state"]?.stringValue == "no_device" && json["input"]?.stringValue == "alsa:nosuchpcm", "\(jsonText)")

        #expect(waitUntil { (readFile(log) ?? "").contains("\"device_lost\"") })
        // Still there after a retry or two (backoff 1 s, 2 s).
        let later = try client.status()
        #expect(run.process.isRunning && later.state == "no_device")
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
        #expect(!FileManager.default.fileExists(atPath: sock))
        let events = try DaemonProcessTests.events(log)
        let lost = events.filter { $0["type"]?.stringValue == "device_lost" }
        #expect(lost.count == 1)   // announced once, not on every retry
        #expect(lost.first?["device"]?.stringValue == "nosuchpcm")
        #expect(lost.first?["error"]?.stringValue?.contains("nosuchpcm") == true)
        #expect(events.last?["type"]?.stringValue == "stopping" && events.last?["reason"]?.stringValue == "SIGTERM")
    }

    /// A device absent at start that appears later (the file plugin's input file is created
    /// once the daemon is retrying): device_lost, then device_ok and capture from the
    /// stream's start, with the episodes found.
    @Test(.enabled(if: Integration.alsaAvailable, "needs ALSA's configuration (/usr/share/alsa/alsa.conf)"))
    func deviceAbsentAtStartThenPluggedIn() throws {
        let dir = makeTempDirectory("bmfault"); defer { removeTree(dir) }
        let log = dir + "/events.jsonl", sock = dir + "/control.sock"
        let clip = Integration.pcm16(Integration.clip(cries: [(1, 2)], total: 6))
        let alsaPath = Integration.filePluginPCM("bmlater", samples: clip, in: dir)
        let raw = dir + "/bmlater.raw"
        try FileManager.default.moveItem(atPath: raw, toPath: raw + ".unplugged")
        let config = Integration.writeConfig(dir, "[audio]\nsample_rate = 8000\n[detector]\nenergy_only = true\n")
        let run = try DaemonProcessTests.start(["--config", config, "--input", "alsa:bmlater", "--event-log", log, "--socket", sock],
                                               in: dir, environment: ["ALSA_CONFIG_PATH": alsaPath])
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        #expect(waitUntil(seconds: 20) { (try? client.status().state) == "no_device" })
        try FileManager.default.moveItem(atPath: raw + ".unplugged", toPath: raw)   // plugged in
        #expect(waitUntil(seconds: 40) { ((try? client.status().audioSeconds) ?? 0) > 4 }, "\(readFile(log) ?? "")")
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
        let events = try DaemonProcessTests.events(log)
        // (The unpaced plugin overflows the ring at once: overrun events may come anywhere.)
        let types = events.map { $0["type"]?.stringValue ?? "" }.filter { $0 != "overrun" }
        #expect(Array(types.prefix(5)) == ["started", "device_lost", "device_ok", "cry_start", "cry_end"], "\(types)")
        #expect(events.first { $0["type"]?.stringValue == "device_ok" }?["t_audio"]?.doubleValue == 0)
        #expect(abs((events.first { $0["type"]?.stringValue == "cry_start" }?["t_audio"]?.doubleValue ?? 0) - 1) < 0.1)
        #expect(try Self.tAudioNeverGoesBack(events))
    }

    #if DEBUG
    /// Debug builds inject ALSA errors at chosen capture reads (BABYMONITOR_FAULT_INJECT):
    /// an overrun is recovered, counted and reported, and capture goes on; a lost device
    /// (-ENODEV) is reported, reopened after the backoff and reported back. Through it all
    /// the events' t_audio never goes backwards.
    @Test(.enabled(if: Integration.alsaAvailable, "needs ALSA's configuration (/usr/share/alsa/alsa.conf)"))
    func injectedOverrunAndDeviceLoss() throws {
        let dir = makeTempDirectory("bmfault"); defer { removeTree(dir) }
        let log = dir + "/events.jsonl", sock = dir + "/control.sock"
        // 20 s of cries and pauses; reads of one 20 ms period: the overrun comes at read
        // 30 (0.6 s in), the loss at read 200 (4 s in).
        let clip = Integration.clip(cries: [(1, 2), (5, 2), (9, 2), (13, 2)], total: 20)
        let alsaPath = Integration.filePluginPCM("bmfault", samples: Integration.pcm16(clip), in: dir)
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            period_ms = 20
            ring_seconds = 30
            [detector]
            energy_only = true
            """)
        let run = try DaemonProcessTests.start(["--config", config, "--input", "alsa:bmfault",
                                                "--event-log", log, "--socket", sock], in: dir,
                                               environment: ["ALSA_CONFIG_PATH": alsaPath,
                                                             "BABYMONITOR_FAULT_INJECT": "overrun@30,enodev@200"])
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        func logged(_ type: String) -> Bool { (readFile(log) ?? "").contains("\"type\":\"\(type)\"") }
        #expect(waitUntil(seconds: 30) { logged("device_lost") && logged("device_ok") && logged("overrun") },
                "\(readFile(log) ?? "")")
        // Capture resumed: audio keeps coming after the reopen.
        let resumedAt = try client.status().audioSeconds
        #expect(waitUntil(seconds: 30) { ((try? client.status().audioSeconds) ?? 0) > resumedAt + 2 })
        let status = try client.status()
        #expect(status.state == "listening" || status.state == "cry")
        #expect(status.xruns == 1)
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")

        let events = try DaemonProcessTests.events(log)
        let types = events.map { $0["type"]?.stringValue ?? "" }
        #expect(types.filter { $0 == "device_lost" }.count == 1 && types.filter { $0 == "device_ok" }.count == 1)
        let lostIndex = try #require(types.firstIndex(of: "device_lost"))
        let okIndex = try #require(types.firstIndex(of: "device_ok"))
        #expect(lostIndex < okIndex)
        #expect(events[lostIndex]["error"]?.stringValue?.contains("No such device") == true, "\(events[lostIndex])")
        #expect(events[lostIndex]["device"]?.stringValue == "bmfault")
        // The xrun is reported with its counts (ring drops, if any, may share the event).
        let xrunEvents = events.filter { $0["type"]?.stringValue == "overrun" && ($0["xruns"]?.intValue ?? 0) > 0 }
        #expect(xrunEvents.count == 1)
        #expect(xrunEvents.first?["xruns"]?.intValue == 1 && xrunEvents.first?["total_xruns"]?.intValue == 1)
        #expect(xrunEvents.first?["total_dropped_samples"]?.intValue != nil)
        // Episodes went on after the reopen.
        #expect(types[okIndex...].contains("cry_start"), "\(types)")
        // The loss is dated where it happened in the stream: after the overrun (read 30)
        // and at most 199 reads of one 160-sample period.
        let lostAt = events[lostIndex]["t_audio"]?.doubleValue ?? -1
        #expect(lostAt > 0.5 && lostAt <= 199 * 160 / 8000 + 0.0005, "\(events[lostIndex])")
        #expect(try Self.tAudioNeverGoesBack(events))
    }
    #endif

    /// The daemon's own events follow the sample counter exactly; every event, in log order,
    /// comes no earlier than the ones before it (a cry_start counts from its confirmation and
    /// a cry_end is left out: both are dated back to the cry, by design), within the
    /// front end's look-ahead; each episode's events are in order and after the previous
    /// episode's end.
    static func tAudioNeverGoesBack(_ events: [JSONValue]) throws -> Bool {
        var ok = true
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { ok = false; Issue.record(Comment(rawValue: message())) }
        }
        let daemonTypes: Set<String> = ["started", "device_lost", "device_ok", "overrun", "stopping"]
        var lastDaemon = 0.0, lastAny = 0.0, lastEpisodeEnd = 0.0
        var episodeT: [Int: Double] = [:]
        for e in events {
            let type = e["type"]?.stringValue ?? ""
            guard let t = e["t_audio"]?.doubleValue else { continue }
            if daemonTypes.contains(type) {
                check(t >= lastDaemon, "daemon event t_audio went back from \(lastDaemon): \(Integration.withoutTimestamp(e))")
                lastDaemon = max(lastDaemon, t)
            }
            if type != "cry_end" {
                let position = e["t_confirmed"]?.doubleValue ?? t
                check(position >= lastAny - 0.1, "t_audio went back from \(lastAny): \(Integration.withoutTimestamp(e))")
                lastAny = max(lastAny, position)
            }
            if let episode = e["episode"]?.intValue {
                if type == "cry_start" {
                    check(t >= lastEpisodeEnd, "episode \(episode) starts before the previous one ended: \(Integration.withoutTimestamp(e))")
                }
                check(t >= episodeT[episode] ?? 0, "episode \(episode) went back: \(Integration.withoutTimestamp(e))")
                episodeT[episode] = t
                if type == "cry_end" { lastEpisodeEnd = t }
            }
        }
        if let stop = events.last(where: { $0["type"]?.stringValue == "stopping" })?["t_audio"]?.doubleValue {
            check(episodeT.values.allSatisfy { $0 <= stop + 0.0005 }, "an episode event after stopping at \(stop)")
        }
        return ok
    }
}
