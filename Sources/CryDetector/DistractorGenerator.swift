#if canImport(Glibc)
import CryModel
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The acoustic kinds of generated distractor sounds: what a home sounds like that the shared
/// recordings do not hold (docs/detector.md, "Generated distractors").
public enum DistractorKind: String, CaseIterable, Sendable {
    /// Steady harmonic tones: horns, hums, beeps (F0 100 Hz-2 kHz, random partial amplitudes).
    case tone
    /// Sirens: a wail (F0 swept up and down) or a two-tone (hi-lo alternation).
    case siren
    /// Pulsed tones: alarm clocks, phone rings, appliance beeps (on/off at a duty cycle).
    case pulsed
    /// Inharmonic decaying partials: bells, chimes, glass.
    case bell
    /// Melodies and chords on harmonic instruments, with envelopes and vibrato.
    case music
    /// Speech from espeak-ng (many voices, languages, pitches and rates); needs a provider.
    case speech
    /// Noise textures: water, rain, wind, fans.
    case noise
    /// Impulsive sounds: knocks, clicks, steps.
    case impulsive
}

/// One generated sound and the parameters it was made with (what its tests check).
public struct GeneratedSound: Sendable {
    public var kind: DistractorKind
    public var samples: [Float]
    /// Kind-specific: "f0", "low", "high", "period", "duty", "tau", "events", "notes", ...
    public var parameters: [String: Double]
    /// A short human-readable variant name ("wail", "two-tone", "rain", "knocks", a voice).
    public var variant: String
}

/// What the speech provider is asked for (espeak-ng's options).
public struct SpeechRequest: Sendable, Equatable {
    public var voice: String
    public var text: String
    public var pitch: Int           // espeak-ng -p, 0...99
    public var wordsPerMinute: Int  // espeak-ng -s
}

/// A seeded generator of distractor sounds by acoustic kind, at `sampleRate`, peak-normalised
/// to 0.5 (the detection-set builder and the night composer set the level). Same seed, same sound.
///
///   harmonic source:  x(t) = sum_k a_k sin(phi_k(t)),  phi_k' = 2 pi k f0(t)   (k f0 < 0.45 fs)
///   bell:             x(t) = sum_k a_k exp(-t / (tau r_k)) sin(2 pi f0 m_k t),  m_k inharmonic
///   pulsed:           x(t) = gate(t) * tone(t),  gate = 1 for (t mod period) < duty * period
public struct DistractorGenerator: Sendable {
    public var sampleRate = 8000
    /// Synthesises speech; nil skips the speech kind (`make` returns nil for it).
    public var speech: (@Sendable (SpeechRequest) throws -> [Float])?

    public init(sampleRate: Int = 8000, speech: (@Sendable (SpeechRequest) throws -> [Float])? = nil) {
        self.sampleRate = sampleRate
        self.speech = speech
    }

    /// espeak-ng voices (languages) the speech kind draws from.
    public static let voices = ["en", "en-us", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "sv", "tr", "hi", "cmn",
                                "ja", "ar", "fi", "el", "cs", "hu"]
    static let syllables = ["ba", "na", "lo", "mi", "te", "ku", "sa", "ri", "do", "fe", "go", "ha", "ji", "ve", "zo",
                            "pa", "ne", "to", "li", "mu", "ka", "so", "we", "ye", "ra", "di"]

    /// A sound of `kind`, `seconds` long (speech: as long as espeak-ng makes it). Nil for speech
    /// without a provider.
    public func make(_ kind: DistractorKind, seconds: Double = 4, rng: inout SplitMix64) throws -> GeneratedSound? {
        let n = max(1, Int(seconds * Double(sampleRate)))
        var s: GeneratedSound
        switch kind {
        case .tone: s = tone(n, &rng)
        case .siren: s = siren(n, &rng)
        case .pulsed: s = pulsed(n, &rng)
        case .bell: s = bell(n, &rng)
        case .music: s = music(n, &rng)
        case .noise: s = noise(n, &rng)
        case .impulsive: s = impulsive(n, &rng)
        case .speech:
            guard let speech else { return nil }
            let words = (0..<(3 + Int(rng.next() % 8))).map { _ in
                (0..<(1 + Int(rng.next() % 3))).map { _ in Self.syllables[Int(rng.next() % UInt64(Self.syllables.count))] }.joined()
            }
            let request = SpeechRequest(voice: Self.voices[Int(rng.next() % UInt64(Self.voices.count))],
                                        text: words.joined(separator: " "),
                                        pitch: Int(rng.next() % 100), wordsPerMinute: 110 + Int(rng.next() % 170))
            s = GeneratedSound(kind: .speech, samples: try speech(request),
                               parameters: ["pitch": Double(request.pitch), "wpm": Double(request.wordsPerMinute)],
                               variant: request.voice)
        }
        Self.normalise(&s.samples, peak: 0.5)
        return s
    }

