import Testing
@testable import CryTraining

@Suite struct AdamTests {
    /// f(x) = sum_i c_i (x_i - t_i)^2 with very different curvatures: Adam's per-parameter
    /// scaling reaches the minimum of every coordinate.
    @Test func convergesOnAQuadratic() {
        let target: [Float] = [3, -2, 0.5, 10]
        let curvature: [Float] = [1, 100, 0.01, 5]
        var x = [Float](repeating: 0, count: 4)
        var adam = AdamOptimizer(parameterCount: 4, learningRate: 0.05, beta2: 0.999, weightDecay: 0)
        for _ in 0..<3000 {
            let g = (0..<4).map { 2 * curvature[$0] * (x[$0] - target[$0]) }
            adam.update(parameters: &x, gradients: g)
        }
        for i in 0..<4 { #expect(abs(x[i] - target[i]) < 0.05, "x[\(i)] = \(x[i])") }
        #expect(adam.step == 3000)
    }

    @Test func convergesWithThePapersBeta2() {
        var x: [Float] = [5, -5]
        var adam = AdamOptimizer(parameterCount: 2, learningRate: 0.01, weightDecay: 0)   // beta2 0.7
        for _ in 0..<2000 {
            adam.update(parameters: &x, gradients: x.map { 2 * $0 })
        }
        #expect(abs(x[0]) < 0.05 && abs(x[1]) < 0.05)
    }

    /// With L2 lambda the minimum of (x - 1)^2 + (lambda/2) x^2 moves to 2 / (2 + lambda).
    @Test func weightDecayIsAddedToTheGradient() {
        var x: [Float] = [0]
        var adam = AdamOptimizer(parameterCount: 1, learningRate: 0.01, beta2: 0.999, weightDecay: 1)
        for _ in 0..<5000 { adam.update(parameters: &x, gradients: [2 * (x[0] - 1)]) }
        #expect(abs(x[0] - 2.0 / 3.0) < 0.01)
    }

    /// The first step of Adam moves every parameter by lr (bias-corrected m/sqrt(v) = sign(g)).
    @Test func firstStepIsLearningRateTimesSign() {
        var x: [Float] = [1, 1]
        var adam = AdamOptimizer(parameterCount: 2, learningRate: 0.1, weightDecay: 0)
        adam.update(parameters: &x, gradients: [4, -0.001])
        #expect(abs(x[0] - 0.9) < 1e-5 && abs(x[1] - 1.1) < 1e-4)
    }
}

@Suite struct SamplingTests {
    private let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    private let frames = [700, 700, 700, 700, 700, 700, 700, 700, 300, 100]

    @Test func batchesAreClassBalancedAndDeterministic() {
        var a = BalancedBatchSampler(clips: Array(0..<10), labels: labels, frameCounts: frames,
                                     classCount: 3, minimumFrames: 150, seed: 5)
        var b = a
        let batchA = a.nextBatch(size: 3000)
        #expect(batchA == b.nextBatch(size: 3000))
        var perClass = [0, 0, 0]
        for crop in batchA { perClass[crop.label] += 1 }
        // Uniform over classes, not over clips (class 0 has 8 of the 10 clips).
        for count in perClass { #expect(count > 900 && count < 1100) }
        var c = BalancedBatchSampler(clips: Array(0..<10), labels: labels, frameCounts: frames,
                                     classCount: 3, minimumFrames: 150, seed: 6)
        #expect(c.nextBatch(size: 50) != batchA.prefix(50).map { $0 })
    }

    @Test func cropsStayInsideClipsAndSpanShortToFull() {
        var s = BalancedBatchSampler(clips: Array(0..<10), labels: labels, frameCounts: frames,
                                     classCount: 3, minimumFrames: 150, seed: 9)
        var sawFull = false, sawShort = false
        for crop in s.nextBatch(size: 2000) {
            let n = frames[crop.clip]
            #expect(crop.start >= 0 && crop.start + crop.length <= n)
            #expect(crop.length >= min(150, n))
            #expect(labels[crop.clip] == crop.label)
            if crop.length == n { sawFull = true }
            if crop.length < 200 && n == 700 { sawShort = true }
        }
        #expect(sawFull && sawShort)
    }

    @Test func samplesOnlyTheGivenClips() {
        var s = BalancedBatchSampler(clips: [1, 2, 9], labels: labels, frameCounts: frames,
                                     classCount: 3, minimumFrames: 150, seed: 1)
        #expect(Set(s.nextBatch(size: 200).map(\.clip)).isSubset(of: [1, 2, 9]))
    }
}

@Suite struct NormalisationTests {
    @Test func fitsOnTheGivenClipsOnly() {
        let f0 = ClipFeatures(frameCount: 2, featureCount: 2, values: [1, 5, 3, 5])
        let f1 = ClipFeatures(frameCount: 1, featureCount: 2, values: [1000, 1000])
        let norm = FeatureNormalisation.fit(features: [f0, f1], clips: [0])
        #expect(norm.mean == [2, 5])
        #expect(norm.std == [1, 1])   // dimension 1 is constant: std stored as 1
        #expect(norm.apply(f0).values == [-1, 0, 1, 0])
    }

    @Test func cacheBuildKeepsClipOrderWithThreads() throws {
        let cache = try FeatureCache.build(count: 7, threads: 2) { i, _ in
            ClipFeatures(frameCount: i, featureCount: 1, values: [Float](repeating: Float(i), count: i))
        }
        #expect(cache.frameCounts == Array(0..<7))
        #expect(cache.features[5].values == [5, 5, 5, 5, 5])
    }
}

@Suite struct AdamDecayMaskTests {
    /// Zero gradient: decayed parameters shrink, masked-out ones (biases) stay.
    @Test func maskLimitsWeightDecay() {
        var x: [Float] = [1, 1]
        var adam = AdamOptimizer(parameterCount: 2, learningRate: 0.01, weightDecay: 0.1, decayMask: [1, 0])
        for _ in 0..<10 { adam.update(parameters: &x, gradients: [0, 0]) }
        #expect(x[0] < 0.95)
        #expect(x[1] == 1)
    }
}
