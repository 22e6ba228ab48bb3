import CryModel
import Foundation
import Testing
@testable import CryTraining

@Suite struct FeatureLoadingTests {
    /// A few real Donate-a-Cry clips through the real front end: ~7 s at 8 kHz is ~700 frames of 32.
    @Test func featureCacheLoadsRealClips() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent (a fresh clone has no corpus)")
            return
        }
        var corpus = try Corpus.load(directories: [data + "/donateacry"])
        corpus.clips = Array(corpus.clips.prefix(3))
        let cache = try FeatureCache.load(corpus: corpus, config: .standard, threads: 2)
        #expect(cache.features.count == 3)
        for f in cache.features {
            #expect(f.featureCount == 32)
            #expect(f.frameCount > 300 && f.frameCount < 1200)
            #expect(f.values.allSatisfy { $0.isFinite })
        }
        let single = try FeatureCache.load(corpus: corpus, config: .standard, threads: 1)
        #expect(single.features == cache.features)
    }
}

@Suite struct StreamingEvaluationTests {
    /// The streaming path (front end step by step + StreamingClassifier) decides exactly as
    /// the whole-sequence forward pass on the cached, normalised features that training uses.
    @Test func streamingDecisionMatchesWholeSequenceForward() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent (a fresh clone has no corpus)")
            return
        }
        var corpus = try Corpus.load(directories: [data + "/donateacry"])
        corpus.clips = [corpus.clips[0], corpus.clips[200]]
        let cache = try FeatureCache.load(corpus: corpus, config: .standard, threads: 1)
        let norm = FeatureNormalisation.fit(features: cache.features, clips: [0, 1])
        let config = ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: .attgate, depth: 2,
                                        hidden: [8, 6], dense: [5])
        let network = try CryNetwork<Float>.random(configuration: config, seed: 3)
        let file = CryModelFile(network: network, featureMean: norm.mean, featureStd: norm.std)
        let streamed = try StreamingEvaluation.lastFramePosteriors(model: file, paths: corpus.clips.map(\.path), threads: 2)
        for (i, f) in cache.features.enumerated() {
            let whole = Array(network.forward(frames: norm.apply(f).values, frameCount: f.frameCount).lastPosteriors)
            for c in 0..<5 { #expect(abs(whole[c] - streamed[i][c]) < 1e-4) }
        }
    }

    /// With `--pooling mean` the streaming decision (the mean of every step's log-posteriors)
    /// equals the trainer's pooled decision on the cached features (`CryNetworkTrainable`).
    @Test func pooledStreamingDecisionMatchesTrainersPooledDecision() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent (a fresh clone has no corpus)")
            return
        }
        var corpus = try Corpus.load(directories: [data + "/donateacry"])
        corpus.clips = [corpus.clips[1], corpus.clips[300]]
        let cache = try FeatureCache.load(corpus: corpus, config: .standard, threads: 1)
        let norm = FeatureNormalisation.fit(features: cache.features, clips: [0, 1])
        let config = ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: .lstm, hidden: [8], dense: [5])
        let network = try CryNetwork<Float>.random(configuration: config, seed: 4)
        var file = CryModelFile(network: network, featureMean: norm.mean, featureStd: norm.std)
        file.extras["pooling"] = "mean"
        #expect(TrainingPipeline.pooling(of: file) == .meanLogProbability)
        let streamed = try StreamingEvaluation.lastFramePosteriors(model: file, paths: corpus.clips.map(\.path), threads: 2,
                                                                    pooling: TrainingPipeline.pooling(of: file))
        let last = try StreamingEvaluation.lastFramePosteriors(model: file, paths: corpus.clips.map(\.path), threads: 2)
        var trainable = CryNetworkTrainable(network: network, pooling: .meanLogProbability)
        for (i, f) in cache.features.enumerated() {
            let pooled = norm.apply(f).values.withUnsafeBufferPointer { trainable.posteriors(sequence: $0, frameCount: f.frameCount) }
            for c in 0..<5 { #expect(abs(pooled[c] - streamed[i][c]) < 1e-4) }
            #expect(zip(pooled, last[i]).contains { abs($0 - $1) > 1e-3 }, "pooling changes the decision's posteriors")
        }
    }
}
