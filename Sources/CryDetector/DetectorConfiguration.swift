/// Every parameter of the cry detector, in the units a person would state them in
/// (seconds, decibels, probabilities). Frame counts are derived from `frameSeconds`
/// (the front end's hop: 10 ms for the shipped models).
public struct DetectorConfiguration: Sendable, Codable, Equatable {
    /// Duration of one feature frame (the front end's hop) in seconds.
    public var frameSeconds: Double

    // MARK: Stage 1: energy gate

    /// The gate opens when a frame's level exceeds the noise floor by this many dB.
    public var gateMarginDB: Float
    /// The gate stays open this long after the level last exceeded floor + margin.
    public var gateHoldSeconds: Double
    /// Time constant with which the noise floor follows a level above it (a fan, a heater
    /// switched on): tens of seconds, so that a cry does not become "the floor".
    public var noiseFloorRiseSeconds: Double
    /// Time constant with which the floor follows a level below it: short, so that the
    /// gate is ready again right after a burst.
    public var noiseFloorFallSeconds: Double
    /// Frames quieter than this (dBFS of the hop's RMS, or the front end's log-RMS in dB)
    /// never open the gate; levels are clamped to it so that digital silence does not drag
    /// the floor to -200 dB.
    public var gateMinimumLevelDB: Float
    /// Stage 2's recurrent state is reset when the gate opens after being closed this long
    /// (a new sound starts from a clean state; a breath inside a cry keeps the context).
    public var classifierResetAfterClosedSeconds: Double

    // MARK: Episode segmentation (on the per-frame cry probability)

    /// A frame is "above" when p >= onThreshold; `onsetConfirmationFrames` consecutive
    /// above frames confirm a cry.
    public var onThreshold: Float
    /// A confirmed episode continues while p >= offThreshold (hysteresis; <= onThreshold).
    public var offThreshold: Float
    /// Consecutive frames with p >= onThreshold needed to confirm an onset.
    public var onsetConfirmationFrames: Int
    /// The segmenter sees the mean of stage 2's p(cry) over the last this-long (causal
    /// moving average, closed-gate frames counting as 0); 0 = the frame's own p. Pools the
    /// evidence of several bursts, so a single cry-like moment of another sound weighs less.
    public var probabilitySmoothingSeconds: Double
    /// The onset is moved back over the frames with p >= offThreshold before the confirming
    /// run, and further back to where the gate opened if that lies at most this far before.
    public var onsetLookbackSeconds: Double
    /// An episode ends after this long with p < offThreshold; its end is the last frame
    /// with p >= offThreshold (the hangover is not counted in the episode).
    public var hangoverSeconds: Double
    /// Episodes shorter than this (onset to end) are dropped; `.started` is only
    /// announced once an episode has reached this length.
    public var minimumEpisodeSeconds: Double
    /// An episode whose onset lies less than this after the previous episode's end is
    /// merged into it (a baby pausing for breath between bursts is one episode).
    public var mergeGapSeconds: Double

    public init(
        frameSeconds: Double = 0.01,
        gateMarginDB: Float = 10,
        gateHoldSeconds: Double = 0.3,
        noiseFloorRiseSeconds: Double = 20,
        noiseFloorFallSeconds: Double = 0.2,
        gateMinimumLevelDB: Float = -85,
        classifierResetAfterClosedSeconds: Double = 1.0,
        onThreshold: Float = 0.95,
        offThreshold: Float = 0.3,
        onsetConfirmationFrames: Int = 5,
        probabilitySmoothingSeconds: Double = 0,
        onsetLookbackSeconds: Double = 1.5,
        hangoverSeconds: Double = 0.5,
        minimumEpisodeSeconds: Double = 0.5,
        mergeGapSeconds: Double = 1.5
    ) {
        self.frameSeconds = frameSeconds
        self.gateMarginDB = gateMarginDB
        self.gateHoldSeconds = gateHoldSeconds
        self.noiseFloorRiseSeconds = noiseFloorRiseSeconds
        self.noiseFloorFallSeconds = noiseFloorFallSeconds
        self.gateMinimumLevelDB = gateMinimumLevelDB
        self.classifierResetAfterClosedSeconds = classifierResetAfterClosedSeconds
        self.onThreshold = onThreshold
        self.offThreshold = offThreshold
        self.onsetConfirmationFrames = onsetConfirmationFrames
        self.probabilitySmoothingSeconds = probabilitySmoothingSeconds
        self.onsetLookbackSeconds = onsetLookbackSeconds
        self.hangoverSeconds = hangoverSeconds
        self.minimumEpisodeSeconds = minimumEpisodeSeconds
        self.mergeGapSeconds = mergeGapSeconds
    }

