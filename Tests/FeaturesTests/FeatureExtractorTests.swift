import Foundation
import Testing
@testable import Features

// MARK: - Generated signals

/// SplitMix64: a small deterministic generator, so every test signal is reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Signal {
    static func tone(_ hz: Double, seconds: Double, rate: Int, amplitude: Double = 0.5) -> [Float] {
        (0..<Int(seconds * Double(rate))).map { Float(amplitude * sin(2 * .pi * hz * Double($0) / Double(rate))) }
    }

    static func noise(seconds: Double, rate: Int, amplitude: Double, seed: UInt64) -> [Float] {
        var g = SplitMix(seed: seed)
        return (0..<Int(seconds * Double(rate))).map { _ in Float(Double.random(in: -amplitude...amplitude, using: &g)) }
    }

    /// A cry-like test signal: a harmonic tone gliding 350 -> 450 Hz with a little noise,
    /// then white noise, then a steady 600 Hz tone at a lower level.
    static func mixture(rate: Int, seed: UInt64 = 7) -> [Float] {
        var g = SplitMix(seed: seed)
        let r = Double(rate)
        var out: [Float] = []
        var phase = 0.0
        let glide = Int(0.2 * r)
        for n in 0..<glide {
            let f = 350 + 100 * Double(n) / Double(glide)
            phase += 2 * .pi * f / r
            let v = 0.3 * sin(phase) + 0.15 * sin(2 * phase) + 0.07 * sin(3 * phase)
            out.append(Float(v + Double.random(in: -0.01...0.01, using: &g)))
        }
        for _ in 0..<Int(0.15 * r) { out.append(Float(Double.random(in: -0.2...0.2, using: &g))) }
        for n in 0..<Int(0.15 * r) { out.append(Float(0.1 * sin(2 * .pi * 600 * Double(n) / r))) }
        return out
    }
}

let config8k = FrontEndConfig.standard
let config16k = FrontEndConfig(sampleRate: 16000)

/// Column index of an LLD name (its delta is at + lldCount).
func column(_ name: String, _ config: FrontEndConfig = .standard) -> Int {
    config.featureNames.firstIndex(of: name)!
}

// MARK: - (a) Streaming = offline, bit for bit

@Suite("Streaming")
struct StreamingTests {
    /// Feeds `samples` in blocks whose sizes come from `sizes` (cycled), returns all rows.
    static func stream(_ samples: [Float], extractor: FeatureExtractor, sizes: [Int]) -> (indices: [Int], values: [Float]) {
        var indices: [Int] = []
        var values: [Float] = []
        var start = 0, s = 0
        samples.withUnsafeBufferPointer { all in
            while start < all.count {
                let size = min(sizes[s % sizes.count], all.count - start)
                s += 1
                extractor.process(UnsafeBufferPointer(rebasing: all[start..<start + size])) { n, row in
                    indices.append(n)
                    values.append(contentsOf: row)
                }
                start += size
            }
        }
        extractor.finish { n, row in
            indices.append(n)
            values.append(contentsOf: row)
        }
        return (indices, values)
    }

    @Test("random block splits give bit-identical frames to the whole-array run", arguments: [config8k, config16k])
    func randomSplits(config: FrontEndConfig) {
        let samples = Signal.mixture(rate: config.sampleRate)
        let whole = FeatureExtractor.extract(samples, config: config)
        #expect(whole.frameCount == config.frameCount(sampleCount: samples.count))
        var g = SplitMix(seed: 42)
        let splits: [[Int]] = [
            [1], [80], [4096], [79, 81, 1, 200, 3],
            (0..<50).map { _ in Int.random(in: 1...500, using: &g) },
            (0..<50).map { _ in Int.random(in: 1...7, using: &g) },
        ]
        let extractor = FeatureExtractor(config: config)  // reused: finish resets it
        for sizes in splits {
            let streamed = Self.stream(samples, extractor: extractor, sizes: sizes)
            #expect(streamed.indices == Array(0..<whole.frameCount), "block sizes \(sizes.prefix(5))")
            // Bit patterns, so that even NaN or -0 differences would show.
            #expect(streamed.values.map(\.bitPattern) == whole.values.map(\.bitPattern), "block sizes \(sizes.prefix(5))")
        }
    }

