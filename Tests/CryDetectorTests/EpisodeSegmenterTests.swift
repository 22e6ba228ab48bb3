import CryModel
import Testing
@testable import CryDetector

/// Streams `p` (and `gate`) through a segmenter; returns the episodes assembled from its
/// events, checking that events alternate started/ended.
func streamEpisodes(_ p: [Float], gate: [Bool]? = nil, _ c: DetectorConfiguration) -> [CryEpisode] {
    var seg = EpisodeSegmenter(configuration: c)
    var result: [CryEpisode] = []
    var open: (Int, Int)?
    var lastEventFrame = -1
    let collect: (EpisodeEvent) -> Void = { e in
        switch e {
        case let .started(onset, confirmedAt):
            precondition(open == nil, "started twice")
            open = (onset, confirmedAt)
        case let .ended(end):
            let (o, c) = open!
            result.append(CryEpisode(onsetFrame: o, confirmationFrame: c, endFrame: end))
            open = nil
        }
    }
    for (t, x) in p.enumerated() {
        seg.process(probability: x, gateOpen: gate?[t] ?? false) { e in
            if case let .started(_, c) = e { precondition(c == t, "confirmation is the current frame") }
            lastEventFrame = t
            collect(e)
        }
    }
    seg.finish(emit: collect)
    _ = lastEventFrame
    return result
}

/// A configuration in whole frames (frameSeconds 0.01).
func frameConfig(on: Float = 0.5, off: Float = 0.3, confirm: Int = 3, lookback: Int = 0, hangover: Int = 1,
                 minimum: Int = 1, merge: Int = 0) -> DetectorConfiguration {
    DetectorConfiguration(onThreshold: on, offThreshold: off, onsetConfirmationFrames: confirm,
                          onsetLookbackSeconds: Double(lookback) / 100, hangoverSeconds: Double(hangover) / 100,
                          minimumEpisodeSeconds: Double(minimum) / 100, mergeGapSeconds: Double(merge) / 100)
}

/// Builds a probability sequence from (value, count) pieces.
func seq(_ pieces: (Float, Int)...) -> [Float] { pieces.flatMap { [Float](repeating: $0.0, count: $0.1) } }

/// Both ways must agree; returns the streamed episodes.
func episodes(_ p: [Float], gate: [Bool]? = nil, _ c: DetectorConfiguration) -> [CryEpisode] {
    let streamed = streamEpisodes(p, gate: gate, c)
    let offline = EpisodeSegmenter.episodes(probabilities: p, gate: gate, configuration: c)
    #expect(streamed == offline)
    return streamed
}

@Suite struct EpisodeSegmenterTests {
    @Test func onsetConfirmationNeedsThatManyFramesAboveTheOnThreshold() {
        let c = frameConfig(confirm: 5)
        #expect(episodes(seq((0, 10), (0.9, 4), (0, 10)), c).isEmpty)
        #expect(episodes(seq((0, 10), (0.9, 5), (0, 10)), c) == [CryEpisode(onsetFrame: 10, confirmationFrame: 14, endFrame: 15)])
        // A dip below the on-threshold restarts the count.
        #expect(episodes(seq((0, 10), (0.9, 3), (0.4, 1), (0.9, 3), (0, 10)), c).isEmpty)
    }

    @Test func theOnThresholdDecides() {
        let p = seq((0, 10), (0.6, 20), (0, 10))
        #expect(episodes(p, frameConfig(on: 0.5)).count == 1)
        #expect(episodes(p, frameConfig(on: 0.7)).isEmpty)
    }

    @Test func onsetIsEstimatedBackOverFramesAboveTheOffThreshold() {
        // p rises through the off-threshold at 10, crosses the on-threshold at 16.
        let p = seq((0, 10), (0.4, 6), (0.9, 10), (0, 10))
        #expect(episodes(p, frameConfig(confirm: 3)) == [CryEpisode(onsetFrame: 10, confirmationFrame: 18, endFrame: 26)])
        // With a higher off-threshold the rise does not count.
        #expect(episodes(p, frameConfig(off: 0.45, confirm: 3)).first?.onsetFrame == 16)
    }

    @Test func onsetGoesBackToTheGateOpeningWithinTheLookback() {
        // The gate opens at 20; the classifier is confident from 30 on.
        let p = seq((0, 30), (0.9, 20), (0, 10))
        let gate = (0..<60).map { $0 >= 20 && $0 < 55 }
        #expect(episodes(p, gate: gate, frameConfig(lookback: 10)).first?.onsetFrame == 20)
        #expect(episodes(p, gate: gate, frameConfig(lookback: 9)).first?.onsetFrame == 30)
        // A gate that closed in between does not count.
        var broken = gate
        broken[25] = false
        #expect(episodes(p, gate: broken, frameConfig(lookback: 10)).first?.onsetFrame == 26)
    }

    @Test func theHangoverBridgesShortDropsAndTheEndIsTheLastActiveFrame() {
        let p = seq((0, 5), (0.9, 10), (0, 4), (0.35, 2), (0, 6), (0.9, 10), (0, 20))
        // 6 frames below off between the two bursts (after the 0.35s).
        #expect(episodes(p, frameConfig(hangover: 7)) == [CryEpisode(onsetFrame: 5, confirmationFrame: 7, endFrame: 37)])
        let split = episodes(p, frameConfig(hangover: 6))
        #expect(split.count == 2)
        #expect(split.first?.endFrame == 21)   // the 0.35 frames keep it alive: last active 20
        #expect(episodes(p, frameConfig(hangover: 4)).map(\.endFrame) == [15, 37])
    }

