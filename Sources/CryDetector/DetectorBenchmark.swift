#if canImport(Glibc)
import CryModel
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cost of the detector alone (features excluded: see `FeatureExtractor.benchmark`), per
/// second of audio, on the calling thread, CLOCK_MONOTONIC.
public struct DetectorBenchmarkResult: Sendable, Equatable {
    public var audioSeconds: Double
    /// Gate closed (quiet room): gate and segmenter only.
    public var idleSeconds: Double
    /// Gate open on every frame (a cry going on): gate, stage 2 and segmenter.
    public var activeSeconds: Double
    /// Frames on which stage 2 ran in each run (0 and all, if the benchmark did what it says).
    public var idleStage2Frames: Int
    public var activeStage2Frames: Int
    public var idleRealTimeFactor: Double { idleSeconds / audioSeconds }
    public var activeRealTimeFactor: Double { activeSeconds / audioSeconds }
}

extension CryDetector {
    /// Times `process` over `seconds` of generated frames twice: quiet (the gate stays
    /// closed) and loud (the gate stays open, stage 2 runs on every frame). Feature values
    /// other than the level are a fixed pseudo-random pattern. Resets the detector.
    public func benchmark(seconds: Double, featureCount: Int = 32) -> DetectorBenchmarkResult {
        let frames = max(1, Int(seconds / configuration.frameSeconds))
        var rng = SplitMix64(seed: 5)
        var pattern = (0..<(64 * featureCount)).map { _ in Float(rng.gaussian()) }
        // Feeds one frame at `firstDB` (it sets the noise floor), then times `frames` frames
        // at `levelDB` (+ 0-2 dB of variation).
        func run(firstDB: Float, levelDB: Float) -> (Double, Int) {
            reset()
            for r in 0..<64 { pattern[r * featureCount + levelFeatureIndex] = (levelDB + Float(r % 3)) / levelScale }
            var first = Array(pattern[0 ..< featureCount])
            first[levelFeatureIndex] = firstDB / levelScale
            first.withUnsafeBufferPointer { process($0) { _ in } }
            var events = 0
            let start = Self.monotonicSeconds()
            pattern.withUnsafeBufferPointer { all in
                for f in 0..<frames {
                    let r = f & 63
                    process(UnsafeBufferPointer(rebasing: all[r * featureCount ..< (r + 1) * featureCount])) { _ in events += 1 }
                }
            }
            let elapsed = Self.monotonicSeconds() - start
            let ran = stage2FrameCount
            reset()
            return (elapsed, ran)
        }
        let idle = run(firstDB: -60, levelDB: -60)
        // 50 dB over a floor that rises with a time constant of tens of seconds: open throughout.
        let active = run(firstDB: -80, levelDB: -30)
        return DetectorBenchmarkResult(audioSeconds: Double(frames) * configuration.frameSeconds,
                                       idleSeconds: idle.0, activeSeconds: active.0,
                                       idleStage2Frames: idle.1, activeStage2Frames: active.1)
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
