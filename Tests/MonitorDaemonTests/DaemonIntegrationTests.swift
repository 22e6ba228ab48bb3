import Testing
import Foundation
import AudioIO
import ControlProtocol
import CryModel
@testable import MonitorDaemon

/// Helpers for tests that run the real `babymonitord` on generated audio, live through
/// ALSA's `file` plugin or replayed from a WAV file.
enum Integration {
    static let rate = 8000
    static let alsaAvailable = FileManager.default.fileExists(atPath: "/usr/share/alsa/alsa.conf")

    /// A cry-like sound at sample `i`: a harmonic tone whose pitch sweeps 400-600 Hz and
    /// whose loudness is modulated at 3 Hz (never silent, so one cry stays one episode).
    static func crySample(_ i: Int, rate: Int = rate) -> Float {
        let t = Double(i) / Double(rate)
        // Phase of a sweep f(t) = 500 + 100 sin(2 pi 0.25 t): integral of 2 pi f.
        let phase = 2 * Double.pi * (500 * t - 100 / (2 * Double.pi * 0.25) * cos(2 * Double.pi * 0.25 * t))
        let envelope = 0.6 + 0.4 * sin(2 * Double.pi * 3 * t)
        return Float(0.25 * envelope * (sin(phase) + 0.5 * sin(2 * phase) + 0.25 * sin(3 * phase)))
    }

    /// Quiet noise with cries at the given (start, seconds).
    static func clip(cries: [(Double, Double)], total: Double, rate: Int = rate) -> [Float] {
        var rng = SplitMix64(seed: 11)
        var x = (0..<Int(total * Double(rate))).map { _ in Float(Double(rng.next() % 1000) / 1000 - 0.5) * 0.0005 }
        for (start, length) in cries {
            for i in Int(start * Double(rate))..<Int((start + length) * Double(rate)) { x[i] += crySample(i, rate: rate) }
        }
        return x
    }

    /// The PCM16 values WAVWriter stores for `samples` (what ALSA must deliver for a live
    /// capture to see the same stream as a replay).
    static func pcm16(_ samples: [Float]) -> [Int16] {
        samples.map { Int16((max(-1, min(1, $0)) * 32767).rounded()) }
    }

    /// Writes raw S16_LE samples and an ALSA configuration defining capture PCM `name` that
    /// reads them through the `file` plugin (not paced: it delivers as fast as it is read,
    /// and repeats the last chunk read after the end of the file). Returns the value for
    /// ALSA_CONFIG_PATH.
    static func filePluginPCM(_ name: String, samples: [Int16], in dir: String) -> String {
        let raw = dir + "/\(name).raw"
        _ = FileManager.default.createFile(atPath: raw, contents: samples.withUnsafeBytes { Data($0) })
        let conf = dir + "/asound-\(name).conf"
        _ = FileManager.default.createFile(atPath: conf, contents: Data("""
            pcm.\(name) {
                type file
                slave.pcm { type null }
                file "/dev/null"
                infile "\(raw)"
                format "raw"
            }
            """.utf8))
        return "/usr/share/alsa/alsa.conf:" + conf
    }

    /// A cause model with random weights (structure only: its labels mean nothing).
    static func writeCauseModel(_ path: String, seed: UInt64 = 3) throws {
        let cfg = ModelConfiguration(task: .cause, classes: ModelConfiguration.causeClasses, cell: .lstm,
                                     hidden: [8], dense: [])
        try CryModelFile(network: try CryNetwork<Float>.random(configuration: cfg, seed: seed)).write(to: path)
    }

    static func writeConfig(_ dir: String, _ text: String) -> String {
        let name = "integ-\(UInt32.random(in: 0...UInt32.max))"
        let path = dir + "/\(name).toml"
        // Episode audio and adapted models stay in the test's directory, never /var/lib (one
        // episodes directory per configuration: kept episodes carry numbering over).
        let state = text.contains("[episodes]") ? "" : "\n[episodes]\ndir = \"episodes-\(name)\"\n"
        let models = text.contains("adapted_dir") ? "" : (text.contains("[models]") ? "" : "\n[models]\nadapted_dir = \"adapted\"\n")
        _ = FileManager.default.createFile(atPath: path, contents: Data((text + state + models).utf8))
        return path
    }

    /// SIGTERM and wait; the exit status.
    static func terminate(_ run: DaemonProcessTests.Run) -> Int32 {
        kill(run.process.processIdentifier, SIGTERM)
        run.process.waitUntilExit()
        return run.process.terminationReason == .exit ? run.process.terminationStatus : -1
    }

    /// A connected client once the daemon's socket answers (nil if it never does).
    static func client(_ socket: String, timeout: Double = 20) -> ControlClient? {
        guard waitUntil(seconds: timeout, { (try? ControlClient(socketPath: socket)) != nil }) else { return nil }
        return try? ControlClient(socketPath: socket, receiveTimeoutSeconds: 20)
    }

    /// The event's JSON without its wall-clock `ts` (what two runs of the same audio share).
    /// A log's cry_start / need / cry_end events without their wall-clock stamps: what two
    /// replays of the same audio must agree on.
    static func episodeEvents(_ log: String) throws -> [String] {
        try DaemonProcessTests.events(log).filter {
            ["cry_start", "need", "cry_end"].contains($0["type"]?.stringValue ?? "")
        }.map(withoutTimestamp)
    }

