import CFFTW
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streaming frame-level front end (model-spec section 1): 16 low-level descriptors per
/// frame, smoothed by a centred 3-frame moving average, and their deltas: 32 values.
///
/// Feed samples (mono, full scale 1.0) in blocks of any size with `process`; frame n is
/// emitted once frame n+3 has been analysed (the look-ahead the smoothing and deltas need).
/// `finish` emits the frames still held back. The whole-file `extract` runs this very path,
/// so streaming and offline features are equal to the last bit whatever the block sizes.
///
/// Conventions (where the spec leaves a choice):
/// - frame i covers samples [i*hop, i*hop + frameLength), no centring; a trailing partial
///   frame is not analysed.
/// - pre-emphasis is frame-local: y[0] = (1-k) x[0], y[n] = x[n] - k x[n-1]; symmetric
///   Hamming window w[n] = 0.54 - 0.46 cos(2 pi n / (N-1)).
/// - log_rms = log10(rms + 1e-10), rms of the pre-emphasised, windowed frame (full scale 1).
/// - zcr = (number of n in 1..<N with (x[n-1] >= 0) != (x[n] >= 0)) / N on the raw frame.
/// - One real FFT of size 2P (P = next power of two >= N, so 2P >= 2N) of the zero-padded
///   pre-emphasised windowed frame serves both spectral descriptors: its even bins are
///   exactly the P-point spectrum ("FFT of the next power of two"), used for the MFCCs;
///   the inverse FFT of its power spectrum is the *linear* (non-circular) autocorrelation,
///   because the padding is at least N - 1 samples.
/// - voicing = r[T] / r[0], T the highest local maximum (r[T-1] < r[T] >= r[T+1]) of the
///   ACF among lags sr/f0Max ... sr/f0Min; 0 when there is none, when r[0] = 0, or when
///   negative. No window-ACF correction (spec: peak / ACF[0]), so a pure tone reads a
///   little below 1 (about 0.9 at 440 Hz, 8 kHz) and the shortest period wins.
/// - f0 = sr / (T + d), d the parabolic-interpolation offset of the peak, 0 when voicing
///   < voicingThreshold.
/// - MFCC: magnitude spectrum of the frame scaled to the 16-bit range (x 32768); 26
///   triangular filters equally spaced in HTK mel (1127 ln(1 + f/700)) from 0 Hz to
///   Nyquist, triangles linear in mel (as HTK); E_j = sum_k w_jk |X_k|;
///   c_i = (1 + L/2 sin(pi i / L)) sqrt(2/M) sum_j ln(max(E_j, melFloor)) cos(pi i (j + 1/2) / M),
///   i = 1 ... mfccCount (c0 dropped).
/// - Smoothing and deltas at the stream's ends replicate the first/last value:
///   x[-1] = x[0], x[T] = x[T-1] for the LLDs; s[-2] = s[-1] = s[0], s[T] = s[T+1] = s[T-1]
///   for the smoothed LLDs.
///
/// Not thread-safe and not `Sendable`: one extractor per thread (or per stream). The
/// buffers and FFTW plans are made once in `init`; `process` does not allocate.
public final class FeatureExtractor {
    public let config: FrontEndConfig

    /// Samples scaled to the 16-bit range for the filter bank (melFloor = 1.0 is meant on this scale).
    static let magnitudeScale: Float = 32768

    private let frameLength: Int
    private let hopLength: Int
    private let lldCount: Int
    private let featureCount: Int
    /// P = next power of two >= frameLength; the transform is 2P.
    private let spectrumSize: Int
    private let transformSize: Int
    private let melBins: Int            // P/2 + 1 bins of the magnitude spectrum
    private let lagLow: Int
    private let lagHigh: Int
    private let sampleRate: Float
    private let preEmphasis: Float
    private let melBands: Int
    private let mfccCount: Int
    private let melFloor: Float
    private let voicingThreshold: Float