    @Test("frame n is emitted once frame n+3 has been analysed")
    func lookAhead() {
        let config = config8k
        let extractor = FeatureExtractor(config: config)
        let samples = Signal.tone(440, seconds: 0.2, rate: 8000)
        var emittedAt: [Int: Int] = [:]  // frame -> frames analysed when emitted
        samples.withUnsafeBufferPointer { all in
            for i in all.indices {
                extractor.process(UnsafeBufferPointer(rebasing: all[i...i])) { n, _ in
                    emittedAt[n] = extractor.analysedFrameCount
                }
            }
        }
        let total = extractor.analysedFrameCount
        for n in 0..<(total - 3) { #expect(emittedAt[n] == n + 4) }
        var tail: [Int] = []
        extractor.finish { n, _ in tail.append(n) }
        #expect(tail == Array((total - 3)..<total))
        #expect(extractor.analysedFrameCount == 0)  // finish resets
    }

    @Test("reset starts a new stream; two extractors agree")
    func resetAndIndependence() {
        let a = FeatureExtractor()
        let b = FeatureExtractor()
        let noise = Signal.noise(seconds: 0.3, rate: 8000, amplitude: 0.3, seed: 3)
        a.process(noise) { _, _ in }   // abandoned stream
        a.reset()
        let samples = Signal.mixture(rate: 8000)
        #expect(a.extractAll(samples) == b.extractAll(samples))
        #expect(a.extractAll(samples) == FeatureExtractor.extract(samples))
    }
}

@Suite("Threads")
struct ThreadTests {
    @Test("extractors made and freed on many threads at once agree (planner lock)")
    func concurrentPlanning() async {
        let samples = Signal.mixture(rate: 8000)
        let expected = FeatureExtractor.extract(samples)
        let results = await withTaskGroup(of: FeatureMatrix.self) { group in
            for i in 0..<8 {
                group.addTask {
                    // Alternate rates so that plans of different sizes are made concurrently.
                    _ = FeatureExtractor(config: i % 2 == 0 ? config16k : config8k)
                    return FeatureExtractor.extract(samples)
                }
            }
            var all: [FeatureMatrix] = []
            for await m in group { all.append(m) }
            return all
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0 == expected })
    }
}

// MARK: - (b) Equality with a straightforward Double reference

/// The front end written out directly from model-spec section 1: naive DFT, direct
/// autocorrelation sums, direct mel triangles and DCT, all in Double.
struct ReferenceFrontEnd {
    let config: FrontEndConfig

    struct FrameInfo { var lld: [Double]; var voicingMargin: Double; var peakMargin: Double }

    func lowLevelDescriptors(_ x: ArraySlice<Float>) -> FrameInfo {
        let frame = x.map(Double.init)
        let n = frame.count
        let k = Double(config.preEmphasis)
        let sr = Double(config.sampleRate)

        var crossings = 0
        for i in 1..<n where (frame[i - 1] >= 0) != (frame[i] >= 0) { crossings += 1 }

        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let pre = i == 0 ? (1 - k) * frame[0] : frame[i] - k * frame[i - 1]
            y[i] = pre * (0.54 - 0.46 * cos(2 * .pi * Double(i) / Double(n - 1)))
        }
        let rms = (y.reduce(0) { $0 + $1 * $1 } / Double(n)).squareRoot()

        // r[tau] = sum_i y[i] y[i + tau]  (linear autocorrelation)
        let lagLo = Int((sr / Double(config.f0MaxHz)).rounded(.up))
        let lagHi = Int((sr / Double(config.f0MinHz)).rounded(.down))
        var r = [Double](repeating: 0, count: lagHi + 2)
        for tau in 0..<(lagHi + 2) {
            for i in 0..<(n - tau) { r[tau] += y[i] * y[i + tau] }
        }
        var peaks: [(lag: Int, value: Double)] = []
        for lag in lagLo...lagHi where r[lag] > r[lag - 1] && r[lag] >= r[lag + 1] { peaks.append((lag, r[lag])) }
        peaks.sort { $0.value > $1.value }
        var voicing = 0.0, f0 = 0.0
        var peakMargin = Double.infinity
        if r[0] > 0, let best = peaks.first {
            voicing = min(1, max(0, best.value / r[0]))
            if peaks.count > 1 { peakMargin = (best.value - peaks[1].value) / r[0] }
            if voicing >= Double(config.voicingThreshold) {
                let a = r[best.lag - 1], b = r[best.lag], c = r[best.lag + 1]
                f0 = sr / (Double(best.lag) + 0.5 * (a - c) / (a - 2 * b + c))
            }
        }

