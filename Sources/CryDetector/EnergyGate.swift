#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stage 1 of the detector: a per-frame open/closed decision from the frame's level
/// against an adaptive noise floor. A few multiplies per frame, no allocation.
///
///     open_t   = level_t > max(floor_{t-1} + margin, minimumLevel)      (then held for `hold` frames)
///     floor_t  = floor_{t-1} + a (level_t - floor_{t-1}),
///                a = 1 - exp(-frame / tauRise)  if level_t > floor_{t-1}   (tens of seconds)
///                a = 1 - exp(-frame / tauFall)  otherwise                  (a fraction of a second)
///
/// The floor is tracked in dB, so it follows a slow ramp (a fan spinning up) with a lag of
/// about rate * tauRise dB and never mistakes a burst for the background; the fast fall
/// puts it back under the background as soon as a burst is over, so the next sound opens
/// the gate at once. The floor starts at the first frame's level.
public struct EnergyGate: Sendable {
    public let marginDB: Float
    public let minimumLevelDB: Float
    public let holdFrames: Int
    let riseAlpha: Float
    let fallAlpha: Float

    /// The current background estimate in dB (nil before the first frame).
    public private(set) var noiseFloorDB: Float?
    public private(set) var isOpen = false
    /// Frames left before a gate whose level fell back closes.
    private var holdLeft = 0

    public init(configuration c: DetectorConfiguration = .standard) {
        marginDB = c.gateMarginDB
        minimumLevelDB = c.gateMinimumLevelDB
        holdFrames = c.gateHoldFrames
        riseAlpha = Float(1 - exp(-c.frameSeconds / c.noiseFloorRiseSeconds))
        fallAlpha = Float(1 - exp(-c.frameSeconds / c.noiseFloorFallSeconds))
    }

    /// Feeds one frame's level in dB; returns whether the gate is open for this frame.
    @inline(__always)
    public mutating func process(levelDB rawLevel: Float) -> Bool {
        // NaN or -inf (digital silence) count as the quietest level.
        let level = rawLevel.isNaN ? minimumLevelDB : max(rawLevel, minimumLevelDB)
        guard let floor = noiseFloorDB else {
            noiseFloorDB = level
            isOpen = false
            return false
        }
        if level > floor + marginDB && level > minimumLevelDB {
            holdLeft = holdFrames
            isOpen = true
        } else if holdLeft > 0 {
            holdLeft -= 1
            isOpen = true
        } else {
            isOpen = false
        }
        let a = level > floor ? riseAlpha : fallAlpha
        noiseFloorDB = floor + a * (level - floor)
        return isOpen
    }

    /// Feeds one hop of raw samples (full scale 1.0): its RMS level in dBFS.
    public mutating func process(hop: UnsafeBufferPointer<Float>) -> Bool {
        process(levelDB: Self.levelDB(hop))
    }

    /// 20 log10(RMS) in dBFS; -inf for an empty or silent hop.
    public static func levelDB(_ samples: UnsafeBufferPointer<Float>) -> Float {
        guard !samples.isEmpty else { return -.infinity }
        var sum: Float = 0
        for x in samples { sum += x * x }
        return 10 * log10(sum / Float(samples.count))
    }

    public mutating func reset() {
        noiseFloorDB = nil
        isOpen = false
        holdLeft = 0
    }
}
