import Testing
import Foundation
import AudioIO
import ControlProtocol
@testable import MonitorDaemon

/// `monitorctl adapt` / `{"cmd":"adapt"}` against the real daemon (issue 13): the daemon runs
/// the real `crymodel adapt` as a low-priority child, shows it in the status, and reloads
/// what it wrote; a failed adaptation changes no model; a request it cannot start is an
/// error (exit 65).
@Suite(.serialized) struct AdaptRequestTests {
    /// Kept, labelled episodes as the daemon writes them: 1 s of quiet noise, then a
    /// harmonic sweep (cry) or a hum (not-cry).
    static func writeEpisodes(_ dir: String, _ cries: [Bool]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var seed: UInt64 = 3
        for (i, cry) in cries.enumerated() {
            let n = i + 1, rate = 8000
            var x = [Float](repeating: 0, count: 4 * rate)
            for k in x.indices {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                x[k] = Float(Int64(bitPattern: seed >> 11) % 1000) / 1_000_000
                guard k >= rate else { continue }
                let t = Double(k) / Double(rate)
                if cry {
                    let ph = 2 * Double.pi * (450 + 30 * Double(i)) * t + 40 * sin(2 * Double.pi * 0.5 * t)
                    x[k] += Float(0.25 * (sin(ph) + 0.5 * sin(2 * ph)))
                } else {
                    x[k] += Float(0.2 * sin(2 * Double.pi * (120 + 10 * Double(i)) * t))
                }
            }
            try WAVWriter.write(AudioBuffer(samples: x, sampleRate: rate), to: dir + "/episode-\(n).wav")
            let label = cry ? "cry" : "not-cry"
            let json = "{\"v\":1,\"episode\":\(n),\"t_audio\":\(10 * n).0,\"duration_s\":3,\"audio\":\"episode-\(n).wav\",\"sample_rate\":8000,\"onset_offset_s\":1,\"labels\":[{\"ts\":\"2026-12-07T00:00:00.000Z\",\"label\":\"\(label)\"}]}\n"
            _ = FileManager.default.createFile(atPath: dir + "/episode-\(n).json", contents: Data(json.utf8))
        }
    }

