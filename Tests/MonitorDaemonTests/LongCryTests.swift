import Testing
import Foundation
import AudioIO
import ControlProtocol
import CryModel
@testable import MonitorDaemon

/// A cry far longer than the clips the cause model learned from, through the real daemon.
@Suite(.serialized) struct LongCryTests {
    /// Ten minutes of continuous cry-like sound (harmonic 400-600 Hz sweep, amplitude
    /// modulated), replayed fast with a cause model: one episode of ~600 s; a first need at
    /// `first_decision_s`, then one at every `restart_every_s` window's end, a final one at
    /// the end; every need's probabilities finite, summing to 1, confidence in [0, 1].
    @Test func tenMinuteCryIsOneEpisodeWithSensibleNeeds() throws {
        let dir = makeTempDirectory("bmlong"); defer { removeTree(dir) }
        let rate = Integration.rate
        let lead = 1.0, cry = 600.0, tail = 3.0
        // The cry sound repeats every 4 s (sweep period; 3 Hz modulation and the 500 Hz
        // centre fit whole periods into it): build one period and tile it.
        let period = (0..<(4 * rate)).map { Integration.crySample($0) }
        var samples = Integration.clip(cries: [], total: lead + cry + tail)
        let first = Int(lead * Double(rate))
        for i in 0..<Int(cry * Double(rate)) { samples[first + i] += period[i % period.count] }
        let wav = dir + "/long.wav"
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: rate), to: wav)
        try Integration.writeCauseModel(dir + "/cause.safetensors")
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 3
            restart_every_s = 5
            """)
        let log = dir + "/events.jsonl"
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                "--event-log", log, "--socket", dir + "/control.sock"], in: dir)
        defer { run.stop() }
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.errorText)")

        let events = try DaemonProcessTests.events(log)
        let starts = events.filter { $0["type"]?.stringValue == "cry_start" }
        let ends = events.filter { $0["type"]?.stringValue == "cry_end" }
        try #require(starts.count == 1 && ends.count == 1,
                     "\(events.filter { $0["type"]?.stringValue != "need" }.map(Integration.withoutTimestamp))")
        let onset = try #require(starts[0]["t_audio"]?.doubleValue)
        #expect(abs(onset - lead) < 0.1)
        let duration = try #require(ends[0]["duration_s"]?.doubleValue)
        #expect(abs(duration - cry) < 1, "cry_end \(Integration.withoutTimestamp(ends[0]))")

        let needs = events.filter { $0["type"]?.stringValue == "need" }
        #expect(needs.allSatisfy { $0["episode"]?.intValue == 1 })
        for n in needs {
            let probs = try #require(n["probs"]?.objectValue)
            #expect(probs.map(\.0) == ModelConfiguration.causeClasses.sorted())
            let values = probs.map { $0.1.doubleValue ?? .nan }
            #expect(values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(Integration.withoutTimestamp(n))")
            #expect(abs(values.reduce(0, +) - 1) < 0.01, "\(Integration.withoutTimestamp(n))")
            let confidence = n["confidence"]?.doubleValue ?? .nan
            #expect(confidence >= 0 && confidence <= 1)
            #expect(abs(confidence - (values.max() ?? .nan)) < 0.001)
            // The top cause, or "unsure" below [classifier] min_confidence (default).
            let top = confidence < DaemonConfig.Classifier().minConfidence ? "unsure" : probs.first { $0.1.doubleValue == values.max() }?.0
            #expect(n["label"]?.stringValue == top)
        }
        // Only the last need is final, and it closes the episode.
        #expect(needs.last?["final"]?.boolValue == true)
        #expect(needs.dropLast().allSatisfy { $0["final"]?.boolValue == false })
        let endIndex = try #require(events.firstIndex { $0["type"]?.stringValue == "cry_end" })
        #expect(events[endIndex - 1]["type"]?.stringValue == "need" && events[endIndex - 1]["final"]?.boolValue == true)
        // Decision times into the episode: 3 s, then 5, 10, 15, ... (each window's end).
        let times = needs.dropLast().compactMap { $0["t_audio"]?.doubleValue }.map { $0 - onset }
        let windows = Int(duration / 5)
        #expect(times.count == windows + 1 || times.count == windows, "\(times.count) needs for \(duration) s")
        #expect(abs((times.first ?? 0) - 3) < 0.015)
        for (k, t) in times.dropFirst().enumerated() {
            #expect(abs(t - 5 * Double(k + 1)) < 0.015, "need \(k + 2) at \(t) s into the episode")
        }
    }
}
