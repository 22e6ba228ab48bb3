import CryModel
import Foundation
import Testing
@testable import CryDetector

@Suite struct LaughSynthesizerTests {
    /// RMS in dBFS of each 10 ms hop.
    func hopLevels(_ x: [Float], hop: Int = 80) -> [Double] {
        stride(from: 0, to: x.count - hop + 1, by: hop).map { start in
            let s = x[start ..< start + hop].reduce(0.0) { $0 + Double($1) * Double($1) }
            return 10 * log10(max(s / Double(hop), 1e-20))
        }
    }

    @Test func deterministicForASeedAtTheStatedLevel() {
        var a = SplitMix64(seed: 4), b = SplitMix64(seed: 4), c = SplitMix64(seed: 5)
        let synth = LaughSynthesizer(sampleRate: 8000)
        let x = synth.clip(seconds: 5, rng: &a), y = synth.clip(seconds: 5, rng: &b), z = synth.clip(seconds: 5, rng: &c)
        #expect(x.count == 40000)
        #expect(x == y && x != z)
        let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)).squareRoot()
        #expect(abs(20 * log10(rms) - -20) < 0.01)
        #expect(x.allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    /// The property it exists for: short voiced syllables, never a cry's long voiced stretch.
    /// Loud runs (within 12 dB of the loudest hop) last at most the longest syllable, 180 ms.
    @Test func voicedRunsAreShortAndRepeated() {
        let synth = LaughSynthesizer(sampleRate: 8000)
        for seed in UInt64(1)...20 {
            var rng = SplitMix64(seed: seed)
            let levels = hopLevels(synth.clip(seconds: 5, rng: &rng))
            let peak = levels.max()!
            var runs: [Int] = [], current = 0
            for l in levels {
                if l > peak - 12 { current += 1 } else if current > 0 { runs.append(current); current = 0 }
            }
            if current > 0 { runs.append(current) }
            #expect(runs.max()! <= 19, "seed \(seed): a loud run of \(runs.max()!) hops")
            #expect(runs.count >= 5, "seed \(seed): only \(runs.count) syllables")
        }
    }

    @Test func syllableLongerThanItsPeriodIsClipped() {
        // 6.5 syllables per second leave 123 ms per syllable: never a crash, always breath.
        var rng = SplitMix64(seed: 77)
        for _ in 0..<50 { _ = LaughSynthesizer(sampleRate: 8000).clip(seconds: 2, rng: &rng) }
    }
}
