#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Timing of the streaming step, kept inside the module so that the timed code is the
/// Float-specialised step the daemon runs.
public enum NetworkBenchmark {
    public struct Result: Sendable {
        public var microsecondsPerStep: Double
        /// 2 x (multiply-adds of every matrix-vector product) per step; elementwise work excluded.
        public var flopsPerStep: Int
        public var steps: Int
        public var gflops: Double { Double(flopsPerStep) / microsecondsPerStep / 1e3 }
    }

    /// Monotonic seconds (clock_gettime(CLOCK_MONOTONIC)).
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Every matrix is used once per step: one multiply-add per element.
    public static func flopsPerStep(_ layout: ParameterLayout) -> Int {
        2 * layout.tensors.filter(\.isMatrix).reduce(0) { $0 + $1.count }
    }

    /// Steps a random-weights network on random frames on the calling thread: a warm-up,
    /// then batches until `seconds` have passed. Returns the mean time per step.
    public static func measureStep(configuration: ModelConfiguration, seconds: Double, seed: UInt64 = 1) throws -> Result {
        let net = try CryNetwork<Float>.random(configuration: configuration, seed: seed)
        let state = net.makeState()
        var rng = SplitMix64(seed: seed)
        let frameCount = 64
        let frames = (0..<(frameCount * net.inputSize)).map { _ in Float(rng.nextSymmetric(1)) }
        var sink: Float = 0
        let result = frames.withUnsafeBufferPointer { fb -> Result in
            let base = fb.baseAddress!
            for i in 0..<500 { sink += net.step(base + (i % frameCount) * net.inputSize, state: state)[0] }
            var steps = 0
            let start = now()
            var elapsed = 0.0
            repeat {
                for i in 0..<1000 { sink += net.step(base + (i % frameCount) * net.inputSize, state: state)[0] }
                steps += 1000
                elapsed = now() - start
            } while elapsed < seconds
            return Result(microsecondsPerStep: elapsed / Double(steps) * 1e6,
                          flopsPerStep: flopsPerStep(net.layout), steps: steps)
        }
        // Keep the work observable so the optimiser cannot drop it.
        if sink.isNaN { print("bench: NaN posteriors") }
        return result
    }
}

extension NetworkBenchmark {
    /// Forward + backward over random sequences of `frameCount` frames, loss at every
    /// frame (the most backward work); returns microseconds per frame.
    public static func measureTraining(configuration: ModelConfiguration, frameCount: Int, seconds: Double, seed: UInt64 = 1) throws -> Double {
        let net = try CryNetwork<Float>.random(configuration: configuration, seed: seed)
        var rng = SplitMix64(seed: seed)
        let frames = (0..<(frameCount * net.inputSize)).map { _ in Float(rng.nextSymmetric(1)) }
        let weights = [Float](repeating: 1 / Float(frameCount), count: frameCount)
        var g = CryNetworkGradients<Float>(layout: net.layout)
        var sink: Float = net.accumulateGradients(trace: net.forward(frames: frames, frameCount: frameCount),
                                                  target: 0, frameWeights: weights, into: &g)
        var runs = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            let trace = net.forward(frames: frames, frameCount: frameCount)
            sink += net.accumulateGradients(trace: trace, target: runs % net.classCount, frameWeights: weights, into: &g)
            runs += 1
            elapsed = now() - start
        } while elapsed < seconds
        if sink.isNaN { print("bench: NaN loss") }
        return elapsed / Double(runs * frameCount) * 1e6
    }
}