    // Precomputed tables.
    private let window: UnsafeMutablePointer<Float>        // frameLength
    private let melFirstBin: UnsafeMutablePointer<Int>     // melBands
    private let melBinCount: UnsafeMutablePointer<Int>     // melBands
    private let melWeightStart: UnsafeMutablePointer<Int>  // melBands
    private let melWeights: UnsafeMutablePointer<Float>    // nonzero weights, filter after filter
    private let dctMatrix: UnsafeMutablePointer<Float>     // mfccCount x melBands, lifter folded in

    // FFTW buffers (fftwf_malloc: SIMD-aligned) and plans.
    private let timeBuffer: UnsafeMutablePointer<Float>    // transformSize, zero tail
    private let spectrum: UnsafeMutablePointer<Float>      // (transformSize/2 + 1) interleaved complex
    private let autocorrelation: UnsafeMutablePointer<Float>  // transformSize
    private let forwardPlan: OpaquePointer
    private let inversePlan: OpaquePointer

    // Per-frame work.
    private let magnitude: UnsafeMutablePointer<Float>     // melBins
    private let melEnergy: UnsafeMutablePointer<Float>     // melBands (linear, before floor and log)
    private let logMel: UnsafeMutablePointer<Float>        // melBands

    // Stream state.
    private let pending: UnsafeMutablePointer<Float>       // raw samples of the frame being filled
    private var pendingCount = 0
    private var samplesToSkip = 0                          // only when hop > frameLength
    private var framesAnalysed = 0
    /// Rings of the last `ringSize` raw LLD rows x[n] and smoothed rows s[n], slot n & ringMask.
    private static let ringSize = 8
    private static let ringMask = 7
    private let lldRing: UnsafeMutablePointer<Float>
    private let smoothRing: UnsafeMutablePointer<Float>
    private let output: UnsafeMutablePointer<Float>        // featureCount: the emitted row

