/// The frame features of one clip: `frameCount` rows of `featureCount` values, row-major.
public struct ClipFeatures: Sendable, Equatable {
    public var frameCount: Int
    public var featureCount: Int
    public var values: [Float]

    public init(frameCount: Int, featureCount: Int, values: [Float]) {
        precondition(values.count == frameCount * featureCount)
        self.frameCount = frameCount
        self.featureCount = featureCount
        self.values = values
    }
}

/// Per-dimension mean and standard deviation, fitted on training clips only (fitting on
/// validation or test clips would leak them into the model).
///
///     mean_d = sum over all frames of x_d / N,  std_d = sqrt(sum (x_d - mean_d)^2 / N)
///     std_d < 1e-6 (a constant feature) is stored as 1, so normalising never divides by 0.
public struct FeatureNormalisation: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Fits on the frames of `clips` (indices into `features`); accumulates in Double.
    public static func fit(features: [ClipFeatures], clips: [Int]) -> FeatureNormalisation {
        let d = features.first?.featureCount ?? 0
        var sum = [Double](repeating: 0, count: d)
        var n = 0
        for i in clips {
            let f = features[i]
            for t in 0..<f.frameCount {
                for j in 0..<d { sum[j] += Double(f.values[t * d + j]) }
            }
            n += f.frameCount
        }
        guard n > 0 else {
            return FeatureNormalisation(mean: [Float](repeating: 0, count: d), std: [Float](repeating: 1, count: d))
        }
        let mean = sum.map { $0 / Double(n) }
        var sq = [Double](repeating: 0, count: d)
        for i in clips {
            let f = features[i]
            for t in 0..<f.frameCount {
                for j in 0..<d {
                    let e = Double(f.values[t * d + j]) - mean[j]
                    sq[j] += e * e
                }
            }
        }
        let std = sq.map { s -> Float in
            let v = (s / Double(n)).squareRoot()
            return v < 1e-6 ? 1 : Float(v)
        }
        return FeatureNormalisation(mean: mean.map { Float($0) }, std: std)
    }

    /// (x - mean) / std, per dimension.
    public func apply(_ features: ClipFeatures) -> ClipFeatures {
        let d = features.featureCount
        precondition(d == mean.count)
        var out = features.values
        for t in 0..<features.frameCount {
            for j in 0..<d { out[t * d + j] = (out[t * d + j] - mean[j]) / std[j] }
        }
        return ClipFeatures(frameCount: features.frameCount, featureCount: d, values: out)
    }
}

/// Every clip's features, computed once per front-end configuration and kept in memory
/// (365 clips x ~700 frames x 32 floats is about 33 MB). The extraction function is
/// injected so the cache does not care how features are made; `FeatureCache.load`
/// (CorpusFeatures.swift) reads WAVs and runs the real front end.
public struct FeatureCache: Sendable {
    public var features: [ClipFeatures]

    public init(features: [ClipFeatures]) {
        self.features = features
    }

    /// Extracts each clip with `extract(index, worker)`, in clip order. Work is spread over
    /// `threads` threads (worker w takes clips w, w + threads, ...; per-worker state such as
    /// an FFT plan is indexed by `worker`); the result does not depend on the thread count.
    public static func build(
        count: Int,
        threads: Int = 2,
        extract: @Sendable (_ index: Int, _ worker: Int) throws -> ClipFeatures
    ) throws -> FeatureCache {
        let results = ResultSlots<Result<ClipFeatures, any Error>>(count: count)
        let workers = max(1, min(threads, count))
        parallelFor(workers) { w in
            var i = w
            while i < count {
                results.set(i, Result { try extract(i, w) })
                i += workers
            }
        }
        return FeatureCache(features: try results.values.map { try $0!.get() })
    }

    public var frameCounts: [Int] { features.map(\.frameCount) }
}
