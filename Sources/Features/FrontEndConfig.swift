/// The front end's configuration (model-spec section 1). It is stored whole in every
/// model file, so that a model is always fed the features it was trained on.
public struct FrontEndConfig: Sendable, Codable, Equatable, Hashable {
    /// Analysis sample rate in Hz. Input at any other rate is resampled to this one.
    public var sampleRate: Int
    /// Frame length and hop in samples (25 ms and 10 ms at the analysis rate by default).
    public var frameLength: Int
    public var hopLength: Int
    /// Pre-emphasis coefficient k: y[0] = (1-k) x[0], y[n] = x[n] - k x[n-1].
    public var preEmphasis: Float
    /// Number of triangular HTK-mel filters and of cepstral coefficients kept (c1...cN).
    public var melBands: Int
    public var mfccCount: Int
    /// Cepstral lifter L: c_i *= 1 + (L/2) sin(pi i / L).
    public var cepstralLifter: Float
    /// Floor of the mel filter-bank energies before the natural log, on a magnitude
    /// spectrum of samples scaled to the 16-bit range (openSMILE IS09 convention).
    public var melFloor: Float
    /// F0 search range in Hz (infant cry F0) and the voicing threshold below which F0 = 0.
    public var f0MinHz: Float
    public var f0MaxHz: Float
    public var voicingThreshold: Float

    public init(
        sampleRate: Int = 8000,
        frameLength: Int? = nil,
        hopLength: Int? = nil,
        preEmphasis: Float = 0.97,
        melBands: Int = 26,
        mfccCount: Int = 12,
        cepstralLifter: Float = 22,
        melFloor: Float = 1.0,
        f0MinHz: Float = 200,
        f0MaxHz: Float = 1000,
        voicingThreshold: Float = 0.55
    ) {
        self.sampleRate = sampleRate
        self.frameLength = frameLength ?? sampleRate / 40   // 25 ms
        self.hopLength = hopLength ?? sampleRate / 100      // 10 ms
        self.preEmphasis = preEmphasis
        self.melBands = melBands
        self.mfccCount = mfccCount
        self.cepstralLifter = cepstralLifter
        self.melFloor = melFloor
        self.f0MinHz = f0MinHz
        self.f0MaxHz = f0MaxHz
        self.voicingThreshold = voicingThreshold
    }

    /// The shipped models' front end: 8 kHz, 25 ms / 10 ms.
    public static let standard = FrontEndConfig()

    /// 16 low-level descriptors then their 16 deltas.
    public var lldCount: Int { 4 + mfccCount }
    public var featureCount: Int { 2 * lldCount }

    /// Column names, in output order: the LLDs, then `d_` + each LLD name.
    public var featureNames: [String] {
        let lld = ["log_rms", "zcr", "voicing", "f0"] + (1...mfccCount).map { "mfcc\($0)" }
        return lld + lld.map { "d_" + $0 }
    }

    /// Seconds from the stream's first sample to the start of frame `index`.
    public func frameStartTime(_ index: Int) -> Double {
        Double(index * hopLength) / Double(sampleRate)
    }

    /// Number of complete frames in a stream of `sampleCount` samples: frame i covers samples
    /// [i*hop, i*hop + frameLength); a trailing partial frame is not analysed.
    public func frameCount(sampleCount: Int) -> Int {
        sampleCount < frameLength ? 0 : (sampleCount - frameLength) / hopLength + 1
    }

    /// Size of the magnitude spectrum's FFT: the next power of two >= frameLength.
    public var spectrumFFTSize: Int { nextPowerOfTwo(frameLength) }

    /// Autocorrelation lags searched for the pitch peak: periods between 1/f0MaxHz and
    /// 1/f0MinHz, in samples (8...40 at 8 kHz with 200-1000 Hz).
    public var pitchLagRange: ClosedRange<Int> {
        let lo = Int((Double(sampleRate) / Double(f0MaxHz)).rounded(.up))
        let hi = Int((Double(sampleRate) / Double(f0MinHz)).rounded(.down))
        return lo...max(lo, hi)
    }

    /// Checks that the configuration describes a front end that can run, naming the first
    /// field at fault. Configurations read from files (model files, TOML) must pass this
    /// before a `FeatureExtractor` is made from them.
    public func validate() throws(FrontEndConfigError) {
        func bad(_ field: String, _ value: Any, _ problem: String) -> FrontEndConfigError {
            FrontEndConfigError(field: field, value: "\(value)", problem: problem)
        }
        guard (1000...384_000).contains(sampleRate) else {
            throw bad("sampleRate", sampleRate, "must be between 1000 and 384000 Hz")
        }
        guard frameLength >= 16, frameLength <= 1 << 16 else {
            throw bad("frameLength", frameLength, "must be between 16 and 65536 samples")
        }
        guard hopLength >= 1, hopLength <= 1 << 16 else {
            throw bad("hopLength", hopLength, "must be between 1 and 65536 samples")
        }
        guard preEmphasis.isFinite, preEmphasis >= 0, preEmphasis < 1 else {
            throw bad("preEmphasis", preEmphasis, "must be in [0, 1)")
        }
        guard melBands >= 2, melBands <= 256 else {
            throw bad("melBands", melBands, "must be between 2 and 256")
        }
        guard mfccCount >= 1, mfccCount < melBands else {
            throw bad("mfccCount", mfccCount, "must be between 1 and melBands - 1 (\(melBands - 1))")
        }
        guard cepstralLifter.isFinite, cepstralLifter >= 0 else {
            throw bad("cepstralLifter", cepstralLifter, "must be finite and >= 0 (0: no liftering)")
        }
        guard melFloor.isFinite, melFloor > 0 else {
            throw bad("melFloor", melFloor, "must be finite and > 0")
        }
        guard f0MaxHz.isFinite, f0MaxHz > 0, f0MaxHz <= Float(sampleRate) / 4 else {
            throw bad("f0MaxHz", f0MaxHz, "must be in (0, sampleRate/4]")
        }
        guard f0MinHz.isFinite, f0MinHz > 0, f0MinHz < f0MaxHz else {
            throw bad("f0MinHz", f0MinHz, "must be in (0, f0MaxHz)")
        }
        // The peak search needs both neighbours of every lag for parabolic interpolation.
        guard pitchLagRange.upperBound + 1 < frameLength else {
            throw bad("f0MinHz", f0MinHz, "its period (\(pitchLagRange.upperBound) samples) must be shorter than frameLength - 1")
        }
        guard voicingThreshold.isFinite, voicingThreshold >= 0, voicingThreshold <= 1 else {
            throw bad("voicingThreshold", voicingThreshold, "must be in [0, 1]")
        }
    }
}

/// A front-end configuration that cannot run: which field, its value, and why.
public struct FrontEndConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var value: String
    public var problem: String
    public var description: String { "front end: \(field) = \(value): \(problem)" }
}

func nextPowerOfTwo(_ n: Int) -> Int {
    var p = 1
    while p < n { p <<= 1 }
    return p
}