    var fs: Double { Double(sampleRate) }
    var nyquistLimit: Double { 0.45 * fs }

    /// Random partial amplitudes, falling on average (a_1 = 1).
    func partials(_ count: Int, _ rng: inout SplitMix64) -> [Double] {
        let tilt = rng.uniform(in: 0.3 ... 1.5)
        return (0..<count).map { k in k == 0 ? 1 : pow(Double(k + 1), -tilt) * rng.uniform(in: 0.2 ... 1.0) }
    }

    /// Adds a harmonic source following `f0` (per sample) with amplitudes `a`, times `gain(i)`.
    func addHarmonic(_ out: inout [Float], f0: (Int) -> Double, amplitudes a: [Double], gain: (Int) -> Double = { _ in 1 }) {
        var phase = [Double](repeating: 0, count: a.count)
        for i in out.indices {
            let f = f0(i), g = gain(i)
            var x = 0.0
            for k in a.indices {
                phase[k] += 2 * Double.pi * Double(k + 1) * f / fs
                if phase[k] > 2 * Double.pi { phase[k] -= 2 * Double.pi }
                if Double(k + 1) * f < nyquistLimit { x += a[k] * sin(phase[k]) }
            }
            out[i] += Float(g * x)
        }
    }

    /// Linear attack and release of `seconds`.
    func ramp(_ i: Int, _ n: Int, _ seconds: Double) -> Double {
        let r = max(1.0, seconds * fs)
        return min(1, Double(i) / r, Double(n - 1 - i) / r)
    }

    func tone(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let f0 = exp(rng.uniform(in: log(100.0) ... log(2000.0)))
        let a = partials(1 + Int(rng.next() % 8), &rng)
        let attack = rng.uniform(in: 0.005 ... 0.2)
        var out = [Float](repeating: 0, count: n)
        addHarmonic(&out, f0: { _ in f0 }, amplitudes: a, gain: { ramp($0, n, attack) })
        return GeneratedSound(kind: .tone, samples: out, parameters: ["f0": f0, "partials": Double(a.count)], variant: "tone")
    }

    func siren(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let low = rng.uniform(in: 350 ... 800), high = low * rng.uniform(in: 1.5 ... 2.5)
        let a = partials(2 + Int(rng.next() % 4), &rng)
        var out = [Float](repeating: 0, count: n)
        if rng.next() % 2 == 0 {
            // Wail: f0 rises and falls between low and high (a raised cosine in log frequency).
            let period = rng.uniform(in: 1.0 ... 4.0)
            let phase0 = rng.unit()
            addHarmonic(&out, f0: { i in
                let u = 0.5 - 0.5 * cos(2 * Double.pi * (Double(i) / fs / period + phase0))
                return low * pow(high / low, u)
            }, amplitudes: a, gain: { ramp($0, n, 0.05) })
            return GeneratedSound(kind: .siren, samples: out, parameters: ["low": low, "high": high, "period": period], variant: "wail")
        }
        // Two-tone: high for half a period, then low.
        let period = rng.uniform(in: 0.8 ... 2.0)
        addHarmonic(&out, f0: { i in (Double(i) / fs).truncatingRemainder(dividingBy: period) < period / 2 ? high : low },
                    amplitudes: a, gain: { ramp($0, n, 0.05) })
        return GeneratedSound(kind: .siren, samples: out, parameters: ["low": low, "high": high, "period": period], variant: "two-tone")
    }