    /// Makes the tables, buffers and FFTW plans. `config` must pass `config.validate()`
    /// (configurations read from files are validated by their loaders).
    public init(config: FrontEndConfig = .standard) {
        do { try config.validate() } catch { preconditionFailure("FeatureExtractor: \(error)") }
        self.config = config
        frameLength = config.frameLength
        hopLength = config.hopLength
        lldCount = config.lldCount
        featureCount = config.featureCount
        spectrumSize = config.spectrumFFTSize
        transformSize = 2 * spectrumSize
        melBins = spectrumSize / 2 + 1
        lagLow = config.pitchLagRange.lowerBound
        lagHigh = config.pitchLagRange.upperBound
        sampleRate = Float(config.sampleRate)
        preEmphasis = config.preEmphasis
        melBands = config.melBands
        mfccCount = config.mfccCount
        melFloor = config.melFloor
        voicingThreshold = config.voicingThreshold

        // w[n] = 0.54 - 0.46 cos(2 pi n / (N - 1))
        window = .allocate(capacity: frameLength)
        for n in 0..<frameLength {
            window[n] = Float(0.54 - 0.46 * cos(2 * Double.pi * Double(n) / Double(frameLength - 1)))
        }

        let bank = MelFilterBank(bands: melBands, bins: melBins, fftSize: spectrumSize, sampleRate: config.sampleRate)
        melFirstBin = .allocate(capacity: melBands)
        melBinCount = .allocate(capacity: melBands)
        melWeightStart = .allocate(capacity: melBands)
        melWeights = .allocate(capacity: max(1, bank.weights.count))
        for j in 0..<melBands {
            melFirstBin[j] = bank.firstBin[j]
            melBinCount[j] = bank.binCount[j]
            melWeightStart[j] = bank.weightStart[j]
        }
        for (i, w) in bank.weights.enumerated() { melWeights[i] = Float(w) }

        // c_i = lifter_i sqrt(2/M) sum_j logE_j cos(pi i (j + 1/2) / M), lifter_i = 1 + L/2 sin(pi i / L)
        dctMatrix = .allocate(capacity: mfccCount * melBands)
        let lifterL = Double(config.cepstralLifter)
        for i in 1...mfccCount {
            let lifter = lifterL > 0 ? 1 + lifterL / 2 * sin(Double.pi * Double(i) / lifterL) : 1
            for j in 0..<melBands {
                let c = (2 / Double(melBands)).squareRoot()
                    * cos(Double.pi * Double(i) * (Double(j) + 0.5) / Double(melBands))
                dctMatrix[(i - 1) * melBands + j] = Float(lifter * c)
            }
        }

        let complexBins = transformSize / 2 + 1
        timeBuffer = fftwBuffer(count: transformSize)
        spectrum = fftwBuffer(count: 2 * complexBins)
        autocorrelation = fftwBuffer(count: transformSize)
        timeBuffer.initialize(repeating: 0, count: transformSize)
        spectrum.initialize(repeating: 0, count: 2 * complexBins)
        autocorrelation.initialize(repeating: 0, count: transformSize)
        let size = Int32(transformSize)
        let time = timeBuffer, freq = spectrum, acf = autocorrelation
        // FFTW_ESTIMATE: the plan (hence every output bit) depends only on size and alignment,
        // never on timing, so two extractors always compute identical features.
        (forwardPlan, inversePlan) = FFTWPlanner.withLock {
            let complex = UnsafeMutableRawPointer(freq).assumingMemoryBound(to: fftwf_complex.self)
            let forward = fftwf_plan_dft_r2c_1d(size, time, complex, UInt32(FFTW_ESTIMATE))
            let inverse = fftwf_plan_dft_c2r_1d(size, complex, acf, UInt32(FFTW_ESTIMATE))
            guard let forward, let inverse else { preconditionFailure("FFTW could not plan a \(size)-point transform") }
            return (forward, inverse)
        }

        magnitude = .allocate(capacity: melBins)
        melEnergy = .allocate(capacity: melBands)
        logMel = .allocate(capacity: melBands)
        magnitude.initialize(repeating: 0, count: melBins)
        melEnergy.initialize(repeating: 0, count: melBands)
        logMel.initialize(repeating: 0, count: melBands)

        pending = .allocate(capacity: frameLength)
        pending.initialize(repeating: 0, count: frameLength)
        lldRing = .allocate(capacity: Self.ringSize * lldCount)
        smoothRing = .allocate(capacity: Self.ringSize * lldCount)
        output = .allocate(capacity: featureCount)
        lldRing.initialize(repeating: 0, count: Self.ringSize * lldCount)
        smoothRing.initialize(repeating: 0, count: Self.ringSize * lldCount)
        output.initialize(repeating: 0, count: featureCount)
    }

    deinit {
        let forward = forwardPlan, inverse = inversePlan
        FFTWPlanner.withLock {
            fftwf_destroy_plan(forward)
            fftwf_destroy_plan(inverse)
        }
        fftwf_free(timeBuffer)
        fftwf_free(spectrum)
        fftwf_free(autocorrelation)
        window.deallocate()
        melFirstBin.deallocate()
        melBinCount.deallocate()
        melWeightStart.deallocate()
        melWeights.deallocate()
        dctMatrix.deallocate()
        magnitude.deallocate()
        melEnergy.deallocate()
        logMel.deallocate()
        pending.deallocate()
        lldRing.deallocate()
        smoothRing.deallocate()
        output.deallocate()
    }

    // MARK: - Streaming

    /// Number of frames analysed since the stream began (emitted frames lag by up to 3).
    public var analysedFrameCount: Int { framesAnalysed }

    /// Forgets the stream: the next sample is the first of a new stream.
    public func reset() {
        pendingCount = 0
        samplesToSkip = 0
        framesAnalysed = 0
    }