    static func withoutTimestamp(_ event: JSONValue) -> String {
        guard case .object(let members) = event else { return event.description }
        return JSONValue.object(members.filter { $0.0 != "ts" }).description
    }
}

@Suite(.serialized) struct DaemonIntegrationTests {
    /// The same samples replayed from a WAV file (fast) and captured live through the ALSA
    /// file plugin give the same cry_start / need / cry_end events: every field but `ts`
    /// (t_audio, t_confirmed, label, confidence, probs, duration).
    @Test(.enabled(if: Integration.alsaAvailable, "needs ALSA's configuration (/usr/share/alsa/alsa.conf)"))
    func replayEqualsLiveCapture() throws {
        let dir = makeTempDirectory("bminteg"); defer { removeTree(dir) }
        let clipSeconds = 16.0
        let clip = Integration.clip(cries: [(2, 4), (9.2, 3)], total: clipSeconds)
        let wav = dir + "/clip.wav"
        try WAVWriter.write(AudioBuffer(samples: clip, sampleRate: Integration.rate), to: wav)
        try Integration.writeCauseModel(dir + "/cause.safetensors")
        // The ring holds far more than clip + padding: the unpaced plugin fills it at once,
        // and nothing of the clip may be dropped.
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            ring_seconds = 60
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 1
            restart_every_s = 1.5
            """)
        func cryEvents(_ log: String) throws -> [String] {
            try DaemonProcessTests.events(log).filter {
                ["cry_start", "need", "cry_end"].contains($0["type"]?.stringValue ?? "")
                    && ($0["t_audio"]?.doubleValue ?? .infinity) <= clipSeconds
            }.map(Integration.withoutTimestamp)
        }

        // (a) replay, fast.
        let replayLog = dir + "/replay.jsonl"
        let replay = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                   "--event-log", replayLog, "--socket", dir + "/replay.sock"], in: dir)
        defer { replay.stop() }
        replay.process.waitUntilExit()
        #expect(replay.process.terminationStatus == 0, "\(replay.errorText)")
        let replayed = try cryEvents(replayLog)

        // (b) live through the file plugin: the clip, then silence (the plugin repeats its
        // last chunk at the end of the file, so the stream goes on silent).
        var raw = Integration.pcm16(clip)
        raw += [Int16](repeating: 0, count: 8 * Integration.rate)
        let alsaPath = Integration.filePluginPCM("bminteg", samples: raw, in: dir)
        let liveLog = dir + "/live.jsonl", sock = dir + "/live.sock"
        // Its own state directory: kept episodes of the replay would carry numbering over.
        let live = try DaemonProcessTests.start(["--config", config, "--input", "alsa:bminteg", "--state-dir", dir + "/live-state",
                                                 "--event-log", liveLog, "--socket", sock], in: dir,
                                                environment: ["ALSA_CONFIG_PATH": alsaPath])
        defer { live.stop() }
        let client = try #require(Integration.client(sock), "\(live.errorText)")
        #expect(waitUntil(seconds: 120) { ((try? client.status().audioSeconds) ?? 0) > clipSeconds + 2 }, "\(live.errorText)")
        let status = try client.status()
        #expect(status.state == "listening" && status.ringCapacity >= 60 * Integration.rate)
        #expect(Integration.terminate(live) == 0, "\(live.errorText)")
        let captured = try cryEvents(liveLog)

        // Two episodes, with needs, and the same events both ways.
        let types = replayed.compactMap { try? JSONValue.parse($0)["type"]?.stringValue }
        #expect(types.filter { $0 == "cry_start" }.count == 2, "\(replayed)")
        #expect(types.filter { $0 == "cry_end" }.count == 2)
        #expect(types.filter { $0 == "need" }.count >= 4)
        #expect(captured == replayed)
        for (a, b) in zip(captured, replayed) where a != b {
            Issue.record("first difference:\n live:   \(a)\n replay: \(b)")
            break
        }
        // The device never went away (drops after the ring's capacity are silence, and
        // the equality above shows none fell inside the clip).
        #expect(!(try DaemonProcessTests.events(liveLog)).contains { $0["type"]?.stringValue == "device_lost" })
    }

    /// What makes replay and live capture agree: the pipeline's events do not depend on how
    /// the stream is cut into blocks (live reads bring whatever ALSA has; the processing
    /// thread pops up to 1024 samples at a time).
    @Test func pipelineEventsDoNotDependOnBlockSizes() throws {
        let dir = makeTempDirectory("bminteg"); defer { removeTree(dir) }
        try Integration.writeCauseModel(dir + "/cause.safetensors")
        var config = try DaemonConfig.parse("""
            [models]
            cause = "cause.safetensors"
            adapted_dir = "adapted"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 1
            restart_every_s = 1.5
            [episodes]
            dir = "episodes"
            """, path: dir + "/b.toml")
        config.audio.sampleRate = Integration.rate
        let clip = Integration.clip(cries: [(2, 4), (9.2, 3)], total: 16)
        var reference: [String]?
        for block in [160, 1024, 7, 4099] {
            let events = CryPipelineTests.run(try CryPipeline(config: config), clip, block: block)
                .map { Integration.withoutTimestamp($0.json) }
            #expect(events.count >= 8)
            if let reference {
                #expect(events == reference, "block \(block)")
            } else {
                reference = events
            }
        }
    }
}