    func pulsed(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let f0 = exp(rng.uniform(in: log(500.0) ... log(3000.0)))
        let period = rng.uniform(in: 0.15 ... 1.2)
        let duty = rng.uniform(in: 0.2 ... 0.7)
        // A phone ring: a fast trill (f0 alternating by a ratio) inside each pulse.
        let trill = rng.next() % 3 == 0 ? rng.uniform(in: 1.1 ... 1.3) : 1.0
        let a = partials(1 + Int(rng.next() % 3), &rng)
        var out = [Float](repeating: 0, count: n)
        let edge = 0.004 * fs
        addHarmonic(&out, f0: { i in
            trill > 1 && Int(Double(i) / fs * 40) % 2 == 1 ? f0 * trill : f0
        }, amplitudes: a, gain: { i in
            let t = (Double(i) / fs).truncatingRemainder(dividingBy: period) * fs
            let on = duty * period * fs
            return t < on ? min(1, t / edge, (on - t) / edge) : 0
        })
        return GeneratedSound(kind: .pulsed, samples: out, parameters: ["f0": f0, "period": period, "duty": duty, "trill": trill],
                              variant: trill > 1 ? "ring" : "beep")
    }

    func bell(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let f0 = exp(rng.uniform(in: log(200.0) ... log(1500.0)))
        let tau = rng.uniform(in: 0.3 ... 2.5)
        // Church-bell-like ratios (hum, prime, tierce, quint, nominal, ...), jittered: inharmonic.
        let ratios = [0.5, 1.0, 1.19, 1.51, 2.0, 2.51, 2.66, 3.01, 4.1, 5.4].map { $0 * rng.uniform(in: 0.97 ... 1.03) }
        let glass = rng.next() % 3 == 0  // glass: few high partials, short
        let used = ratios.filter { $0 * f0 < nyquistLimit }.prefix(glass ? 3 : 10)
        let amps = used.map { _ in rng.uniform(in: 0.2 ... 1.0) }
        let decays = used.map { r in tau * pow(r, -0.5) }  // higher partials die sooner
        let strikes = 1 + Int(rng.next() % 3)
        let interval = Double(n) / Double(strikes)
        var out = [Float](repeating: 0, count: n)
        for s in 0..<strikes {
            let start = Int(Double(s) * interval)
            for (k, r) in used.enumerated() {
                let w = 2 * Double.pi * f0 * r / fs
                for i in start..<n {
                    let t = Double(i - start) / fs
                    out[i] += Float(amps[k] * exp(-t / decays[k]) * sin(w * Double(i - start)))
                }
            }
        }
        return GeneratedSound(kind: .bell, samples: out,
                              parameters: ["f0": f0, "tau": tau, "strikes": Double(strikes), "partials": Double(used.count),
                                           "tau1": decays[used.firstIndex(where: { $0 > 0.9 && $0 < 1.1 }) ?? 0]],
                              variant: glass ? "glass" : "bell")
    }

