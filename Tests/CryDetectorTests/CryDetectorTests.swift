import Testing
@testable import CryDetector

/// A stand-in stage 2: p(cry) is feature 1 of the frame; counts its calls and resets.
final class FeatureOneModel: CryProbabilityModel {
    let featureCount = 4
    var steps = 0, resets = 0
    func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float { steps += 1; return features[1] }
    func reset() { resets += 1 }
}

/// Frames of 4 features: [log10 RMS, p(cry) for the fake model, 0, 0].
func frames(_ pieces: [(levelDB: Float, p: Float, count: Int)]) -> [Float] {
    pieces.flatMap { piece in (0..<piece.count).flatMap { _ in [piece.levelDB / 20, piece.p, 0, 0] } }
}

@Suite struct CryDetectorTests {
    // The fake stage 2 says 0.9 for a cry: an on-threshold of 0.5 (the shipped 0.97 is tuned
    // to the shipped network's outputs).
    let config = DetectorConfiguration(onThreshold: 0.5, onsetConfirmationFrames: 10, onsetLookbackSeconds: 1,
                                       hangoverSeconds: 0.3, minimumEpisodeSeconds: 0.5, mergeGapSeconds: 1)

    @Test func stage2RunsOnlyWhileTheGateIsOpen() throws {
        let model = FeatureOneModel()
        let detector = try CryDetector(stage2: model, configuration: config)
        // 10 s of quiet background where the fake model would say "cry": the gate keeps it shut.
        let quiet = frames([(-60, 0.9, 1000)])
        #expect(detector.episodes(frames: 1000, featureCount: 4, values: quiet).isEmpty)
        #expect(model.steps == 0 && detector.stage2FrameCount == 0)
    }

    @Test func aLoudCryIsFoundWithItsOnsetAtTheGateOpening() throws {
        let model = FeatureOneModel()
        let detector = try CryDetector(stage2: model, configuration: config)
        // Background, then a loud sound whose first 40 frames the model is unsure of.
        let x = frames([(-60, 0, 500), (-25, 0.1, 40), (-25, 0.9, 300), (-60, 0, 500)])
        let e = detector.episodes(frames: 1340, featureCount: 4, values: x)
        #expect(e.count == 1)
        #expect(e.first?.onsetFrame == 500, "back to the gate opening, 0.4 s before p rose")
        #expect(e.first?.confirmationFrame == 549)
        #expect(e.first?.endFrame == 840)
        #expect(model.resets == 1)
        #expect(model.steps == detector.stage2FrameCount)
        #expect(detector.stage2FrameCount >= 340 && detector.stage2FrameCount <= 340 + config.gateHoldFrames)
    }

    @Test func aLoudNonCryIsNotAnEpisode() throws {
        let detector = try CryDetector(stage2: FeatureOneModel(), configuration: config)
        let x = frames([(-60, 0, 500), (-20, 0.1, 300), (-60, 0, 500)])
        #expect(detector.episodes(frames: 1300, featureCount: 4, values: x).isEmpty)
    }

    @Test func stage2IsResetOnlyAfterALongClosure() throws {
        let model = FeatureOneModel()
        let detector = try CryDetector(stage2: model, configuration: config)
        // Two sounds 0.5 s apart (gate closed ~0.2 s between): no reset; then 3 s later: reset.
        let x = frames([(-60, 0, 300), (-25, 0.9, 100), (-60, 0, 50), (-25, 0.9, 100), (-60, 0, 300), (-25, 0.9, 100)])
        _ = detector.episodes(frames: 950, featureCount: 4, values: x)
        #expect(model.resets == 2)
    }

    @Test func energyOnlyModeIsTheSoundActivatedBaseline() throws {
        let detector = try CryDetector(energyOnlyWith: config)
        let x = frames([(-60, 0, 500), (-20, 0, 200), (-60, 0, 500)])
        let e = detector.episodes(frames: 1200, featureCount: 4, values: x)
        #expect(e.count == 1)
        #expect(e.first?.onsetFrame == 500)
        #expect(e.first.map { $0.endFrame >= 700 && $0.endFrame <= 700 + config.gateHoldFrames + 1 } == true)
        #expect(detector.mode == .energyOnly)
    }

    @Test func badConfigurationIsRefusedWithTheFieldNamed() {
        var c = DetectorConfiguration()
        c.offThreshold = 0.8
        c.onThreshold = 0.5
        #expect(throws: DetectorError.self) { try CryDetector(energyOnlyWith: c) }
        do { try c.validate() } catch { #expect("\(error)".contains("offThreshold")) }
    }

    @Test func resetStartsANewStream() throws {
        let detector = try CryDetector(stage2: FeatureOneModel(), configuration: config)
        let x = frames([(-60, 0, 300), (-25, 0.9, 200), (-60, 0, 300)])
        let a = detector.episodes(frames: 800, featureCount: 4, values: x)
        detector.reset()
        let b = detector.episodes(frames: 800, featureCount: 4, values: x)
        #expect(a == b && a.count == 1)
    }
}