    /// Feeds samples (any block size, including 1). Calls `emit(n, row)` for every frame n
    /// whose look-ahead (frames n+1 ... n+3) is now complete, in order. `row` points into the
    /// extractor's own storage and is valid only during the call. If `emit` throws, the
    /// throw propagates and the stream is left mid-way: `reset()` before reusing it.
    public func process(
        _ samples: UnsafeBufferPointer<Float>,
        emit: (_ frameIndex: Int, _ frame: UnsafeBufferPointer<Float>) throws -> Void
    ) rethrows {
        guard let base = samples.baseAddress else { return }
        let count = samples.count
        var i = 0
        while i < count {
            if samplesToSkip > 0 {
                let skip = min(samplesToSkip, count - i)
                samplesToSkip -= skip
                i += skip
                continue
            }
            let take = min(frameLength - pendingCount, count - i)
            (pending + pendingCount).update(from: base + i, count: take)
            pendingCount += take
            i += take
            guard pendingCount == frameLength else { break }

            let m = framesAnalysed
            analyseFrame(pending, into: lldRing + (m & Self.ringMask) * lldCount)
            framesAnalysed += 1
            // s[m-1] now has its right neighbour; frame m-3 has s[m-5 ... m-1].
            if m >= 1 { smooth(m - 1, lastRaw: m) }
            if m >= 3 { try emitFrame(m - 3, lastSmoothed: m - 1, emit) }

            if hopLength < frameLength {
                pending.update(from: pending + hopLength, count: frameLength - hopLength)
                pendingCount = frameLength - hopLength
            } else {
                pendingCount = 0
                samplesToSkip = hopLength - frameLength
            }
        }
    }

    /// Array convenience for `process(_:emit:)`.
    public func process(
        _ samples: [Float],
        emit: (_ frameIndex: Int, _ frame: UnsafeBufferPointer<Float>) throws -> Void
    ) rethrows {
        try samples.withUnsafeBufferPointer { try process($0, emit: emit) }
    }

