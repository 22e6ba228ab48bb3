import Testing
import CryModel
@testable import CryDetector

/// A stand-in stage 2 that answers a fixed p(cry) whatever the frame.
final class ConstantModel: CryProbabilityModel {
    let featureCount = 4
    let p: Float
    var resets = 0
    init(_ p: Float) { self.p = p }
    func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float { p }
    func reset() { resets += 1 }
}

@Suite struct ProbabilitySmoothingTests {
    @Test func theSmootherIsTheMeanOfTheLastNValues() {
        var s = ProbabilitySmoother(frames: 4)
        let xs: [Float] = [1, 0, 0.5, 0.5, 1, 1, 1, 1, 0, 0.2]
        for (t, x) in xs.enumerated() {
            let window = xs[max(0, t - 3)...t]
            let expected = window.reduce(0, +) / 4   // values before the stream count as 0
            #expect(abs(s.push(x) - expected) < 1e-6, "frame \(t)")
        }
        s.reset()
        #expect(s.push(1) == 0.25)
    }

    @Test func oneFrameIsNoSmoothing() {
        var s = ProbabilitySmoother(frames: 1)
        #expect(s.push(0.3) == 0.3)
        #expect(s.push(0.9) == 0.9)
    }

    @Test func theMeanDoesNotDriftOverALongStream() {
        var s = ProbabilitySmoother(frames: 30)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200_000 { _ = s.push(Float(rng.uniform(in: 0...1))) }
        for _ in 0..<29 { _ = s.push(0.25) }
        #expect(abs(s.push(0.25) - 0.25) < 1e-6)
    }

    // The fake stage 2 of CryDetectorTests (p = feature 1): a cry at p 0.9 for 3 s, and a
    // flicker (0.2 s at 0.9 every 0.6 s) that never holds p high: unsmoothed, the flicker's
    // 20-frame runs confirm onsets; a 0.4 s mean keeps it under the on-threshold.
    let base = DetectorConfiguration(onThreshold: 0.6, onsetConfirmationFrames: 10, onsetLookbackSeconds: 1,
                                     hangoverSeconds: 0.3, minimumEpisodeSeconds: 0.5, mergeGapSeconds: 1)

    func flicker() -> [Float] {
        var pieces: [(levelDB: Float, p: Float, count: Int)] = [(-60, 0, 500)]
        for _ in 0..<8 { pieces += [(-25, 0.9, 20), (-25, 0.1, 40)] }
        pieces += [(-60, 0, 500)]
        return frames(pieces)
    }

    @Test func smoothingKeepsABriefCryLikeFlickerOut() throws {
        let x = flicker()
        let n = x.count / 4
        let plain = try CryDetector(stage2: FeatureOneModel(), configuration: base)
        #expect(plain.episodes(frames: n, featureCount: 4, values: x).count == 1, "unsmoothed: the flicker alarms")
        var c = base
        c.probabilitySmoothingSeconds = 0.4
        let smoothed = try CryDetector(stage2: FeatureOneModel(), configuration: c)
        #expect(smoothed.episodes(frames: n, featureCount: 4, values: x).isEmpty)
    }

    @Test func aSustainedCryIsStillFoundWithTheSmoothingDelay() throws {
        var c = base
        c.probabilitySmoothingSeconds = 0.4
        c.minimumEpisodeSeconds = 0.1   // so that the announcement waits for the confirmation only
        let detector = try CryDetector(stage2: FeatureOneModel(), configuration: c)
        let x = frames([(-60, 0, 500), (-25, 0.9, 300), (-60, 0, 500)])
        let e = detector.episodes(frames: 1300, featureCount: 4, values: x)
        #expect(e.count == 1)
        // The 40-frame mean of 0.9s reaches 0.6 after 27 frames; then 10 frames confirm.
        #expect(e.first?.onsetFrame == 500)
        #expect(e.first?.confirmationFrame == 500 + 26 + 9)
        #expect(detector.lastProbability == 0, "the window has emptied after 5 s of quiet")
    }

    @Test func badSmoothingIsRefusedWithTheFieldNamed() {
        var c = DetectorConfiguration()
        c.probabilitySmoothingSeconds = -1
        do { try c.validate(); Issue.record("accepted a negative smoothing") } catch {
            #expect("\(error)".contains("probabilitySmoothingSeconds"))
        }
        c.probabilitySmoothingSeconds = .nan
        #expect(throws: DetectorError.self) { try c.validate() }
    }
}

@Suite struct EnsembleTests {
    @Test func theEnsembleIsTheMeanOfItsMembersAndResetsThemAll() throws {
        let a = ConstantModel(0.2), b = ConstantModel(0.9)
        let e = try AveragedCryModel(members: [a, b], names: ["a", "b"])
        let row: [Float] = [0, 0, 0, 0]
        let p = row.withUnsafeBufferPointer { e.cryProbability($0) }
        #expect(abs(p - 0.55) < 1e-6)
        e.reset()
        #expect(a.resets == 1 && b.resets == 1)
    }

    @Test func membersWithAnotherFeatureCountAreRefusedByName() {
        final class Wide: CryProbabilityModel {
            let featureCount = 8
            func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float { 0 }
            func reset() {}
        }
        do {
            _ = try AveragedCryModel(members: [ConstantModel(0.1), Wide()], names: ["first", "second.safetensors"])
            Issue.record("accepted members of different feature counts")
        } catch {
            #expect("\(error)".contains("second.safetensors"))
        }
        #expect(throws: DetectorError.noDetectorModel) { try AveragedCryModel(members: [], names: []) }
    }

    @Test func anEnsembleWhereOneMemberDoubtsAFlickerDoesNotAlarm() throws {
        // Member 1 (p = feature 1) is sure on both sounds; member 2 only on the cry: the mean
        // 0.5 on the other sound stays under the 0.7 on-threshold.
        final class CryOnly: CryProbabilityModel {
            let featureCount = 4
            func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float { features[2] }
            func reset() {}
        }
        let c = DetectorConfiguration(onThreshold: 0.7, onsetConfirmationFrames: 10, onsetLookbackSeconds: 1,
                                      hangoverSeconds: 0.3, minimumEpisodeSeconds: 0.5, mergeGapSeconds: 1)
        let e = try AveragedCryModel(members: [FeatureOneModel(), CryOnly()], names: ["one", "cry-only"])
        let detector = try CryDetector(stage2: e, configuration: c)
        var x: [Float] = []
        for _ in 0..<500 { x += [-3, 0, 0, 0] }          // quiet
        for _ in 0..<300 { x += [-1.25, 1, 0, 0] }       // another sound: member 2 says 0
        for _ in 0..<500 { x += [-3, 0, 0, 0] }
        for _ in 0..<300 { x += [-1.25, 1, 1, 0] }       // a cry: both say 1
        for _ in 0..<500 { x += [-3, 0, 0, 0] }
        let found = detector.episodes(frames: x.count / 4, featureCount: 4, values: x)
        #expect(found.count == 1)
        #expect(found.first?.onsetFrame == 1300)
    }
}