    func music(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let scale = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]  // major, semitones
        let root = exp(rng.uniform(in: log(130.0) ... log(520.0)))
        let noteSeconds = rng.uniform(in: 0.15 ... 0.6)
        let a = partials(3 + Int(rng.next() % 6), &rng)
        let vibratoHz = rng.uniform(in: 4 ... 7), vibratoDepth = rng.uniform(in: 0 ... 0.012)
        let chord = rng.next() % 2 == 0
        let noteCount = max(1, Int(Double(n) / fs / noteSeconds))
        let melody = (0..<noteCount).map { _ in scale[Int(rng.next() % UInt64(scale.count))] }
        let noteLength = n / noteCount
        let decay = rng.uniform(in: 0.1 ... 1.0)
        var out = [Float](repeating: 0, count: n)
        func f(_ semis: Int) -> Double { root * pow(2, Double(semis) / 12) }
        addHarmonic(&out, f0: { i in
            let note = min(noteCount - 1, i / noteLength)
            return f(melody[note]) * (1 + vibratoDepth * sin(2 * Double.pi * vibratoHz * Double(i) / fs))
        }, amplitudes: a, gain: { i in
            let t = Double(i % noteLength) / fs
            return min(1, t / 0.01) * (0.4 + 0.6 * exp(-t / decay)) * min(1, Double(noteLength - i % noteLength) / (0.01 * fs))
        })
        if chord {
            // A sustained triad an octave below the root, quieter.
            for semis in [0, 4, 7] {
                addHarmonic(&out, f0: { _ in f(semis) / 2 }, amplitudes: Array(a.prefix(3)), gain: { 0.25 * ramp($0, n, 0.05) })
            }
        }
        return GeneratedSound(kind: .music, samples: out,
                              parameters: ["root": root, "notes": Double(noteCount), "noteSeconds": Double(noteLength) / fs,
                                           "chord": chord ? 1 : 0],
                              variant: chord ? "melody+chord" : "melody")
    }

    func noise(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let textures = ["water", "rain", "wind", "fan"]
        let texture = textures[Int(rng.next() % 4)]
        var out = [Float](repeating: 0, count: n)
        // Two-pole resonant band-pass (bandwidth bw) of white noise, centre fc.
        var fc = rng.uniform(in: 300 ... 2500)
        let q = rng.uniform(in: 0.5 ... 3)
        var y1 = 0.0, y2 = 0.0, lp = 0.0
        let modHz = rng.uniform(in: 0.1 ... 0.8), bladeHz = rng.uniform(in: 8 ... 40)
        for i in 0..<n {
            let t = Double(i) / fs
            var w = rng.gaussian()
            var gain = 1.0
            switch texture {
            case "water":  // gurgling: the band's centre wanders quickly
                if i % 80 == 0 { fc = min(nyquistLimit * 0.8, max(200, fc * exp(0.15 * rng.gaussian()))) }
                gain = 0.7 + 0.3 * sin(2 * Double.pi * 3 * t)
            case "rain":  // hiss plus sparse drops
                if rng.unit() < 0.002 { w += 15 * rng.gaussian() }
            case "wind":  // low-passed, slowly swelling
                lp = 0.98 * lp + 0.02 * w * 7
                w = lp
                gain = 0.35 + 0.65 * (0.5 + 0.5 * sin(2 * Double.pi * modHz * t + sin(0.7 * t)))
            default:  // fan: broadband with a blade-rate modulation
                gain = 1 + 0.3 * sin(2 * Double.pi * bladeHz * t)
            }
            let r = exp(-Double.pi * fc / q / fs)
            let c = 2 * r * cos(2 * Double.pi * fc / fs)
            let y = (1 - r) * w + c * y1 - r * r * y2
            y2 = y1; y1 = y
            out[i] = Float(gain * (texture == "wind" || texture == "fan" ? y + 0.3 * w : y + 0.05 * w))
        }
        return GeneratedSound(kind: .noise, samples: out, parameters: ["centre": fc, "q": q], variant: texture)
    }

    func impulsive(_ n: Int, _ rng: inout SplitMix64) -> GeneratedSound {
        let variants = ["knocks", "clicks", "steps"]
        let variant = variants[Int(rng.next() % 3)]
        let interval = variant == "steps" ? rng.uniform(in: 0.45 ... 0.75) : rng.uniform(in: 0.12 ... 0.6)
        var out = [Float](repeating: 0, count: n)
        var onsets: [Int] = []
        var t = rng.uniform(in: 0.05 ... 0.3)
        while Int(t * fs) < n - Int(0.1 * fs) {
            onsets.append(Int(t * fs))
            t += interval * rng.uniform(in: 0.85 ... 1.15)
        }
        let f = variant == "knocks" ? rng.uniform(in: 120 ... 500) : rng.uniform(in: 50 ... 120)
        for start in onsets {
            let amp = rng.uniform(in: 0.6 ... 1.0)
            switch variant {
            case "clicks":  // 1-3 ms broadband
                for i in start..<min(n, start + Int(rng.uniform(in: 0.001 ... 0.003) * fs)) { out[i] += Float(amp * rng.gaussian()) }
            default:  // a damped resonance (knock: wood; step: low thud plus a scuff)
                // Each event dies away before the next (knocks in a quick series stay distinct).
                let tau = min(variant == "knocks" ? rng.uniform(in: 0.01 ... 0.04) : rng.uniform(in: 0.02 ... 0.05), interval / 8)
                for i in start..<min(n, start + Int(6 * tau * fs)) {
                    let dt = Double(i - start) / fs
                    let scuff = variant == "steps" ? 0.3 * rng.gaussian() : 0.1 * rng.gaussian()
                    out[i] += Float(amp * exp(-dt / tau) * (sin(2 * Double.pi * f * dt) + scuff))
                }
            }
        }
        return GeneratedSound(kind: .impulsive, samples: out, parameters: ["events": Double(onsets.count), "interval": interval],
                              variant: variant)
    }

    static func normalise(_ s: inout [Float], peak: Float) {
        let m = s.reduce(0) { max($0, abs($1)) }
        guard m > 0 else { return }
        let g = peak / m
        for i in s.indices { s[i] *= g }
    }
}