    static func config(_ dir: String, extra: String = "") throws -> String {
        let models = ModelReloadTests.shippedModels
        try #require(FileManager.default.fileExists(atPath: models + "/rehearsal.safetensors"), "the shipped models are missing from \(models)")
        return Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [models]
            detector = "\(models)/detector.safetensors"
            cause = "\(models)/cause.safetensors"
            adapt_steps = 2
            \(extra)
            """)
    }

    /// A status over a fresh connection: an adaptation in a debug build on a loaded machine
    /// can outlast the daemon's idle timeout of a connection kept open meanwhile.
    static func status(_ sock: String) throws -> DaemonStatus {
        let client = try #require(Integration.client(sock))
        return try client.status()
    }

    @Test func theDaemonAdaptsReportsProgressAndReloads() throws {
        let dir = makeTempDirectory("bmad"); defer { removeTree(dir) }
        let wav = dir + "/tone.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock", state = dir + "/state"
        try DaemonProcessTests.writeTone(wav, seconds: 2, rate: 8000)
        try FileManager.default.createDirectory(atPath: state + "/episodes", withIntermediateDirectories: true)
        let run = try DaemonProcessTests.start(["--config", try Self.config(dir), "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--state-dir", state, "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        _ = try #require(Integration.client(sock), "\(run.errorText)")
        #expect(waitUntil { (try? Self.status(sock).state) == "finished" })
        #expect(try Self.status(sock).adaptation.state == "idle")
        var (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && !text.contains("adaptation"), "\(text)")

        // Nothing labelled yet: crymodel adapt fails (exit 65), the status says why, no model changes.
        (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "adapt", "--wait"])
        #expect(code == 1 && text.contains("adaptation started") && text.contains("failed"), "\(text)")
        var status = try Self.status(sock)
        #expect(status.adaptation.state == "failed" && status.adaptation.exitStatus == 65 && status.adaptation.pid == nil)
        #expect(status.adaptation.result?.contains("no labelled episode") == true, "\(status.adaptation)")
        #expect(status.modelsAdapted.isEmpty && !FileManager.default.fileExists(atPath: state + "/models/detector.safetensors"))

        // Labelled episodes: the detector is adapted, written to the state dir's models and
        // reloaded (no cause label: the cause model stays the shipped one).
        try Self.writeEpisodes(state + "/episodes", [true, false, true, false])
        (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "adapt", "--wait"])
        status = try Self.status(sock)
        #expect(code == 0 && text.contains("done"), "\(text) \(status.adaptation)")
        #expect(status.adaptation.state == "done" && status.adaptation.exitStatus == 0 && (status.adaptation.seconds ?? 0) > 0)
        #expect(status.adaptation.result?.contains("reloaded (adapted: detector)") == true, "\(status.adaptation)")
        #expect(status.modelsAdapted == ["detector"] && status.detectorModel == state + "/models/detector.safetensors")
        #expect(waitUntil {
            let loaded = (try? DaemonProcessTests.events(log))?.filter { $0["type"]?.stringValue == "models_loaded" }
            return loaded?.last?["reason"]?.stringValue == "adapt"
        })
        (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(text.contains("adaptation  done in") && text.contains("(adapted to this home)"), "\(text)")
        #expect(Integration.terminate(run) == 0)
    }

    /// The reliability check for adapting: an adaptation running beside a realtime replay
    /// (and its reload) leaves the replay's cry_start / need / cry_end events exactly those
    /// of the same replay without it, with no sample dropped.
    @Test func adaptingUnderAReplayLosesNoEvent() throws {
        let dir = makeTempDirectory("bmad"); defer { removeTree(dir) }
        let samples = Integration.clip(cries: [(1.5, 3), (7, 4)], total: 14)
        let seconds = Double(samples.count) / Double(Integration.rate)
        let wav = dir + "/clip.wav"
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: Integration.rate), to: wav)
        // Energy-only detection: the episodes do not depend on the detector being adapted.
        let config = try Self.config(dir, extra: "[detector]\nenergy_only = true\n")
        let reference = dir + "/reference.jsonl"
        // The same kept episodes in both runs: episode numbers continue after them.
        try Self.writeEpisodes(dir + "/ref-state/episodes", [true, false, true, false])
        let first = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                  "--state-dir", dir + "/ref-state", "--event-log", reference,
                                                  "--socket", dir + "/r.sock"], in: dir)
        first.process.waitUntilExit()
        let expected = try Integration.episodeEvents(reference)
        #expect(first.process.terminationStatus == 0 && expected.filter { $0.contains("cry_end") }.count >= 2, "\(expected)")

        let state = dir + "/state", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Self.writeEpisodes(state + "/episodes", [true, false, true, false])
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "realtime",
                                                "--keep-running", "--state-dir", state, "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        let answer = try client.request(.adapt)
        #expect(answer["adaptation"]?["state"]?.stringValue == "running", "\(answer)")
        let during = try client.status()
        #expect(during.adaptation.state != "idle")
        #expect(waitUntil(seconds: 600) { (try? Self.status(sock).state) == "finished" })
        #expect(waitUntil(seconds: 1800) { (try? Self.status(sock).adaptation.state).map { $0 != "running" } ?? false })
        let status = try Self.status(sock)
        #expect(status.adaptation.state == "done", "\(status.adaptation)")
        #expect(Integration.terminate(run) == 0)
        #expect(try Integration.episodeEvents(log) == expected)
        #expect(status.droppedSamples == 0 && status.xruns == 0)
        #expect(abs(status.audioSeconds - seconds) < 0.001)
        let events = try DaemonProcessTests.events(log)
        #expect(!events.contains { $0["type"]?.stringValue == "overrun" || $0["type"]?.stringValue == "model_error" })
        #expect(events.contains { $0["type"]?.stringValue == "models_loaded" && $0["reason"]?.stringValue == "adapt" })
    }

    @Test func anAdaptationThatCannotStartIsRefused() throws {
        let dir = makeTempDirectory("bmad"); defer { removeTree(dir) }
        let wav = dir + "/tone.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try DaemonProcessTests.writeTone(wav, seconds: 1, rate: 8000)
        let config = try Self.config(dir, extra: "crymodel = \"\(dir)/no-such-crymodel\"")
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--state-dir", dir + "/state", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        #expect(waitUntil { (try? client.status().state) == "finished" })
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "adapt"])
        #expect(code == 65 && text.contains("cannot find the crymodel program"), "\(text)")
        #expect(try client.status().adaptation.state == "idle")
        // The request and its refusal through the socket as such.
        #expect(try ControlRequest.parse(line: "{\"cmd\":\"adapt\"}") == .adapt)
        #expect(throws: ControlProtocolError.self) { try ControlRequest.parse(line: "{\"cmd\":\"adapt\",\"steps\":3}") }
        #expect(Integration.terminate(run) == 0)
    }
}