        // |X_k| of the P-point DFT, P = next power of two >= n, samples on the 16-bit scale.
        var p = 1
        while p < n { p *= 2 }
        let bins = p / 2 + 1
        var magnitude = [Double](repeating: 0, count: bins)
        for b in 0..<bins {
            var re = 0.0, im = 0.0
            for i in 0..<n {
                let angle = -2 * Double.pi * Double((b * i) % p) / Double(p)
                re += y[i] * cos(angle)
                im += y[i] * sin(angle)
            }
            magnitude[b] = 32768 * (re * re + im * im).squareRoot()
        }

        // Triangles linear in HTK mel between equally spaced mel edges, 0 Hz ... Nyquist.
        let bands = config.melBands
        func mel(_ f: Double) -> Double { 1127 * log(1 + f / 700) }
        let melMax = mel(sr / 2)
        var logE = [Double](repeating: 0, count: bands)
        for j in 0..<bands {
            let lo = Double(j) * melMax / Double(bands + 1)
            let mid = Double(j + 1) * melMax / Double(bands + 1)
            let hi = Double(j + 2) * melMax / Double(bands + 1)
            var e = 0.0
            for b in 0..<bins {
                let m = mel(Double(b) * sr / Double(p))
                if m > lo && m <= mid { e += (m - lo) / (mid - lo) * magnitude[b] }
                if m > mid && m < hi { e += (hi - m) / (hi - mid) * magnitude[b] }
            }
            logE[j] = log(max(e, Double(config.melFloor)))
        }
        var lld = [log10(rms + 1e-10), Double(crossings) / Double(n), voicing, f0]
        let lifter = Double(config.cepstralLifter)
        for i in 1...config.mfccCount {
            var c = 0.0
            for j in 0..<bands { c += logE[j] * cos(.pi * Double(i) * (Double(j) + 0.5) / Double(bands)) }
            lld.append((2 / Double(bands)).squareRoot() * c * (1 + lifter / 2 * sin(.pi * Double(i) / lifter)))
        }
        return FrameInfo(lld: lld, voicingMargin: abs(voicing - Double(config.voicingThreshold)), peakMargin: peakMargin)
    }

    /// All output rows: smoothed LLDs then deltas, edges replicated.
    func features(_ samples: [Float]) -> (rows: [[Double]], frames: [FrameInfo]) {
        let t = config.frameCount(sampleCount: samples.count)
        let frames = (0..<t).map { i in
            lowLevelDescriptors(samples[(i * config.hopLength)..<(i * config.hopLength + config.frameLength)])
        }
        let x = frames.map(\.lld)
        func clamp(_ i: Int) -> Int { min(max(i, 0), t - 1) }
        var s = [[Double]](repeating: [Double](repeating: 0, count: config.lldCount), count: t)
        for n in 0..<t {
            for d in 0..<config.lldCount {
                let sum: Double = x[clamp(n - 1)][d] + x[n][d] + x[clamp(n + 1)][d]
                s[n][d] = sum / 3
            }
        }
        var rows: [[Double]] = []
        for n in 0..<t {
            var row = s[n]
            for d in 0..<config.lldCount {
                let near: Double = s[clamp(n + 1)][d] - s[clamp(n - 1)][d]
                let far: Double = s[clamp(n + 2)][d] - s[clamp(n - 2)][d]
                row.append((near + 2 * far) / 10)
            }
            rows.append(row)
        }
        return (rows, frames)
    }
}

@Suite("Reference")
struct ReferenceTests {
    @Test("equals a naive Double implementation within 1e-4 relative", arguments: [config8k, config16k])
    func matchesReference(config: FrontEndConfig) throws {
        let samples = Array(Signal.mixture(rate: config.sampleRate).prefix(config.sampleRate / 2))
        let got = FeatureExtractor.extract(samples, config: config)
        let (want, frames) = ReferenceFrontEnd(config: config).features(samples)
        try #require(got.frameCount == want.count)
        // F0 is a discontinuous function of the signal (threshold, choice of peak): the test
        // signal must keep clear of those edges for the comparison to be meaningful.
        for (i, f) in frames.enumerated() {
            try #require(f.voicingMargin > 0.01, "frame \(i): voicing \(f.lld[2]) too close to the threshold")
            if f.lld[2] >= Double(config.voicingThreshold) {
                try #require(f.peakMargin > 0.01, "frame \(i): two ACF peaks nearly equal")
            }
        }
        let voiced = frames.filter { $0.lld[3] > 0 }.count
        #expect(voiced > got.frameCount / 3 && voiced < got.frameCount)  // both kinds present

        // Relative 1e-4, with an absolute floor of 1e-4 of the column's largest magnitude
        // (deltas and MFCCs cross zero; their error is set by the column's scale).
        let names = config.featureNames
        for d in 0..<config.featureCount {
            let scale = want.map { abs($0[d]) }.max() ?? 0
            for t in 0..<got.frameCount {
                let g = Double(got[t][got[t].startIndex + d]), w = want[t][d]
                let tolerance = 1e-4 * abs(w) + 1e-4 * scale + 1e-9
                #expect(abs(g - w) <= tolerance, "frame \(t) \(names[d]): \(g) vs reference \(w)")
            }
        }
    }
}

