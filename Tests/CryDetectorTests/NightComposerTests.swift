import CryModel
import Testing
@testable import CryDetector

@Suite struct NightComposerTests {
    @Test func groupsFollowTheDataSetsNamingRules() {
        #expect(NightClip.group(ofFileName: "0c8f14a9-6999-485b-97a2-913c1cbf099c-1431028888092-1.7-m-72-hu.wav")
                == "0c8f14a9-6999-485b-97a2-913c1cbf099c")
        #expect(NightClip.group(ofFileName: "1-187207-A.wav") == "1-187207")
        #expect(NightClip.group(ofFileName: "laugh_1.m4a_3.wav") == "laugh_1")
        #expect(NightClip.group(ofFileName: "crying_2_14.wav") == "crying_2")
        #expect(NightClip.group(ofFileName: "other.wav") == "other")
    }

    /// Clips made up on the spot: a "cry" is a 1 s tone, an "other" a 0.5 s noise burst.
    func load(_ clip: NightClip) -> [Float] {
        if clip.cause == "hungry" || clip.cause == "tired" {
            return (0..<8000).map { Float(0.5 * sin(2 * Double.pi * 450 * Double($0) / 8000)) }
        }
        var rng = SplitMix64(seed: UInt64(clip.path.utf8.count))
        return (0..<4000).map { _ in Float(0.3 * rng.gaussian()) }
    }

    let cries = [NightClip(path: "a1", group: "a", cause: "hungry"), NightClip(path: "a2", group: "a", cause: "hungry"),
                 NightClip(path: "b1", group: "b", cause: "tired")]
    let others = [NightClip(path: "dog1", group: "d", cause: "dog_bark")]

    @Test func deterministicForASeedAndLabelsMatchTheCries() throws {
        let composer = NightComposer()
        let a = try composer.compose(cries: cries, others: others, minutes: 3, seed: 7, load: load)
        let b = try composer.compose(cries: cries, others: others, minutes: 3, seed: 7, load: load)
        let c = try composer.compose(cries: cries, others: others, minutes: 3, seed: 8, load: load)
        #expect(a.samples == b.samples && a.labels == b.labels)
        #expect(a.samples != c.samples)
        #expect(a.samples.count == 3 * 60 * 8000)
        #expect(!a.labels.isEmpty && a.placements.count > a.labels.count)
        for l in a.labels {
            let seconds = l.end - l.start
            // 1-3 one-second tones of one baby joined (fades shave the edges a little).
            #expect(seconds > 0.9 && seconds <= 3.0)
            #expect(l.cause == "hungry" || l.cause == "tired")
        }
        // Placements never overlap.
        for (p, q) in zip(a.placements, a.placements.dropFirst()) { #expect(p.end <= q.start) }
        // The labelled spans are loud, the floor quiet.
        for l in a.labels {
            let mid = Int((l.start + l.end) / 2 * 8000)
            let rms = (a.samples[mid ..< mid + 400].map { Double($0 * $0) }.reduce(0, +) / 400).squareRoot()
            #expect(20 * log10(rms) > -40)
        }
        #expect(a.floorLevelDB >= -62 && a.floorLevelDB <= -48)
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite struct DetectionSetBuilderTests {
    func rmsDB(_ x: ArraySlice<Float>) -> Double {
        20 * log10((x.map { Double($0) * Double($0) }.reduce(0, +) / Double(x.count)).squareRoot())
    }

    @Test func augmentedClipsHaveTheirLevelAndSNRInRangeAndAreDeterministic() {
        let builder = DetectionSetBuilder()
        // 0.5 s of silence, 1 s tone, 0.5 s silence.
        let clip = [Float](repeating: 0, count: 4000)
            + (0..<8000).map { Float(0.8 * sin(2 * Double.pi * 500 * Double($0) / 8000)) }
            + [Float](repeating: 0, count: 4000)
        var r1 = SplitMix64(seed: 3), r2 = SplitMix64(seed: 3)
        for _ in 0..<10 {
            let a = builder.augment(clip, rng: &r1)
            #expect(a == builder.augment(clip, rng: &r2))
            #expect(a.count == clip.count)
            let signal = rmsDB(a[5000..<11000]), noise = rmsDB(a[0..<3500])
            #expect(signal >= -41 && signal <= -9)
            #expect(signal - noise >= 2 && signal - noise <= 36)
        }
        var r3 = SplitMix64(seed: 4)
        let bg = builder.backgroundClip(rng: &r3)
        #expect(bg.count == 40000)
        #expect(rmsDB(bg[...]) >= -75.5 && rmsDB(bg[...]) <= -34.5)
    }
}
