/// Stage 2 of the detector: the probability that a frame belongs to a cry, given the
/// frame's features and the recurrent state built from the frames before it.
/// `DetectorModel` adapts a `StreamingClassifier` over a model trained with `--task detect`.
public protocol CryProbabilityModel: AnyObject {
    /// Features per frame the model expects.
    var featureCount: Int { get }
    /// Steps the model over one frame; returns p(cry) for it.
    func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float
    /// Forgets the recurrent state (a new sound starts).
    func reset()
}

/// The two-stage cry detector over a stream of feature frames:
///
///     gate_t = EnergyGate(level_t)                         level_t = levelScale * features_t[levelIndex]
///     p_t    = gate_t ? stage2(features_t) : 0             (stage 2 is not run while closed)
///     q_t    = (1/N) sum_{k=0}^{N-1} p_{t-k}               (N = smoothingFrames; p before the stream = 0)
///     events = EpisodeSegmenter(q_t, gate_t)
///
/// Stage 2's state is reset when the gate opens after being closed for at least
/// `classifierResetAfterClosedSeconds`. In `energyOnly` mode p_t = gate_t: the
/// sound-activated monitor, kept as the baseline for comparisons, not as a detector.
///
/// Not thread-safe: one instance belongs to one pipeline thread. No allocation per frame.
public final class CryDetector {
    public enum Mode: String, Sendable { case learned, energyOnly }

    public private(set) var configuration: DetectorConfiguration
    public let mode: Mode
    /// Which feature carries the frame level, and the factor to dB (the front end's
    /// `log_rms` is log10 of the RMS: 20 dB per unit).
    public let levelFeatureIndex: Int
    public let levelScale: Float

    private var stage2: CryProbabilityModel?
    public private(set) var gate: EnergyGate
    public private(set) var segmenter: EpisodeSegmenter
    /// p(cry) of the last frame as the segmenter saw it (after smoothing; 0 while the gate
    /// was closed and no earlier p is still inside the smoothing window).
    public private(set) var lastProbability: Float = 0
    /// The causal moving average over `configuration.smoothingFrames` frames.
    private var smoother: ProbabilitySmoother
    /// Gate state of the last frame.
    public var isGateOpen: Bool { gate.isOpen }
    /// Frames processed, and frames on which stage 2 ran (for the cost figures).
    public private(set) var frameCount = 0
    public private(set) var stage2FrameCount = 0
    private var closedRun = Int.max / 2

    /// A learned detector: gate + `stage2` + segmentation.
    public init(stage2: CryProbabilityModel, configuration: DetectorConfiguration = .standard,
                levelFeatureIndex: Int = 0, levelScale: Float = 20) throws {
        try configuration.validate()
        guard levelFeatureIndex >= 0 && levelFeatureIndex < stage2.featureCount else {
            throw DetectorError.invalidConfiguration(field: "levelFeatureIndex", value: "\(levelFeatureIndex)",
                                                     problem: "outside the model's \(stage2.featureCount) features")
        }
        self.configuration = configuration
        self.mode = .learned
        self.stage2 = stage2
        self.levelFeatureIndex = levelFeatureIndex
        self.levelScale = levelScale
        gate = EnergyGate(configuration: configuration)
        segmenter = EpisodeSegmenter(configuration: configuration)
        smoother = ProbabilitySmoother(frames: configuration.smoothingFrames)
    }

    /// The sound-activated baseline: an episode wherever the gate is open long enough.
    /// Only for comparison figures; a monitor should use a learned detector.
    public init(energyOnlyWith configuration: DetectorConfiguration = .standard,
                levelFeatureIndex: Int = 0, levelScale: Float = 20) throws {
        try configuration.validate()
        self.configuration = configuration
        self.mode = .energyOnly
        self.stage2 = nil
        self.levelFeatureIndex = levelFeatureIndex
        self.levelScale = levelScale
        gate = EnergyGate(configuration: configuration)
        segmenter = EpisodeSegmenter(configuration: configuration)
        smoother = ProbabilitySmoother(frames: 1)
    }