// MARK: - (c) Behaviour on known signals

@Suite("Signals")
struct SignalTests {
    @Test("pure tone: F0 within 2%, voicing near 1", arguments: [(300.0, 8000), (440.0, 8000), (800.0, 8000), (440.0, 16000), (950.0, 16000)])
    func pureTone(hz: Double, rate: Int) {
        let config = FrontEndConfig(sampleRate: rate)
        let m = FeatureExtractor.extract(Signal.tone(hz, seconds: 0.3, rate: rate), config: config)
        #expect(m.frameCount == config.frameCount(sampleCount: Int(0.3 * Double(rate))))
        for t in 0..<m.frameCount {
            let row = Array(m[t])
            #expect(abs(Double(row[column("f0")]) - hz) < 0.02 * hz, "frame \(t): f0 \(row[column("f0")])")
            #expect(row[column("voicing")] > 0.85, "frame \(t)")
            #expect(abs(row[column("d_f0")]) < 0.5)  // steady tone: flat
        }
    }

    @Test("white noise: voicing well below the threshold, F0 = 0")
    func whiteNoise() {
        let m = FeatureExtractor.extract(Signal.noise(seconds: 0.5, rate: 8000, amplitude: 0.5, seed: 11))
        let voicing = (0..<m.frameCount).map { m[$0][m[$0].startIndex + column("voicing")] }
        #expect(voicing.max()! < 0.45)
        #expect(voicing.reduce(0, +) / Float(voicing.count) < 0.35)
        #expect((0..<m.frameCount).allSatisfy { m[$0][m[$0].startIndex + column("f0")] == 0 })
        let zcr = (0..<m.frameCount).map { m[$0][m[$0].startIndex + column("zcr")] }
        #expect(zcr.allSatisfy { $0 > 0.35 && $0 < 0.65 })  // about 1/2 for white noise
    }

    @Test("silence and near-silence: finite everywhere")
    func silence() {
        for samples in [[Float](repeating: 0, count: 4000), Signal.noise(seconds: 0.5, rate: 8000, amplitude: 1e-7, seed: 5)] {
            let m = FeatureExtractor.extract(samples)
            #expect(m.frameCount == 48)
            #expect(m.values.allSatisfy { $0.isFinite })
        }
        let zero = FeatureExtractor.extract([Float](repeating: 0, count: 4000))
        let row = Array(zero[10])
        #expect(row[column("log_rms")] == -10)
        #expect(row[column("voicing")] == 0 && row[column("f0")] == 0 && row[column("zcr")] == 0)
        #expect(row[column("mfcc1")...].allSatisfy { $0 == 0 })  // ln(melFloor = 1) = 0 in every band
    }

    @Test("full-scale square wave: finite, voiced")
    func fullScale() {
        let samples = (0..<4000).map { Float(($0 / 10) % 2 == 0 ? 1 : -1) }  // 400 Hz
        let m = FeatureExtractor.extract(samples)
        #expect(m.values.allSatisfy { $0.isFinite })
        #expect(abs(m[20][m[20].startIndex + column("f0")] - 400) < 8)
    }

    @Test("a tone's energy lands in the mel band centred on it", arguments: [3, 12, 20])
    func melBand(band: Int) {
        let config = config8k
        let bank = MelFilterBank(bands: 26, bins: 129, fftSize: 256, sampleRate: 8000)
        let extractor = FeatureExtractor(config: config)
        extractor.process(Signal.tone(bank.centreHz[band], seconds: 0.1, rate: 8000)) { _, _ in }
        let energies = extractor.lastMelEnergies()
        #expect(energies.count == 26)
        let peak = energies.indices.max { energies[$0] < energies[$1] }!
        #expect(peak == band)
        for j in energies.indices where abs(j - band) >= 3 {
            #expect(energies[j] < energies[band] / 100, "band \(j)")
        }
    }

