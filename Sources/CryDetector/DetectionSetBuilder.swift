#if canImport(Glibc)
import CryModel
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Augmentation for the detector's training set: every clip is placed at a random level
/// over a generated background at a random signal-to-noise ratio, so that a detector
/// cannot learn a clip's recording level or its (absent) background; and pure-background
/// clips (room noise, near silence) are added to the "other" class.
///
///     out = g * clip + noise(level - snr),  g such that RMS(g * audible part) = level dBFS
///
/// Clips must already be at the analysis rate (8 kHz for the shipped models), so that
/// the band of the recording (Donate-a-Cry has nothing above 4 kHz) is no cue either.
public struct DetectionSetBuilder {
    public var sampleRate = 8000
    public var levelDB: ClosedRange<Double> = -40 ... -10
    public var snrDB: ClosedRange<Double> = 3 ... 35
    public var backgroundLevelDB: ClosedRange<Double> = -75 ... -35
    public var backgroundSeconds = 5.0

    public init() {}

    /// One augmented copy of `clip`.
    public func augment(_ clip: [Float], rng: inout SplitMix64) -> [Float] {
        let level = rng.uniform(in: levelDB)
        let snr = rng.uniform(in: snrDB)
        var out = background(count: clip.count, levelDB: level - snr, rng: &rng)
        guard let (_, _, rms) = NightComposer.audiblePart(clip, hop: max(1, sampleRate / 100)) else { return out }
        let g = Float(pow(10, level / 20) / rms)
        for i in out.indices { out[i] = max(-1, min(1, out[i] + g * clip[i])) }
        return out
    }

    /// A background-only clip at a random level: room noise of a random colour.
    public func backgroundClip(rng: inout SplitMix64) -> [Float] {
        background(count: Int(backgroundSeconds * Double(sampleRate)), levelDB: rng.uniform(in: backgroundLevelDB), rng: &rng)
    }

    /// Noise of a random colour (white, pink-ish, brown-ish, or hum plus hiss) at `levelDB` RMS.
    func background(count: Int, levelDB: Double, rng: inout SplitMix64) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let kind = rng.next() % 4
        let pole = kind == 1 ? 0.97 : kind == 2 ? 0.995 : 0.0
        let humHz = 50.0 + 10 * Double(rng.next() % 2)
        let humPhase = rng.unit() * 2 * Double.pi
        var lp = 0.0, sum = 0.0
        for i in 0..<count {
            let w = rng.gaussian()
            var x: Double
            switch kind {
            case 0: x = w
            case 3: x = 0.3 * w + 3 * sin(2 * Double.pi * humHz * Double(i) / Double(sampleRate) + humPhase)
                + 1.5 * sin(6 * Double.pi * humHz * Double(i) / Double(sampleRate))
            default:
                lp = pole * lp + (1 - pole) * w * 10
                x = lp + 0.2 * w
            }
            out[i] = Float(x)
            sum += x * x
        }
        scale(&out, sumOfSquares: sum, toRMSdB: levelDB)
        return out
    }
}
