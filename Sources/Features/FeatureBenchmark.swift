#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Result of `FeatureExtractor.benchmark`: one thread, streaming path, generated audio.
public struct FeatureBenchmarkResult: Sendable, Equatable {
    public var frames: Int
    public var audioSeconds: Double
    public var elapsedSeconds: Double
    /// Wall time per emitted frame, in microseconds.
    public var microsecondsPerFrame: Double { frames > 0 ? elapsedSeconds * 1e6 / Double(frames) : 0 }
    /// Processing time over audio time (< 1: faster than real time; 0.001 = 1000x).
    public var realTimeFactor: Double { audioSeconds > 0 ? elapsedSeconds / audioSeconds : 0 }
}

extension FeatureExtractor {
    /// Times the extractor over `seconds` of generated cry-like audio (a harmonic tone with
    /// vibrato plus noise) fed in blocks of `blockSize` samples, as capture would, on the
    /// calling thread. Uses CLOCK_MONOTONIC; the audio is generated and the extractor warmed
    /// up before timing starts.
    public static func benchmark(
        seconds: Double, config: FrontEndConfig = .standard, blockSize: Int = 256
    ) -> FeatureBenchmarkResult {
        let rate = Double(config.sampleRate)
        let count = max(config.frameLength, Int(seconds * rate))
        var samples = [Float](repeating: 0, count: count)
        var noise: UInt32 = 12345
        var phase = 0.0
        for n in 0..<count {
            let f0 = 420 + 60 * sin(2 * Double.pi * 5 * Double(n) / rate)
            phase += 2 * Double.pi * f0 / rate
            noise = noise &* 1_664_525 &+ 1_013_904_223  // LCG: deterministic, no Foundation
            let white = Double(noise >> 8) / Double(1 << 24) - 0.5
            samples[n] = Float(0.3 * sin(phase) + 0.1 * sin(2 * phase) + 0.02 * white)
        }

        let extractor = FeatureExtractor(config: config)
        var checksum: Float = 0
        var frames = 0
        let block = max(1, blockSize)
        func run() {
            samples.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {
                    let end = min(start + block, all.count)
                    extractor.process(UnsafeBufferPointer(rebasing: all[start..<end])) { _, row in
                        checksum += row[0]
                        frames += 1
                    }
                    start = end
                }
            }
            extractor.finish { _, row in
                checksum += row[0]
                frames += 1
            }
        }
        run()  // warm-up: caches, page faults
        frames = 0
        let t0 = monotonicSeconds()
        run()
        let elapsed = monotonicSeconds() - t0
        // Keep the work observable so the optimiser cannot drop it.
        if checksum.isNaN { print("benchmark checksum NaN") }
        return FeatureBenchmarkResult(frames: frames, audioSeconds: Double(count) / rate, elapsedSeconds: elapsed)
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
