#if canImport(Glibc)
import CryModel
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A clip the night composer may place: where it comes from, which recording (group) and
/// which cause (folder name) it belongs to.
public struct NightClip: Sendable, Equatable {
    public var path: String
    public var group: String
    public var cause: String
    public init(path: String, group: String, cause: String) {
        self.path = path; self.group = group; self.cause = cause
    }

    /// The recording a clip comes from, from the data set's file-name conventions
    /// (shared/data/README.md): Donate-a-Cry `<36-char install id>-...`, ESC-10
    /// `fold-FreesoundID-take.wav`, giulbia `<source>.m4a_N.wav` / `<source>_N.wav`.
    public static func group(ofFileName name: String) -> String {
        var stem = Substring(name)
        if stem.hasSuffix(".wav") { stem = stem.dropLast(4) }
        let chars = Array(stem)
        if chars.count >= 36, [8, 13, 18, 23].allSatisfy({ chars[$0] == "-" }) { return String(chars[0..<36]) }
        let dashParts = stem.split(separator: "-")
        if dashParts.count == 3, dashParts[0].allSatisfy(\.isNumber), dashParts[1].allSatisfy(\.isNumber) {
            return "\(dashParts[0])-\(dashParts[1])"
        }
        if let r = stem.firstRange(of: ".m4a") { return String(stem[..<r.lowerBound]) }
        if let u = stem.lastIndex(of: "_"), stem[stem.index(after: u)...].allSatisfy(\.isNumber), u > stem.startIndex {
            return String(stem[..<u])
        }
        return String(stem)
    }
}

/// Builds a labelled night of audio: a quiet noise floor with cry episodes (1-3 clips of
/// one recording joined; a clip drawn uniformly) and distractor clips (a class drawn
/// uniformly, then a clip of it) at random levels and gaps. Deterministic for
/// a seed and a clip list (clips are loaded through `load`, already at `sampleRate`).
public struct NightComposer {
    public var sampleRate = 8000
    /// Noise floor RMS range (dBFS) and the share of white noise in it (the rest is pink-ish).
    public var floorLevelDB: ClosedRange<Double> = -62 ... -48
    /// Episode / distractor RMS ranges (dBFS), over their audible part.
    public var cryLevelDB: ClosedRange<Double> = -34 ... -14
    public var otherLevelDB: ClosedRange<Double> = -38 ... -12
    /// Silence between the end of one placed sound and the start of the next (seconds).
    public var gapSeconds: ClosedRange<Double> = 4 ... 40
    /// Probability that the next placed sound is a cry episode.
    public var cryShare = 0.4

    public struct Placement: Sendable, Equatable {
        public var start: Double, end: Double
        public var isCry: Bool
        public var cause: String
        public var levelDB: Double
        public var clips: [String]
    }

    public struct Night {
        public var samples: [Float]
        public var labels: [LabelledCry]
        public var placements: [Placement]
        public var floorLevelDB: Double
    }

    public init() {}

