#if canImport(Glibc)
import CryModel
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Generated laugh-like sounds for the detector's "other" class. The shared data has two
/// laughing babies, and a detector trained on them takes a third baby's laugh for a cry
/// (docs/detector.md). What tells the two apart is the rhythm, not the voice: a cry's voiced
/// stretches last 0.5-2 s, a laugh is bouts of short syllables ("ha-ha-ha"). So the
/// generator varies the voice widely and keeps only the rhythm:
///
///     bout      = 3-9 syllables, 3.5-6.5 per second, then 0.3-1.2 s of quiet
///     syllable  = 60-180 ms voiced: sum_k a_k sin(2 pi k f0(t) t), k f0 < 0.45 rate,
///                 a_k = k^-1.3 x (1 + formant bumps at F1 600-1100 Hz, F2 1300-2300 Hz)
///                 f0 = 220-650 Hz at the bout's start, falling up to 30% over the bout,
///                 +-6% rise-fall inside a syllable; 12 ms attack, exponential decay
///     between   = breathy noise 15-30 dB under the syllables (the inhalation "h")
public struct LaughSynthesizer: Sendable {
    public var sampleRate: Int

    public init(sampleRate: Int = 8000) { self.sampleRate = sampleRate }

    /// `seconds` of laughter at an RMS of about -20 dBFS (the caller sets the level).
    public func clip(seconds: Double, rng: inout SplitMix64) -> [Float] {
        let count = max(1, Int(seconds * Double(sampleRate)))
        let rate = Double(sampleRate)
        var out = [Float](repeating: 0, count: count)
        let f1 = rng.uniform(in: 600 ... 1100), f2 = rng.uniform(in: 1300 ... 2300)
        var t0 = Int(rng.uniform(in: 0 ... 0.4) * rate)
        while t0 < count {
            let syllables = 3 + Int(rng.next() % 7)
            let perSecond = rng.uniform(in: 3.5 ... 6.5)
            let startF0 = rng.uniform(in: 220 ... 650), fall = rng.uniform(in: 0 ... 0.3)
            let breath = pow(10, -rng.uniform(in: 15 ... 30) / 20)
            for s in 0..<syllables {
                let onset = t0 + Int(Double(s) / perSecond * rate)
                let period = Int(rate / perSecond)
                // A syllable leaves at least a fifth of its period for the breath.
                let length = min(Int(rng.uniform(in: 0.06 ... 0.18) * rate), period * 4 / 5)
                let f0 = startF0 * (1 - fall * Double(s) / Double(max(1, syllables - 1)))
                let phase0 = rng.unit() * 2 * Double.pi
                // Voiced syllable: harmonics of a rise-fall f0, phase accumulated sample by sample.
                var phase = phase0
                for i in 0..<length where onset + i < count {
                    let u = Double(i) / Double(length)
                    let f = f0 * (1 + 0.06 * sin(Double.pi * u))
                    phase += 2 * Double.pi * f / rate
                    let envelope = min(1, Double(i) / (0.012 * rate)) * exp(-3 * u)
                    var x = 0.0
                    var k = 1
                    while Double(k) * f < 0.45 * rate {
                        let h = Double(k) * f
                        let formants = 1 + 2 * exp(-pow((h - f1) / 250, 2)) + 1.2 * exp(-pow((h - f2) / 350, 2))
                        x += pow(Double(k), -1.3) * formants * sin(Double(k) * phase)
                        k += 1
                    }
                    out[onset + i] += Float(0.3 * envelope * x)
                }
                // Breath between syllables.
                for i in length..<period where onset + i < count {
                    out[onset + i] += Float(0.3 * breath * rng.gaussian())
                }
            }
            t0 += Int(Double(syllables) / perSecond * rate) + Int(rng.uniform(in: 0.3 ... 1.2) * rate)
        }
        var sum = 0.0
        for x in out { sum += Double(x) * Double(x) }
        scale(&out, sumOfSquares: sum, toRMSdB: -20)
        return out
    }
}
