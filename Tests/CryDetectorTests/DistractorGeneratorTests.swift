import CryModel
import Foundation
import Testing
@testable import CryDetector

/// Each generated kind is checked for what it is meant to be, by measuring the sound.
@Suite struct DistractorGeneratorTests {
    let gen = DistractorGenerator(sampleRate: 8000)
    let fs = 8000.0

    func make(_ kind: DistractorKind, seed: UInt64, seconds: Double = 4) throws -> GeneratedSound {
        var rng = SplitMix64(seed: seed)
        return try #require(try gen.make(kind, seconds: seconds, rng: &rng))
    }

    /// The frequency (Hz) of the strongest Hann-windowed DFT component in 60...3600 Hz over
    /// samples[start ..< start + n]: a scan every 8 Hz, then every 0.5 Hz around the best.
    func dominantFrequency(_ s: [Float], start: Int, n: Int, step: Double = 2) -> Double {
        let x = (0..<n).map { i in Double(s[start + i]) * (0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n))) }
        func power(_ f: Double) -> Double {
            var re = 0.0, im = 0.0
            let w = 2 * Double.pi * f / fs
            for i in 0..<n { re += x[i] * cos(w * Double(i)); im -= x[i] * sin(w * Double(i)) }
            return re * re + im * im
        }
        let coarse = stride(from: 60.0, through: 3600, by: 8).max { power($0) < power($1) }!
        return stride(from: coarse - 8, through: coarse + 8, by: 0.5).max { power($0) < power($1) }!
    }

    func frameRMS(_ s: [Float], hop: Int) -> [Double] {
        stride(from: 0, to: s.count - hop + 1, by: hop).map { a in
            (s[a ..< a + hop].reduce(0.0) { $0 + Double($1) * Double($1) } / Double(hop)).squareRoot()
        }
    }

    @Test func sameSeedSameSoundAndEveryKindIsBoundedAudio() throws {
        for kind in DistractorKind.allCases where kind != .speech {
            let a = try make(kind, seed: 7), b = try make(kind, seed: 7), c = try make(kind, seed: 8)
            #expect(a.samples == b.samples, "\(kind): not deterministic")
            #expect(a.samples != c.samples, "\(kind): seed has no effect")
            #expect(a.samples.count == 32000)
            #expect(a.samples.allSatisfy { $0.isFinite && abs($0) <= 0.5 + 1e-6 })
            #expect(a.samples.reduce(0) { max($0, abs($1)) } > 0.49, "\(kind): silent")
        }
        var rng = SplitMix64(seed: 1)
        #expect(try gen.make(.speech, rng: &rng) == nil, "speech without a provider is skipped")
    }

    @Test func toneIsSteadyAtItsF0() throws {
        for seed in UInt64(1)...8 {
            let s = try make(.tone, seed: seed)
            let f0 = try #require(s.parameters["f0"])
            #expect((100...2000).contains(f0))
            for start in [8000, 20000] {
                let f = dominantFrequency(s.samples, start: start, n: 1000)
                #expect(abs(f - f0) / f0 < 0.02, "seed \(seed): \(f) Hz, f0 \(f0)")
            }
        }
    }

    @Test func sirenF0TrackWailsOrAlternatesBetweenItsTwoTones() throws {
        var seen = Set<String>()
        for seed in UInt64(1)...8 {
            let s = try make(.siren, seed: seed, seconds: 6)
            let low = s.parameters["low"]!, high = s.parameters["high"]!
            seen.insert(s.variant)
            let track = stride(from: 400, to: s.samples.count - 400, by: 400).map { dominantFrequency(s.samples, start: $0, n: 400) }
            #expect(abs(track.min()! - low) / low < 0.1, "seed \(seed) \(s.variant): lowest \(track.min()!), low \(low)")
            #expect(abs(track.max()! - high) / high < 0.1, "seed \(seed) \(s.variant): highest \(track.max()!), high \(high)")
            if s.variant == "two-tone" {
                let onTones = track.filter { abs($0 - low) / low < 0.06 || abs($0 - high) / high < 0.06 }
                #expect(Double(onTones.count) >= 0.8 * Double(track.count), "two-tone: \(track)")
            } else {
                // A wail passes through the frequencies between its ends.
                let middle = track.filter { $0 > low * 1.15 && $0 < high / 1.15 }
                #expect(middle.count >= 3, "wail: \(track)")
            }
        }
        #expect(seen == ["wail", "two-tone"])
    }

    @Test func pulsedToneHasItsDutyCycle() throws {
        for seed in UInt64(1)...10 {
            let s = try make(.pulsed, seed: seed, seconds: 8)
            let duty = s.parameters["duty"]!, period = s.parameters["period"]!
            let rms = frameRMS(s.samples, hop: 40)  // 5 ms
            let peak = rms.max()!
            // Whole periods only.
            let periods = Int(8 / period)
            let frames = Int(Double(periods) * period / 0.005)
            let on = rms.prefix(frames).filter { $0 > 0.1 * peak }.count
            let measured = Double(on) / Double(frames)
            #expect(abs(measured - duty) < 0.06, "seed \(seed): duty \(measured), made with \(duty)")
            // The carrier is the pulse's tone.
            let f0 = s.parameters["f0"]!
            let f = dominantFrequency(s.samples, start: 40, n: max(200, min(800, Int(duty * period * fs) - 80)))
            #expect(abs(f - f0) / f0 < 0.08 || abs(f - f0 * s.parameters["trill"]!) / f0 < 0.08, "seed \(seed): \(f) vs \(f0)")
        }
    }

    @Test func bellDecaysExponentially() throws {
        var checked = 0
        for seed in UInt64(1)...40 where checked < 6 {
            let s = try make(.bell, seed: seed, seconds: 6)
            guard s.parameters["strikes"] == 1 else { continue }
            checked += 1
            let tau = s.parameters["tau"]!
            // Over 0.2 s windows (longer than the beats of close partials) it never grows after
            // the strike, and falls by 1/e within its partials' decay times (tau x 0.43 ... x 1.41).
            let slow = frameRMS(s.samples, hop: 1600)
            for i in 0..<(slow.count - 1) { #expect(slow[i + 1] <= slow[i] * 1.02 + 1e-4, "seed \(seed): grows at \(i)") }
            let env = frameRMS(s.samples, hop: 160)  // 20 ms
            let fallIndex = try #require(env.firstIndex { $0 < env[0] / M_E })
            let fall = Double(fallIndex) * 0.02
            #expect(fall > 0.25 * tau && fall < 1.6 * tau, "seed \(seed): 1/e after \(fall) s, tau \(tau)")
        }
        #expect(checked >= 3)
    }

    @Test func musicPlaysEqualTemperedNotes() throws {
        for seed in UInt64(1)...6 {
            let s = try make(.music, seed: seed, seconds: 6)
            let root = s.parameters["root"]!, noteSamples = Int(s.parameters["noteSeconds"]! * fs)
            var pitches: [Double] = []
            for note in 0..<Int(s.parameters["notes"]!) {
                let start = note * noteSamples + noteSamples / 4
                let n = min(noteSamples / 2, 1600)
                guard n >= 400, start + n < s.samples.count else { continue }
                let f = dominantFrequency(s.samples, start: start, n: n)
                let semis = 12 * log2(f / root)
                #expect(abs(semis - semis.rounded()) < 0.35, "seed \(seed): \(f) Hz is \(semis) semitones from the root")
                pitches.append(semis.rounded())
            }
            #expect(Set(pitches).count >= 3, "seed \(seed): a melody of \(Set(pitches))")
        }
    }

    @Test func noiseTexturesHaveNoPitch() throws {
        var textures = Set<String>()
        for seed in UInt64(1)...12 {
            let s = try make(.noise, seed: seed)
            textures.insert(s.variant)
            let x = s.samples.map(Double.init)
            let e0 = x.reduce(0) { $0 + $1 * $1 }
            for lag in stride(from: 100, through: 400, by: 5) {  // 20-80 Hz periodicity and below
                var r = 0.0
                for i in 0..<(x.count - lag) { r += x[i] * x[i + lag] }
                #expect(abs(r / e0) < 0.3, "seed \(seed) \(s.variant): periodic at lag \(lag)")
            }
            let halves = frameRMS(s.samples, hop: 4000)
            #expect(halves.max()! / halves.min()! < 5, "seed \(seed) \(s.variant): not a texture \(halves)")
        }
        #expect(textures.count >= 3)
    }

    @Test func impulsiveSoundsAreSparseEventsOfTheMadeCount() throws {
        for seed in UInt64(1)...10 {
            let s = try make(.impulsive, seed: seed)
            let rms = (s.samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(s.samples.count)).squareRoot()
            #expect(0.5 / rms > 4, "seed \(seed) \(s.variant): crest factor \(0.5 / rms)")
            let env = frameRMS(s.samples, hop: 40).map { $0 * $0 }
            let threshold = env.max()! * 0.02
            // Rising crossings, at least half the made interval apart (a step's scuff is one event).
            var onsets = 0, above = false, last = -1_000_000
            let refractory = Int(s.parameters["interval"]! * 0.5 / 0.005)
            for (i, e) in env.enumerated() {
                if !above && e > threshold && i - last >= refractory { onsets += 1; last = i }
                above = e > threshold * 0.5
            }
            let made = Int(s.parameters["events"]!)
            #expect(abs(onsets - made) <= max(1, made / 10), "seed \(seed) \(s.variant): \(onsets) onsets, made \(made)")
        }
    }

    @Test func speechAsksTheProviderForManyVoicesPitchesAndRates() throws {
        final class Requests: @unchecked Sendable { var all: [SpeechRequest] = [] }
        let seen = Requests()
        let lock = NSLock()
        let g = DistractorGenerator(sampleRate: 8000, speech: { r in
            lock.lock(); seen.all.append(r); lock.unlock()
            return (0..<8000).map { Float(sin(Double($0) * 0.1)) * 0.1 }
        })
        var rng = SplitMix64(seed: 3)
        for _ in 0..<40 {
            let s = try #require(try g.make(.speech, rng: &rng))
            #expect(abs(s.samples.reduce(0) { max($0, abs($1)) } - 0.5) < 1e-6)
        }
        #expect(Set(seen.all.map(\.voice)).count >= 10)
        #expect(seen.all.allSatisfy { (0...99).contains($0.pitch) && (110...280).contains($0.wordsPerMinute) && !$0.text.isEmpty })
        #expect(seen.all.map(\.pitch).max()! - seen.all.map(\.pitch).min()! > 50)
    }
}
