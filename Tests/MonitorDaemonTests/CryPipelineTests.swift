import Testing
import Foundation
import ControlProtocol
import CryModel
@testable import MonitorDaemon

@Suite struct CryPipelineTests {
    /// Quiet noise with tone bursts ("cries") at the given (start, seconds), 8 kHz.
    static func bursts(_ spans: [(Double, Double)], total: Double, rate: Int = 8000) -> [Float] {
        var rng = SplitMix64(seed: 7)
        var x = (0..<Int(total * Double(rate))).map { _ in Float(Double(rng.next() % 1000) / 1000 - 0.5) * 0.0005 }
        for (start, length) in spans {
            for i in Int(start * Double(rate))..<Int((start + length) * Double(rate)) {
                x[i] += Float(0.3 * sin(2 * Double.pi * 500 * Double(i) / Double(rate)))
            }
        }
        return x
    }

    static func run(_ pipeline: CryPipeline, _ samples: [Float], block: Int = 160) -> [MonitorEvent] {
        var events: [MonitorEvent] = []
        var i = 0
        while i < samples.count {
            let n = min(block, samples.count - i)
            samples.withUnsafeBufferPointer { pipeline.process(UnsafeBufferPointer(rebasing: $0[i..<(i + n)])) { events.append($0) } }
            i += n
        }
        pipeline.finish { events.append($0) }
        return events
    }

    /// A monitor that cannot detect cries does not start (issue 16): no detector model and
    /// no `energy_only = true` is a configuration error naming the key.
    @Test func withoutDetectorModelRefusesToStart() throws {
        let error = try #require(throws: ConfigError.self) { try CryPipeline(config: DaemonConfig()) }
        #expect(error.key == "models.detector" && error.problem.contains("energy_only = true"))
    }

    @Test func energyOnlyEpisodesWithCauseModelNeeds() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let cfg = ModelConfiguration(task: .cause, classes: ModelConfiguration.causeClasses, cell: .lstm,
                                     hidden: [8], dense: [])
        let modelPath = dir + "/cause.safetensors"
        try CryModelFile(network: try CryNetwork<Float>.random(configuration: cfg, seed: 1)).write(to: modelPath)
        var config = try DaemonConfig.parse("""
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 1
            restart_every_s = 1.5
            """, path: dir + "/b.toml")
        config.audio.sampleRate = 8000
        let p = try CryPipeline(config: config)
        #expect(p.degradedReason == nil)
        #expect(p.modelNames.map(\.0) == ["cause", "detector"] && p.modelNames[1].1 == "energy-only")

        let events = Self.run(p, Self.bursts([(1, 3.2), (8, 2)], total: 12))
        let types = events.map(\.type)
        #expect(types.filter { $0 == "cry_start" }.count == 2, "\(types)")
        #expect(types.filter { $0 == "cry_end" }.count == 2)
        // Episode 1: onset near 1 s, end near 4.2 s (+ gate hold).
        let start1 = try #require(events.first { $0.type == "cry_start" && $0.episode == 1 })
        #expect(abs((start1.tAudio ?? 0) - 1.0) < 0.15)
        #expect((start1["t_confirmed"]?.doubleValue ?? 0) > (start1.tAudio ?? 0))
        let end1 = try #require(events.first { $0.type == "cry_end" && $0.episode == 1 })
        #expect(abs((end1.tAudio ?? 0) - 4.2) < 0.5)
        #expect(abs((end1["duration_s"]?.doubleValue ?? 0) - ((end1.tAudio ?? 0) - (start1.tAudio ?? 0))) < 0.002)