    /// Feeds the next feature frame (frame index = `frameCount` before the call); calls
    /// `emit` for each episode event it completes (frame indices; see `EpisodeEvent`).
    public func process(_ features: UnsafeBufferPointer<Float>, emit: (EpisodeEvent) -> Void) {
        frameCount += 1
        let level = levelFeatureIndex < features.count ? levelScale * features[levelFeatureIndex] : -.infinity
        let wasOpen = gate.isOpen
        let open = gate.process(levelDB: level)
        var p: Float = 0
        if open {
            if let stage2 {
                if !wasOpen && closedRun >= configuration.classifierResetFrames { stage2.reset() }
                p = stage2.cryProbability(features)
                stage2FrameCount += 1
            } else {
                p = 1
            }
            closedRun = 0
        } else {
            closedRun += 1
        }
        p = smoother.push(p)
        lastProbability = p
        segmenter.process(probability: p, gateOpen: open, emit: emit)
    }

    /// Replaces the learned stage (a reloaded model) between frames; the gate and the
    /// segmenter go on. The new stage starts from a reset state.
    public func replaceStage2(_ model: CryProbabilityModel) {
        precondition(mode == .learned, "an energy-only detector has no learned stage")
        model.reset()
        stage2 = model
    }

    /// Changes the segmenter's on/off thresholds between frames (an adapted model that records
    /// its own operating point); the gate, the learned stage and the segmenter's state go on.
    public func setThresholds(on: Float, off: Float) throws {
        var c = configuration
        c.onThreshold = on
        c.offThreshold = off
        try c.validate()
        configuration = c
        segmenter.setThresholds(on: on, off: off)
    }

    /// End of stream: closes the running episode.
    public func finish(emit: (EpisodeEvent) -> Void) {
        segmenter.finish(emit: emit)
    }

    /// Back to the state of a new stream (frame indices restart at 0).
    public func reset() {
        gate.reset()
        segmenter.reset()
        stage2?.reset()
        smoother.reset()
        lastProbability = 0
        frameCount = 0
        stage2FrameCount = 0
        closedRun = Int.max / 2
    }

    /// Convenience for offline use: every episode over a feature matrix given row by row.
    public func episodes(frames: Int, featureCount: Int, values: [Float]) -> [CryEpisode] {
        var result: [CryEpisode] = []
        var open: (Int, Int)?
        let collect: (EpisodeEvent) -> Void = { event in
            switch event {
            case let .started(onset, confirmedAt): open = (onset, confirmedAt)
            case let .ended(end):
                if let (o, c) = open { result.append(CryEpisode(onsetFrame: o, confirmationFrame: c, endFrame: end)) }
                open = nil
            }
        }
        values.withUnsafeBufferPointer { all in
            for f in 0..<frames {
                process(UnsafeBufferPointer(rebasing: all[f * featureCount ..< (f + 1) * featureCount]), emit: collect)
            }
        }
        finish(emit: collect)
        return result
    }
}

/// A causal moving average over the last `frames` values, in a ring allocated once; the sum
/// is recomputed from the ring each time the ring wraps, so rounding cannot accumulate.
public struct ProbabilitySmoother: Sendable {
    private var ring: [Float]
    private var next = 0
    private var sum: Double = 0
    public var frames: Int { ring.count }

    public init(frames: Int) {
        ring = [Float](repeating: 0, count: max(1, frames))
    }

    /// Adds `p` (the newest value) and returns the mean of the last `frames` values (values
    /// before the first count as 0).
    public mutating func push(_ p: Float) -> Float {
        if ring.count == 1 { return p }
        sum += Double(p) - Double(ring[next])
        ring[next] = p
        next += 1
        if next == ring.count {
            next = 0
            sum = ring.reduce(0.0) { $0 + Double($1) }
        }
        return Float(max(0, sum) / Double(ring.count))
    }

    public mutating func reset() {
        for i in ring.indices { ring[i] = 0 }
        next = 0
        sum = 0
    }
}