    @Test func theMinimumLengthDropsShortEpisodesAndDelaysTheAnnouncement() {
        let p = seq((0, 5), (0.9, 8), (0, 20), (0.9, 30), (0, 5))
        let e = episodes(p, frameConfig(confirm: 3, minimum: 10))
        #expect(e == [CryEpisode(onsetFrame: 33, confirmationFrame: 42, endFrame: 63)])
        #expect(episodes(p, frameConfig(confirm: 3, minimum: 8)).count == 2)
    }

    @Test func theMergeGapJoinsBurstsSeparatedByShortPauses() {
        // Bursts [5, 25) and [40, 60): onset gap 15 frames after the first ends.
        let p = seq((0, 5), (0.9, 20), (0, 15), (0.9, 20), (0, 30))
        #expect(episodes(p, frameConfig(merge: 16)) == [CryEpisode(onsetFrame: 5, confirmationFrame: 7, endFrame: 60)])
        #expect(episodes(p, frameConfig(merge: 15)).count == 2)
        // Two bursts each shorter than the minimum length make one episode when merged.
        let short = seq((0, 5), (0.9, 6), (0, 3), (0.9, 6), (0, 30))
        #expect(episodes(short, frameConfig(minimum: 12)).isEmpty)
        #expect(episodes(short, frameConfig(minimum: 12, merge: 4)) == [CryEpisode(onsetFrame: 5, confirmationFrame: 16, endFrame: 20)])
    }

    @Test func endEventsComeAfterHangoverAndMergeGap() {
        let c = frameConfig(hangover: 5, merge: 10)
        var seg = EpisodeSegmenter(configuration: c)
        var endedAt: Int?
        for (t, x) in seq((0, 5), (0.9, 20), (0, 40)).enumerated() {
            seg.process(probability: x, gateOpen: false) { e in if case .ended(25) = e { endedAt = t } }
        }
        // Last active 24; segment over at 29; no onset possible before 25 + 10 = 35 from frame 34 on.
        #expect(endedAt == 34)
    }

    @Test func streamingEqualsOfflineOnRandomSequences() {
        var rng = SplitMix64(seed: 42)
        var total = 0, merged = 0
        for trial in 0..<400 {
            let n = 50 + Int(rng.next() % 600)
            var p: [Float] = []
            var gate: [Bool] = []
            var g = false
            while p.count < n {
                // Pieces of random length and level, with noise, so every rule gets exercised.
                let len = 1 + Int(rng.next() % 25)
                let base = Float(rng.unit())
                if rng.unit() < 0.3 { g.toggle() }
                for _ in 0..<len {
                    p.append(min(1, max(0, base + Float(rng.unit() - 0.5) * 0.3)))
                    gate.append(g || rng.unit() < 0.02)
                }
            }
            let off = Float(rng.unit() * 0.5)
            let c = frameConfig(on: off + Float(rng.unit()) * (1 - off), off: off,
                                confirm: 1 + Int(rng.next() % 8), lookback: Int(rng.next() % 15),
                                hangover: 1 + Int(rng.next() % 10), minimum: 1 + Int(rng.next() % 30),
                                merge: Int(rng.next() % 25))
            let streamed = streamEpisodes(p, gate: gate, c)
            let offline = EpisodeSegmenter.episodes(probabilities: p, gate: gate, configuration: c)
            #expect(streamed == offline, "trial \(trial)")
            if streamed != offline { break }
            total += streamed.count
            // Episodes longer than a segment can be (merged ones) show the merge rule ran.
            merged += streamed.filter { $0.confirmationFrame > $0.onsetFrame + 40 }.count
        }
        #expect(total > 500 && merged > 10, "random sequences exercise the rules: \(total) episodes, \(merged) late")
    }
}

/// An adapted detector's own operating point swapped in between frames: the same
/// probabilities give no episode at the old on-threshold and one at the new, and a
/// configuration that breaks off <= on is refused by the detector.
@Test func thresholdsChangedBetweenFramesTakeEffect() throws {
    let c = frameConfig(on: 0.97, off: 0.3, confirm: 3)
    var seg = EpisodeSegmenter(configuration: c)
    var started = 0
    for _ in 0..<20 { seg.process(probability: 0.95, gateOpen: true) { if case .started = $0 { started += 1 } } }
    #expect(started == 0)
    seg.setThresholds(on: 0.9, off: 0.3)
    for _ in 0..<20 { seg.process(probability: 0.95, gateOpen: true) { if case .started = $0 { started += 1 } } }
    #expect(started == 1)

    let detector = try CryDetector(energyOnlyWith: c)
    try detector.setThresholds(on: 0.9, off: 0.2)
    #expect(detector.configuration.onThreshold == 0.9 && detector.configuration.offThreshold == 0.2)
    #expect(throws: (any Error).self) { try detector.setThresholds(on: 0.5, off: 0.6) }
    #expect(detector.configuration.onThreshold == 0.9)
}