        for episode in [1, 2] {
            let e = events.filter { $0.episode == episode }
            #expect(e.first?.type == "cry_start" && e.last?.type == "cry_end")
            let needs = e.filter { $0.type == "need" }
            #expect(needs.last?["final"]?.boolValue == true)
            #expect(needs.dropLast().allSatisfy { $0["final"]?.boolValue == false })
            for n in needs {
                let probs = try #require(n["probs"]?.objectValue)
                #expect(probs.map(\.0) == ModelConfiguration.causeClasses.sorted())
                let sum = probs.reduce(0.0) { $0 + ($1.1.doubleValue ?? 0) }
                #expect(abs(sum - 1) < 0.01)
                // An uncalibrated random model: its top probability may be under the default min_confidence.
                let label = n["label"]?.stringValue ?? ""
                let confidence = n["confidence"]?.doubleValue ?? 0
                let threshold = DaemonConfig.Classifier().minConfidence
                #expect(ModelConfiguration.causeClasses.contains(label) ? confidence >= threshold : (label == "unsure" && confidence < threshold),
                        "\(label) \(confidence)")
                #expect((n.tAudio ?? 0) >= (e.first?.tAudio ?? 0) && (n.tAudio ?? 0) <= (e.last?.tAudio ?? 0) + 0.01)
            }
        }
        // 3.2 s episode, first decision at 1 s, windows of 1.5 s: needs at ~1, 1.5, 3 s, then final.
        #expect(events.filter { $0.episode == 1 && $0.type == "need" }.count == 4)
        // 2 s episode: first decision at 1 s, a window end at 1.5 s, final.
        #expect(events.filter { $0.episode == 2 && $0.type == "need" }.count == 3)
    }

    /// A calibrated cause model: the need events carry the calibrated probabilities, and say
    /// "unsure" exactly when the top one is below `[classifier] min_confidence`.
    @Test func calibratedNeedsSayUnsureBelowMinConfidence() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let cfg = ModelConfiguration(task: .cause, classes: ModelConfiguration.causeClasses, cell: .lstm, hidden: [8], dense: [])
        var model = CryModelFile(network: try CryNetwork<Float>.random(configuration: cfg, seed: 1))
        // A very high temperature flattens the network's output: q is about softmax(b), here
        // hungry 0.60, the other four 0.10 each, whatever the network says.
        let b = [0.6, 0.1, 0.1, 0.1, 0.1].map { Foundation.log($0) }
        model.calibration = ProbabilityCalibration(temperature: 1e4, logPriorCorrection: b, prior: [0.6, 0.1, 0.1, 0.1, 0.1])
        try model.write(to: dir + "/cause.safetensors")
        func needs(minConfidence: Double) throws -> [MonitorEvent] {
            var config = try DaemonConfig.parse("""
                [models]
                cause = "cause.safetensors"
                [detector]
                energy_only = true
                [classifier]
                first_decision_s = 1
                restart_every_s = 1.5
                min_confidence = \(minConfidence)
                """, path: dir + "/b.toml")
            config.audio.sampleRate = 8000
            return Self.run(try CryPipeline(config: config), Self.bursts([(1, 3.2)], total: 6)).filter { $0.type == "need" }
        }
        for (threshold, expected) in [(0.7, "unsure"), (0.5, "hungry")] {
            let events = try needs(minConfidence: threshold)
            #expect(events.count == 4)
            for n in events {
                #expect(n["label"]?.stringValue == expected, "min_confidence \(threshold): \(n)")
                #expect(abs((n["confidence"]?.doubleValue ?? 0) - 0.6) < 0.01)
                let probs = try #require(n["probs"]?.objectValue)
                #expect(abs((probs.first { $0.0 == "hungry" }?.1.doubleValue ?? 0) - 0.6) < 0.01)
                #expect(abs((probs.first { $0.0 == "burping" }?.1.doubleValue ?? 0) - 0.1) < 0.01)
            }
        }
        #expect(try DaemonConfig.parse("[classifier]\nmin_confidence = 0.4\n", path: "x.toml").classifier.minConfidence == 0.4)
        #expect(throws: ConfigError.self) { try DaemonConfig.parse("[classifier]\nmin_confidence = 1.5\n", path: "x.toml") }
    }

    @Test func badModelIsAConfigErrorNamingTheKey() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/junk.safetensors", contents: Data("junk".utf8))
        let config = try DaemonConfig.parse("[models]\ndetector = \"junk.safetensors\"\n", path: dir + "/b.toml")
        let error = try #require(throws: ConfigError.self) { try CryPipeline(config: config) }
        #expect(error.file == dir + "/b.toml" && error.key == "models.detector")
        let missing = try DaemonConfig.parse("[models]\ncause = \"none.safetensors\"\n", path: dir + "/b.toml")
        #expect(throws: ConfigError.self) { try CryPipeline(config: missing) }
    }
}
