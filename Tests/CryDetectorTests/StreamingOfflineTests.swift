import CryModel
import Features
import Testing
@testable import CryDetector

#if canImport(Glibc)
import Glibc
#endif

/// Stage 2 stand-in with memory: an exponential average of the voicing feature, so that
/// the reset rule and the gating matter to its output.
final class VoicingModel: CryProbabilityModel {
    let featureCount = 32
    var state: Float = 0
    func cryProbability(_ f: UnsafeBufferPointer<Float>) -> Float {
        state = 0.9 * state + 0.1 * f[2]
        return min(1, state * 1.3)
    }
    func reset() { state = 0 }
}

@Suite struct StreamingOfflineTests {
    /// 40 s at 8 kHz: room noise, voiced "cries" (harmonic tone at 450 Hz with vibrato),
    /// unvoiced bursts (noise), at varied levels.
    func audio() -> [Float] {
        var rng = SplitMix64(seed: 9)
        let sr = 8000.0
        var x = NightComposer.pinkishNoise(count: 40 * 8000, rmsDB: -58, rng: &rng)
        let events: [(start: Double, length: Double, voiced: Bool, level: Double)] = [
            (3, 4, true, 0.2), (9, 1.5, false, 0.3), (12, 0.4, true, 0.1), (12.9, 3, true, 0.05),
            (20, 2, false, 0.02), (24, 6, true, 0.3), (33, 0.8, true, 0.2), (35, 3, false, 0.1),
        ]
        for e in events {
            for i in Int(e.start * sr) ..< Int((e.start + e.length) * sr) {
                let t = Double(i) / sr
                let v = e.voiced
                    ? sin(2 * Double.pi * 450 * t + 3 * sin(2 * Double.pi * 5 * t)) + 0.5 * sin(2 * Double.pi * 900 * t)
                    : rng.gaussian()
                x[i] += Float(e.level * v)
            }
        }
        return x
    }

    @Test func streamingDetectorEqualsOfflineSegmentationOfTheSameAudio() throws {
        let samples = audio()
        let config = DetectorConfiguration()
        // Streaming: capture-sized blocks of varying length through the extractor and detector.
        let detector = try CryDetector(stage2: VoicingModel(), configuration: config)
        var streamed: [CryEpisode] = []
        var open: (Int, Int)?
        var probs: [Float] = [], gates: [Bool] = []
        let collect: (EpisodeEvent) -> Void = { e in
            switch e {
            case let .started(o, c): open = (o, c)
            case let .ended(end): streamed.append(CryEpisode(onsetFrame: open!.0, confirmationFrame: open!.1, endFrame: end)); open = nil
            }
        }
        let onFrame: (Int, UnsafeBufferPointer<Float>) -> Void = { _, row in
            detector.process(row, emit: collect)
            probs.append(detector.lastProbability)
            gates.append(detector.isGateOpen)
        }
        let extractor = FeatureExtractor()
        var i = 0, block = 1
        samples.withUnsafeBufferPointer { all in
            while i < all.count {
                let n = min(block, all.count - i)
                extractor.process(UnsafeBufferPointer(rebasing: all[i ..< i + n]), emit: onFrame)
                i += n
                block = block * 7 % 1999 + 1
            }
        }
        extractor.finish(emit: onFrame)
        detector.finish(emit: collect)

        // Offline: whole-file features, gate and stage 2 frame by frame, then the array segmenter.
        let matrix = FeatureExtractor.extract(samples)
        #expect(matrix.frameCount == probs.count)
        var gate = EnergyGate(configuration: config)
        let model = VoicingModel()
        var offP: [Float] = [], offGate: [Bool] = []
        var closed = Int.max / 2
        for f in 0..<matrix.frameCount {
            let row = Array(matrix[f])
            let wasOpen = gate.isOpen
            let isOpen = gate.process(levelDB: 20 * row[0])
            var p: Float = 0
            if isOpen {
                if !wasOpen && closed >= config.classifierResetFrames { model.reset() }
                p = row.withUnsafeBufferPointer { model.cryProbability($0) }
                closed = 0
            } else { closed += 1 }
            offP.append(p)
            offGate.append(isOpen)
        }
        #expect(offP == probs && offGate == gates)
        let offline = EpisodeSegmenter.episodes(probabilities: offP, gate: offGate, configuration: config)
        #expect(streamed == offline)
        // The voiced events are found, the unvoiced bursts are not.
        #expect(streamed.count >= 3)
        for e in streamed {
            let onset = Double(e.onsetFrame) * 0.01
            #expect(![9.0, 20.0, 35.0].contains { abs(onset - $0) < 1 }, "unvoiced burst at \(onset) s detected")
        }
    }
}