    @Test("mel filter bank: HTK edges, weights in (0, 1], 0 Hz to Nyquist")
    func filterBank() {
        let bank = MelFilterBank(bands: 26, bins: 129, fftSize: 256, sampleRate: 8000)
        #expect(abs(MelFilterBank.mel(1000) - 1000) < 0.1)
        #expect(abs(bank.centreHz[25] - MelFilterBank.hz(26 * MelFilterBank.mel(4000) / 27)) < 1e-9)
        #expect(bank.weights.allSatisfy { $0 > 0 && $0 <= 1 })
        #expect(bank.firstBin[0] == 1)  // DC has weight 0
        #expect(bank.firstBin[25] + bank.binCount[25] <= 128)  // Nyquist has weight 0
    }

    @Test("frame count is the number of complete frames", arguments: [
        (0, 0), (1, 0), (199, 0), (200, 1), (279, 1), (280, 2), (1000, 11), (8000, 98),
    ])
    func frameCount(samples: Int, frames: Int) {
        #expect(config8k.frameCount(sampleCount: samples) == frames)
        let m = FeatureExtractor.extract(Signal.noise(seconds: Double(samples) / 8000, rate: 8000, amplitude: 0.1, seed: 1))
        #expect(m.frameCount == frames)
        #expect(m.values.count == frames * 32)
        // 16 kHz: twice the samples, same frame count.
        #expect(config16k.frameCount(sampleCount: 2 * samples) == frames)
    }

    @Test("frame i starts at i * hop: an impulse shows in exactly the frames covering it")
    func frameTimes() {
        for config in [config8k, config16k] {
            #expect(config.frameLength == config.sampleRate / 40 && config.hopLength == config.sampleRate / 100)
            #expect(abs(config.frameStartTime(48) - 0.48) < 1e-12)
            var samples = [Float](repeating: 0, count: config.sampleRate)
            let at = config.sampleRate / 2  // 0.5 s
            samples[at] = 0.5
            let extractor = FeatureExtractor(config: config)
            var loud: [Int] = []
            samples.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {  // one hop at a time: one frame analysed per call at most
                    let size = start == 0 ? config.frameLength : min(config.hopLength, all.count - start)
                    let before = extractor.analysedFrameCount
                    extractor.process(UnsafeBufferPointer(rebasing: all[start..<start + size])) { _, _ in }
                    if extractor.analysedFrameCount > before, extractor.lastLowLevelDescriptors()[0] > -5 {
                        loud.append(before)
                    }
                    start += size
                }
            }
            let covering = (0..<config.frameCount(sampleCount: samples.count)).filter {
                let t0 = config.frameStartTime($0)
                return t0 <= 0.5 && 0.5 < t0 + Double(config.frameLength) / Double(config.sampleRate)
            }
            #expect(loud == covering)
            #expect(covering == [48, 49, 50])
        }
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test("16 kHz derives frame and hop, lag range and FFT size")
    func derived() {
        #expect(config16k.frameLength == 400 && config16k.hopLength == 160)
        #expect(config16k.spectrumFFTSize == 512 && config8k.spectrumFFTSize == 256)
        #expect(config8k.pitchLagRange == 8...40 && config16k.pitchLagRange == 16...80)
        #expect(config8k.featureNames.count == 32)
    }

    @Test("invalid configurations are refused naming the field")
    func invalid() {
        #expect(throws: Never.self) { try FrontEndConfig.standard.validate() }
        var c = FrontEndConfig.standard
        c.mfccCount = 26
        #expect { try c.validate() } throws: { ($0 as? FrontEndConfigError)?.field == "mfccCount" }
        c = .standard
        c.f0MinHz = 20  // period 400 samples > frame
        #expect { try c.validate() } throws: { ($0 as? FrontEndConfigError)?.field == "f0MinHz" }
        c = .standard
        c.hopLength = 0
        #expect { try c.validate() } throws: { ($0 as? FrontEndConfigError)?.field == "hopLength" }
    }

    @Test("hop longer than the frame skips samples between frames")
    func sparseHop() {
        let config = FrontEndConfig(frameLength: 200, hopLength: 300)
        let samples = Signal.mixture(rate: 8000)
        let whole = FeatureExtractor.extract(samples, config: config)
        #expect(whole.frameCount == config.frameCount(sampleCount: samples.count))
        let streamed = StreamingTests.stream(samples, extractor: FeatureExtractor(config: config), sizes: [7, 130, 1])
        #expect(streamed.values == whole.values)
    }
}

extension FrontEndConfig: CustomTestStringConvertible {
    public var testDescription: String { "\(sampleRate) Hz" }
}
