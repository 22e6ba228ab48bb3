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
}