    /// End of stream: emits the (up to 3) frames held back for look-ahead, with the last
    /// values replicated past the end, then resets for a new stream. A stream shorter than
    /// one frame emits nothing.
    public func finish(emit: (_ frameIndex: Int, _ frame: UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        let total = framesAnalysed
        reset()
        guard total > 0 else { return }
        smooth(total - 1, lastRaw: total - 1)
        for n in max(0, total - 3)..<total {
            try emitFrame(n, lastSmoothed: total - 1, emit)
        }
    }

    /// Features of a whole recording: the streaming path over the array, then `finish`.
    public static func extract(_ samples: [Float], config: FrontEndConfig = .standard) -> FeatureMatrix {
        let extractor = FeatureExtractor(config: config)
        return extractor.extractAll(samples)
    }

    /// `extract` with this extractor (reusing its plans); resets it first.
    public func extractAll(_ samples: [Float]) -> FeatureMatrix {
        reset()
        var matrix = FeatureMatrix(featureCount: featureCount)
        matrix.values.reserveCapacity(config.frameCount(sampleCount: samples.count) * featureCount)
        process(samples) { _, row in matrix.append(row) }
        finish { _, row in matrix.append(row) }
        return matrix
    }

    /// s[n] = (x[n-1] + x[n] + x[n+1]) / 3, with x[-1] = x[0] and x[n+1] = x[lastRaw] past the end.
    private func smooth(_ n: Int, lastRaw: Int) {
        let prev = lldRing + (max(n - 1, 0) & Self.ringMask) * lldCount
        let cur = lldRing + (n & Self.ringMask) * lldCount
        let next = lldRing + (min(n + 1, lastRaw) & Self.ringMask) * lldCount
        let s = smoothRing + (n & Self.ringMask) * lldCount
        for d in 0..<lldCount {
            s[d] = (prev[d] + cur[d] + next[d]) / 3
        }
    }

    /// Row n = [s[n], d[n]], d[n] = (s[n+1] - s[n-1] + 2 (s[n+2] - s[n-2])) / 10, with s
    /// indices clamped to 0 ... lastSmoothed (edge replication).
    private func emitFrame(
        _ n: Int, lastSmoothed: Int,
        _ emit: (_ frameIndex: Int, _ frame: UnsafeBufferPointer<Float>) throws -> Void
    ) rethrows {
        func row(_ i: Int) -> UnsafeMutablePointer<Float> {
            smoothRing + (min(max(i, 0), lastSmoothed) & Self.ringMask) * lldCount
        }
        let m2 = row(n - 2), m1 = row(n - 1), s0 = row(n), p1 = row(n + 1), p2 = row(n + 2)
        let delta = output + lldCount
        for d in 0..<lldCount {
            output[d] = s0[d]
            delta[d] = (p1[d] - m1[d] + 2 * (p2[d] - m2[d])) / 10
        }
        try emit(n, UnsafeBufferPointer(start: output, count: featureCount))
    }

    // MARK: - One frame

    /// The 16 raw LLDs of one frame of `frameLength` raw samples.
    private func analyseFrame(_ frame: UnsafeMutablePointer<Float>, into lld: UnsafeMutablePointer<Float>) {
        let n = frameLength

        // zcr = #{(x[i-1] >= 0) != (x[i] >= 0)} / N on the raw frame
        var crossings = 0
        var wasNonNegative = frame[0] >= 0
        for i in 1..<n {
            let isNonNegative = frame[i] >= 0
            crossings &+= isNonNegative != wasNonNegative ? 1 : 0
            wasNonNegative = isNonNegative
        }

        // y[0] = (1-k) x[0], y[i] = x[i] - k x[i-1]; windowed by Hamming; tail stays zero.
        let k = preEmphasis
        timeBuffer[0] = (1 - k) * frame[0] * window[0]
        for i in 1..<n {
            timeBuffer[i] = (frame[i] - k * frame[i - 1]) * window[i]
        }
        // rms = sqrt(sum y_w^2 / N)
        var energy: Float = 0
        for i in 0..<n { energy += timeBuffer[i] * timeBuffer[i] }
        let rms = (energy / Float(n)).squareRoot()

        fftwf_execute(forwardPlan)

        // Power spectrum |X_k|^2 of the 2P-point transform, in place, as a real-valued
        // complex input for the inverse transform (r[tau] * 2P = IFFT(|X|^2)).
        let complexBins = transformSize / 2 + 1
        for b in 0..<complexBins {
            let re = spectrum[2 * b], im = spectrum[2 * b + 1]
            spectrum[2 * b] = re * re + im * im
            spectrum[2 * b + 1] = 0
        }
        // Even bins of the 2P-point transform = the P-point spectrum; magnitude on the 16-bit scale.
        for b in 0..<melBins {
            magnitude[b] = spectrum[4 * b].squareRoot() * Self.magnitudeScale
        }

        fftwf_execute(inversePlan)

        // Voicing: highest local maximum of r in the lag range, over r[0].
        let r = autocorrelation
        var voicing: Float = 0
        var f0: Float = 0
        let r0 = r[0]
        if r0 > 0 {
            var best = -1
            var bestValue = -Float.infinity
            for lag in lagLow...lagHigh {
                let v = r[lag]
                if v > r[lag - 1] && v >= r[lag + 1] && v > bestValue {
                    best = lag
                    bestValue = v
                }
            }
            if best > 0 {
                voicing = max(0, min(1, bestValue / r0))
                if voicing >= voicingThreshold {
                    // Parabola through (T-1, a), (T, b), (T+1, c): vertex at T + (a - c) / (2 (a - 2b + c)).
                    let a = r[best - 1], b = bestValue, c = r[best + 1]
                    let curvature = a - 2 * b + c
                    let offset: Float = curvature < 0 ? 0.5 * (a - c) / curvature : 0
                    f0 = sampleRate / (Float(best) + offset)
                }
            }
        }

        // E_j = sum_k w_jk |X_k|;  ln max(E_j, floor)
        for j in 0..<melBands {
            let first = melFirstBin[j], count = melBinCount[j]
            let w = melWeights + melWeightStart[j]
            let mag = magnitude + first
            var sum: Float = 0
            for i in 0..<count { sum += w[i] * mag[i] }
            melEnergy[j] = sum
            logMel[j] = log(max(sum, melFloor))
        }

        lld[0] = log10(rms + 1e-10)
        lld[1] = Float(crossings) / Float(n)
        lld[2] = voicing
        lld[3] = f0
        for i in 0..<mfccCount {
            let row = dctMatrix + i * melBands
            var c: Float = 0
            for j in 0..<melBands { c += row[j] * logMel[j] }
            lld[4 + i] = c
        }
    }

    // MARK: - Inspection (tests, debugging)

    /// Mel filter-bank outputs E_j (linear, before the floor and log) of the most recently
    /// analysed frame. Allocates; not for the hot path.
    public func lastMelEnergies() -> [Float] {
        Array(UnsafeBufferPointer(start: melEnergy, count: melBands))
    }

    /// The raw (unsmoothed) LLDs of the most recently analysed frame. Allocates.
    public func lastLowLevelDescriptors() -> [Float] {
        guard framesAnalysed > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: lldRing + ((framesAnalysed - 1) & Self.ringMask) * lldCount, count: lldCount))
    }
}

