import Foundation
import AudioIO
import CryModel
import Features

/// Decisions as the daemon makes them: WAV -> streaming front end -> `StreamingClassifier`
/// frame by frame; a file's decision is the posterior vector at its last frame.
public enum StreamingEvaluation {
    /// Last-frame posteriors of each file, in order, computed on `threads` threads
    /// (each with its own extractor and classifier; the result does not depend on them).
    /// With `pooling` .meanLogProbability: softmax of the mean of every frame's log-posteriors.
    public static func lastFramePosteriors(model: CryModelFile, paths: [String], threads: Int = 2,
                                           pooling: ClipPooling = .lastFrame) throws -> [[Float]] {
        let workers = max(1, min(threads, paths.count))
        let config = model.configuration.frontEnd
        let pool = ClassifierPool(model: model, count: workers)
        let results = ResultSlots<Result<[Float], any Error>>(count: paths.count)
        parallelFor(workers) { w in
            var i = w
            while i < paths.count {
                results.set(i, Result { try pool.lastFramePosteriors(worker: w, path: paths[i], sampleRate: config.sampleRate, pooling: pooling) })
                i += workers
            }
        }
        return try results.values.map { try $0!.get() }
    }
}

final class ClassifierPool: @unchecked Sendable {
    // @unchecked: worker w only ever uses index w, between joins.
    let extractors: [FeatureExtractor]
    let classifiers: [StreamingClassifier]

    init(model: CryModelFile, count: Int) {
        extractors = (0..<count).map { _ in FeatureExtractor(config: model.configuration.frontEnd) }
        classifiers = (0..<count).map { _ in StreamingClassifier(model: model) }
    }

    func lastFramePosteriors(worker w: Int, path: String, sampleRate: Int, pooling: ClipPooling = .lastFrame) throws -> [Float] {
        let audio = try WAVReader.read(path: path, sampleRate: sampleRate)
        let extractor = extractors[w], classifier = classifiers[w]
        extractor.reset()
        classifier.reset()
        // The classifier's output stays valid until its next step: keep the view, copy once.
        var last: UnsafeBufferPointer<Float>?
        var logSum: [Double] = [], frames = 0
        func step(_ frame: UnsafeBufferPointer<Float>) {
            let p = classifier.step(frame)
            last = p
            if pooling == .meanLogProbability {
                if logSum.isEmpty { logSum = [Double](repeating: 0, count: p.count) }
                for c in 0..<p.count { logSum[c] += log(max(Double(p[c]), 1e-30)) }
                frames += 1
            }
        }
        audio.samples.withUnsafeBufferPointer { samples in
            extractor.process(samples) { _, frame in step(frame) }
        }
        extractor.finish { _, frame in step(frame) }
        guard let last else {
            throw CorpusError(path: path, problem: "too short for one feature frame (\(audio.samples.count) samples at \(sampleRate) Hz)")
        }
        if pooling == .meanLogProbability { return ClipPooling.softmaxOfMean(logSum, frameCount: frames) }
        return Array(last)
    }
}