    public static let standard = DetectorConfiguration()

    /// Seconds -> whole frames (rounded), at least `minimum`.
    public func frames(_ seconds: Double, minimum: Int = 0) -> Int {
        max(minimum, Int((seconds / frameSeconds).rounded()))
    }

    /// Seconds from the stream's first frame to the start of frame `index`.
    public func seconds(atFrame index: Int) -> Double { Double(index) * frameSeconds }

    var gateHoldFrames: Int { frames(gateHoldSeconds) }
    var hangoverFrames: Int { frames(hangoverSeconds, minimum: 1) }
    var minimumEpisodeFrames: Int { frames(minimumEpisodeSeconds, minimum: 1) }
    var mergeGapFrames: Int { frames(mergeGapSeconds) }
    var onsetLookbackFrames: Int { frames(onsetLookbackSeconds) }
    var confirmationFrames: Int { max(1, onsetConfirmationFrames) }
    var classifierResetFrames: Int { frames(classifierResetAfterClosedSeconds) }
    /// Frames the p(cry) mean runs over (1: no smoothing).
    public var smoothingFrames: Int { frames(probabilitySmoothingSeconds, minimum: 1) }

    /// Checks the parameters' ranges; the message names the field and value at fault.
    public func validate() throws {
        func bad(_ field: String, _ value: Any, _ problem: String) -> DetectorError {
            .invalidConfiguration(field: field, value: "\(value)", problem: problem)
        }
        guard frameSeconds > 0, frameSeconds.isFinite else { throw bad("frameSeconds", frameSeconds, "must be > 0") }
        guard gateMarginDB >= 0, gateMarginDB.isFinite else { throw bad("gateMarginDB", gateMarginDB, "must be >= 0 dB") }
        guard noiseFloorRiseSeconds > 0 else { throw bad("noiseFloorRiseSeconds", noiseFloorRiseSeconds, "must be > 0") }
        guard noiseFloorFallSeconds > 0 else { throw bad("noiseFloorFallSeconds", noiseFloorFallSeconds, "must be > 0") }
        guard gateHoldSeconds >= 0 else { throw bad("gateHoldSeconds", gateHoldSeconds, "must be >= 0") }
        guard (0...1).contains(onThreshold) else { throw bad("onThreshold", onThreshold, "must be in [0, 1]") }
        guard (0...1).contains(offThreshold), offThreshold <= onThreshold else {
            throw bad("offThreshold", offThreshold, "must be in [0, onThreshold]")
        }
        guard probabilitySmoothingSeconds >= 0, probabilitySmoothingSeconds <= 10 else {
            throw bad("probabilitySmoothingSeconds", probabilitySmoothingSeconds, "must be in [0, 10] seconds")
        }
        guard onsetConfirmationFrames >= 1 else { throw bad("onsetConfirmationFrames", onsetConfirmationFrames, "must be >= 1") }
        for (name, v) in [("onsetLookbackSeconds", onsetLookbackSeconds), ("hangoverSeconds", hangoverSeconds),
                          ("minimumEpisodeSeconds", minimumEpisodeSeconds), ("mergeGapSeconds", mergeGapSeconds),
                          ("classifierResetAfterClosedSeconds", classifierResetAfterClosedSeconds)] {
            guard v >= 0, v.isFinite else { throw bad(name, v, "must be >= 0 seconds") }
        }
    }
}

public enum DetectorError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(field: String, value: String, problem: String)
    case wrongTask(model: String, task: String)
    case missingCryClass(model: String, classes: [String])
    case featureCountMismatch(model: String, expected: Int, got: Int)
    case noDetectorModel

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, value, problem):
            return "detector configuration: \(field) = \(value): \(problem)"
        case let .wrongTask(model, task):
            return "\(model): model task is '\(task)', the detector needs a model trained with --task detect"
        case let .missingCryClass(model, classes):
            return "\(model): detector model has no class 'cry' (classes: \(classes.joined(separator: ", ")))"
        case let .featureCountMismatch(model, expected, got):
            return "\(model): model expects \(expected) features per frame, the front end gives \(got)"
        case .noDetectorModel:
            return "no detector model: give a model trained with `crymodel train --task detect`, or choose the energy-only (sound-activated) baseline explicitly"
        }
    }
}