private func fftwBuffer(count: Int) -> UnsafeMutablePointer<Float> {
    guard let raw = fftwf_malloc(count * MemoryLayout<Float>.stride) else {
        preconditionFailure("fftwf_malloc(\(count) floats) failed")
    }
    return raw.bindMemory(to: Float.self, capacity: count)
}

/// Triangular filters equally spaced on the HTK mel scale m(f) = 1127 ln(1 + f/700), from
/// 0 Hz to Nyquist; triangles linear in mel, as HTK. Stored sparsely: each filter's nonzero
/// weights over a contiguous run of bins.
struct MelFilterBank {
    var firstBin: [Int] = []
    var binCount: [Int] = []
    var weightStart: [Int] = []
    var weights: [Double] = []
    /// Centre frequency of each filter in Hz.
    var centreHz: [Double] = []

    static func mel(_ hz: Double) -> Double { 1127 * log(1 + hz / 700) }
    static func hz(_ mel: Double) -> Double { 700 * (exp(mel / 1127) - 1) }

    /// `bins` = fftSize/2 + 1 spectrum bins, bin k at k * sampleRate / fftSize Hz.
    init(bands: Int, bins: Int, fftSize: Int, sampleRate: Int) {
        let melMax = Self.mel(Double(sampleRate) / 2)
        // Edges: band j spans edge[j] ... edge[j+2], peak at edge[j+1].
        let edges = (0...(bands + 1)).map { Double($0) * melMax / Double(bands + 1) }
        for j in 0..<bands {
            let lo = edges[j], mid = edges[j + 1], hi = edges[j + 2]
            centreHz.append(Self.hz(mid))
            weightStart.append(weights.count)
            var first = -1
            for k in 0..<bins {
                let m = Self.mel(Double(k) * Double(sampleRate) / Double(fftSize))
                var w = 0.0
                if m > lo && m <= mid { w = (m - lo) / (mid - lo) } else if m > mid && m < hi { w = (hi - m) / (hi - mid) }
                if w > 0 {
                    if first < 0 { first = k }
                    // Runs are contiguous: fill any gap (none for a triangle) with zeros.
                    while first + (weights.count - weightStart[j]) < k { weights.append(0) }
                    weights.append(w)
                }
            }
            firstBin.append(max(first, 0))
            binCount.append(weights.count - weightStart[j])
        }
    }
}