    public func compose(cries: [NightClip], others: [NightClip], minutes: Double, seed: UInt64,
                        load: (NightClip) throws -> [Float]) throws -> Night {
        precondition(!cries.isEmpty, "no cry clips")
        var rng = SplitMix64(seed: seed)
        let total = Int(minutes * 60 * Double(sampleRate))
        let floorDB = rng.uniform(in: floorLevelDB)
        var out = Self.pinkishNoise(count: total, rmsDB: floorDB, rng: &rng)
        var labels: [LabelledCry] = []
        var placements: [Placement] = []
        let byGroup = Dictionary(grouping: cries.indices, by: { cries[$0].group })
        // Distractors: a class (folder) uniformly, then one of its clips, so that the folder
        // with the most clips does not make up most of the night.
        let otherClasses = Dictionary(grouping: others.indices, by: { others[$0].cause }).sorted { $0.key < $1.key }.map(\.value)
        let fade = sampleRate / 100

        var cursor = Int(rng.uniform(in: gapSeconds) * Double(sampleRate))
        while cursor < total {
            let isCry = others.isEmpty || rng.unit() < cryShare
            var sound: [Float] = []
            var names: [String] = []
            var cause = ""
            if isCry {
                let first = cries[Int(rng.next() % UInt64(cries.count))]
                cause = first.cause
                var members = byGroup[first.group]!.filter { cries[$0].cause == cause }
                let k = 1 + Int(rng.next() % 3)
                for j in 0..<k {
                    let clip: NightClip
                    if j == 0 { clip = first } else {
                        let pick = Int(rng.next() % UInt64(members.count))
                        clip = cries[members[pick]]
                        if members.count > 1 { members.remove(at: pick) }
                    }
                    var s = try load(clip)
                    Self.fadeEdges(&s, fade)
                    sound += s
                    names.append(clip.path)
                }
            } else {
                let members = otherClasses[Int(rng.next() % UInt64(otherClasses.count))]
                let clip = others[members[Int(rng.next() % UInt64(members.count))]]
                sound = try load(clip)
                Self.fadeEdges(&sound, fade)
                names.append(clip.path)
                cause = clip.cause
            }
            let levelDB = rng.uniform(in: isCry ? cryLevelDB : otherLevelDB)
            guard let (audibleStart, audibleEnd, rms) = Self.audiblePart(sound, hop: sampleRate / 100) else {
                cursor += Int(rng.uniform(in: gapSeconds) * Double(sampleRate))
                continue
            }
            let gain = Float(pow(10, levelDB / 20) / rms)
            let n = min(sound.count, total - cursor)
            for i in 0..<n { out[cursor + i] += gain * sound[i] }
            let start = Double(cursor + audibleStart) / Double(sampleRate)
            let end = Double(cursor + min(audibleEnd, n)) / Double(sampleRate)
            if end > start {
                placements.append(Placement(start: start, end: end, isCry: isCry, cause: cause, levelDB: levelDB, clips: names))
                if isCry { labels.append(LabelledCry(start: start, end: end, cause: cause)) }
            }
            cursor += sound.count + Int(rng.uniform(in: gapSeconds) * Double(sampleRate))
        }
        for i in out.indices { out[i] = max(-1, min(1, out[i])) }
        return Night(samples: out, labels: labels, placements: placements, floorLevelDB: floorDB)
    }

    /// The span from the first to the last 10 ms hop within 30 dB of the clip's loudest
    /// hop, and the RMS over the hops of that span (so a clip's level is its sound's, not
    /// diluted by leading silence). Nil for a silent clip.
    static func audiblePart(_ s: [Float], hop: Int) -> (Int, Int, Double)? {
        let hops = s.count / hop
        guard hops > 0 else { return nil }
        var energy = [Double](repeating: 0, count: hops)
        for h in 0..<hops {
            var e = 0.0
            for i in h * hop ..< (h + 1) * hop { e += Double(s[i]) * Double(s[i]) }
            energy[h] = e / Double(hop)
        }
        let peak = energy.max()!
        guard peak > 1e-12 else { return nil }
        let loud = energy.indices.filter { energy[$0] >= peak * 1e-3 }
        let a = loud.first!, b = loud.last!
        let mean = energy[a...b].reduce(0, +) / Double(b - a + 1)
        return (a * hop, (b + 1) * hop, mean.squareRoot())
    }

    static func fadeEdges(_ s: inout [Float], _ n: Int) {
        let m = min(n, s.count / 2)
        guard m > 0 else { return }
        for i in 0..<m {
            let g = Float(i) / Float(m)
            s[i] *= g
            s[s.count - 1 - i] *= g
        }
    }

    /// Noise whose spectrum falls with frequency (white through a one-pole low-pass, mixed
    /// with some white), scaled to an RMS of `rmsDB` dBFS: the hiss and hum of a quiet room.
    public static func pinkishNoise(count: Int, rmsDB: Double, rng: inout SplitMix64) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var lp = 0.0, sum = 0.0
        for i in 0..<count {
            let w = rng.gaussian()
            lp = 0.97 * lp + 0.03 * w * 8
            let x = lp + 0.25 * w
            out[i] = Float(x)
            sum += x * x
        }
        scale(&out, sumOfSquares: sum, toRMSdB: rmsDB)
        return out
    }
}
