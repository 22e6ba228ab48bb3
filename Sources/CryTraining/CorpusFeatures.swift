import AudioIO
import Features

/// One front end per worker thread (FFT plans are per extractor; made one after another here).
final class ExtractorPool: @unchecked Sendable {
    // @unchecked: worker w only ever uses extractors[w], between joins.
    let extractors: [FeatureExtractor]
    init(config: FrontEndConfig, count: Int) {
        extractors = (0..<count).map { _ in FeatureExtractor(config: config) }
    }
}

extension FeatureCache {
    /// Reads every clip of `corpus`, resampled to the front end's rate (cries are 8 kHz,
    /// other corpora 16 kHz: a model must not learn the sample rate), and extracts its
    /// frames with the offline path (equal to the streaming one, model-spec section 1).
    /// A clip too short for one frame is an error naming the file.
    public static func load(corpus: Corpus, config: FrontEndConfig, threads: Int = 2) throws -> FeatureCache {
        let workers = max(1, min(threads, corpus.clips.count))
        let pool = ExtractorPool(config: config, count: workers)
        let clips = corpus.clips
        return try build(count: clips.count, threads: workers) { i, w in
            let audio = try WAVReader.read(path: clips[i].path, sampleRate: config.sampleRate)
            let m = pool.extractors[w].extractAll(audio.samples)
            guard m.frameCount > 0 else {
                throw CorpusError(path: clips[i].path,
                                  problem: "too short for one feature frame (\(audio.samples.count) samples at \(config.sampleRate) Hz)")
            }
            return ClipFeatures(frameCount: m.frameCount, featureCount: m.featureCount, values: m.values)
        }
    }
}
