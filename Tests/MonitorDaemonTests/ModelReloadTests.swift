import Testing
import Foundation
import AudioIO
import ControlProtocol
import CryModel
@testable import MonitorDaemon

/// `[models] adapted_dir` and reload (socket, monitorctl, SIGHUP) against the real daemon
/// (issue 13), and the reliability check: reloading under a replay loses no event.
@Suite(.serialized) struct ModelReloadTests {
    static let shippedModels: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/models").path
    }()

    static func config(_ dir: String, extra: String = "", withDetector: Bool = true) throws -> String {
        let detector = shippedModels + "/detector.safetensors", cause = shippedModels + "/cause.safetensors"
        try #require(FileManager.default.fileExists(atPath: detector) && FileManager.default.fileExists(atPath: cause),
                     "the shipped models are missing from \(shippedModels)")
        return Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [models]
            \(withDetector ? "detector = \"\(detector)\"" : "")
            cause = "\(cause)"
            adapted_dir = "adapted"
            [episodes]
            keep_mb = 0
            \(extra)
            """)
    }

    static func copy(_ from: String, _ to: String) throws {
        try? FileManager.default.removeItem(atPath: to)
        try FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    @Test func adaptedModelsAreUsedAndBrokenOnesRefused() throws {
        let dir = makeTempDirectory("bmrl"); defer { removeTree(dir) }
        let wav = dir + "/tone.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        let adapted = dir + "/adapted"
        try DaemonProcessTests.writeTone(wav, seconds: 3, rate: 8000)
        // A broken adapted detector at start: the configured one runs, with a model_error event.
        try FileManager.default.createDirectory(atPath: adapted, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: adapted + "/detector.safetensors", contents: Data("not a model".utf8))
        let config = try Self.config(dir)
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        #expect(waitUntil { (try? client.status().state) == "finished" })
        var status = try client.status()
        #expect(status.detectorModel == Self.shippedModels + "/detector.safetensors" && status.modelsAdapted.isEmpty)
        let startErrors = try DaemonProcessTests.events(log).filter { $0["type"]?.stringValue == "model_error" }
        #expect(startErrors.count == 1 && startErrors.first?["path"]?.stringValue == adapted + "/detector.safetensors")

        // A good adapted cause model: reload uses it, status says it is adapted.
        try FileManager.default.removeItem(atPath: adapted + "/detector.safetensors")
        try Self.copy(Self.shippedModels + "/cause.safetensors", adapted + "/cause.safetensors")
        var (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "reload"])
        #expect(code == 0 && text.contains("cause    \(adapted)/cause.safetensors (adapted)"), "\(text)")
        status = try client.status()
        #expect(status.causeModel == adapted + "/cause.safetensors" && status.modelsAdapted == ["cause"])
        (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(text.contains("(adapted to this home)"), "\(text)")

        // Broken files are refused with exit 65 and a model_error event; the models in use stay.
        let broken: [(String, Data, String)] = [
            ("detector", Data("garbage".utf8), "detector model \(adapted)/detector.safetensors"),
            ("detector", try Data(contentsOf: URL(fileURLWithPath: Self.shippedModels + "/cause.safetensors")), "task"),
            ("cause", try Self.nanCauseModel(), "cause model \(adapted)/cause.safetensors"),
        ]
        for (role, bytes, message) in broken {
            let path = adapted + "/\(role).safetensors"
            let keep = role == "cause" ? try Data(contentsOf: URL(fileURLWithPath: path)) : nil
            _ = FileManager.default.createFile(atPath: path, contents: bytes)
            let before = try DaemonProcessTests.events(log).filter { $0["type"]?.stringValue == "model_error" }.count
            (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "reload"])
            #expect(code == 65 && text.contains(message) && text.contains("kept the model in use"), "\(role): \(text)")
            status = try client.status()
            #expect(status.detectorModel == Self.shippedModels + "/detector.safetensors")
            #expect(status.causeModel == adapted + "/cause.safetensors" && status.modelsAdapted == ["cause"])
            let errors = try DaemonProcessTests.events(log).filter { $0["type"]?.stringValue == "model_error" }
            #expect(errors.count == before + 1 && errors.last?["model"]?.stringValue == role)
            if let keep { _ = FileManager.default.createFile(atPath: path, contents: keep) } else { try FileManager.default.removeItem(atPath: path) }
        }

        // SIGHUP reloads too: without the adapted cause the configured one comes back.
        try FileManager.default.removeItem(atPath: adapted + "/cause.safetensors")
        kill(run.process.processIdentifier, SIGHUP)
        #expect(waitUntil { (try? client.status().modelsAdapted) == [] })
        #expect(try client.status().causeModel == Self.shippedModels + "/cause.safetensors")
        // The event follows the swap (status may see the swap first).
        #expect(waitUntil {
            let loaded = (try? DaemonProcessTests.events(log))?.filter { $0["type"]?.stringValue == "models_loaded" }
            return loaded?.last?["reason"]?.stringValue == "SIGHUP"
        })
        #expect(Integration.terminate(run) == 0)
    }

    /// A cause model whose weights are NaN: it loads as a file, but must not run.
    static func nanCauseModel() throws -> Data {
        let path = makeTempDirectory("bmnan") + "/nan.safetensors"
        defer { removeTree((path as NSString).deletingLastPathComponent) }
        var model = try CryModelFile.load(path: shippedModels + "/cause.safetensors")
        for i in model.network.parameters.indices where i % 7 == 0 { model.network.parameters[i] = .nan }
        try model.write(to: path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// The reliability suite's reload check: a realtime replay reloaded again and again (the
    /// adapted directory alternately holds copies of the models and nothing, so every reload
    /// swaps) gives exactly the cry_start / need / cry_end events of a replay without reloads,
    /// with no sample dropped and every frame processed. Here the cause model is swapped under
    /// energy-only detection of synthetic cries (always runs); below, both models under the
    /// shipped detector on real cries.
    @Test func reloadsUnderAReplayLoseNoEvent() throws {
        let dir = makeTempDirectory("bmrl"); defer { removeTree(dir) }
        let seconds = 14.0
        let samples = Integration.clip(cries: [(1.5, 3), (7, 4)], total: seconds)
        try Self.replayWithReloads(samples, dir: dir, roles: ["cause"], extra: "[detector]\nenergy_only = true\n",
                                   withDetector: false, minimumEpisodes: 2)
    }

    @Test func reloadsOfBothModelsUnderARealCryReplayLoseNoEvent() throws {
        let cries = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("../shared/data/donateacry/hungry").standardized.path
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cries).sorted(), names.count >= 2 else {
            print("skipped: no cries in \(cries) (../shared/data absent)"); return
        }
        let dir = makeTempDirectory("bmrl"); defer { removeTree(dir) }
        // quiet noise, cry, noise, cry, noise
        var samples = Integration.clip(cries: [], total: 1.5)
        for name in names.prefix(2) {
            samples += try WAVReader.read(path: cries + "/" + name, sampleRate: Integration.rate).samples
            samples += Integration.clip(cries: [], total: 3)
        }
        try Self.replayWithReloads(samples, dir: dir, roles: ["cause", "detector"], extra: "", withDetector: true,
                                   minimumEpisodes: 1)
    }

    static func replayWithReloads(_ samples: [Float], dir: String, roles: [String], extra: String, withDetector: Bool,
                                  minimumEpisodes: Int) throws {
        let seconds = Double(samples.count) / Double(Integration.rate)
        let wav = dir + "/clip.wav"
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: Integration.rate), to: wav)
        func episodeEvents(_ log: String) throws -> [String] {
            try DaemonProcessTests.events(log).filter {
                ["cry_start", "need", "cry_end"].contains($0["type"]?.stringValue ?? "")
            }.map(Integration.withoutTimestamp)
        }
        let config = try Self.config(dir, extra: extra, withDetector: withDetector)
        let reference = dir + "/reference.jsonl"
        let first = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav,
                                                  "--pace", "fast", "--event-log", reference, "--socket", dir + "/r.sock"], in: dir)
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 0, "\(first.errorText)")
        let expected = try episodeEvents(reference)
        #expect(expected.filter { $0.contains("cry_end") }.count >= minimumEpisodes, "\(expected)")

        let log = dir + "/events.jsonl", sock = dir + "/control.sock"
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav,
                                                "--pace", "realtime", "--keep-running", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        var reloads = 0
        while (try? client.status().state) != "finished" {
            if reloads % 2 == 0 {
                for role in roles {
                    try Self.copy(Self.shippedModels + "/\(role).safetensors", dir + "/adapted/\(role).safetensors")
                }
            } else {
                try? FileManager.default.removeItem(atPath: dir + "/adapted")
            }
            if reloads % 3 == 2 {
                kill(run.process.processIdentifier, SIGHUP)
            } else {
                _ = try client.request(.reload)
            }
            reloads += 1
            usleep(200_000)
        }
        let status = try client.status()
        #expect(Integration.terminate(run) == 0)
        #expect(reloads >= 10, "only \(reloads) reloads during the replay")
        #expect(try episodeEvents(log) == expected)
        #expect(status.droppedSamples == 0 && status.xruns == 0)
        #expect(abs(status.audioSeconds - seconds) < 0.001)
        let events = try DaemonProcessTests.events(log)
        #expect(!events.contains { $0["type"]?.stringValue == "overrun" || $0["type"]?.stringValue == "model_error" })
        // The swaps happened while audio flowed, between frames.
        let swaps = events.filter { $0["type"]?.stringValue == "models_loaded" }.compactMap { $0["t_audio"]?.doubleValue }
        #expect(swaps.filter { $0 > 0 && $0 < seconds }.count >= 5, "\(swaps)")
        #expect(events.last?["type"]?.stringValue == "stopping")
    }
}
