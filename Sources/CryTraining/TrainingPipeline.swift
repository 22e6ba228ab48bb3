import CryModel
import Features
import Foundation

/// A corpus made ready for training: grouped split, features, training-set normalisation.
public struct PreparedCorpus: Sendable {
    public var corpus: Corpus
    public var split: DataSplit
    public var normalisation: FeatureNormalisation
    /// Every clip's features, normalised with `normalisation`.
    public var features: [ClipFeatures]
    public var frontEnd: FrontEndConfig

    public var labels: [Int] { corpus.clips.map(\.label) }

    /// Sorted group ids of a part's clips.
    public func groups(of clips: [Int]) -> [String] {
        Array(Set(clips.map { corpus.clips[$0].group })).sorted()
    }
}

/// The steps of `crymodel train` and `crymodel experiment`, as a library.
public enum TrainingPipeline {
    /// Class order of a task's models: the cause classes in `ModelConfiguration.causeClasses`
    /// order when the folders are exactly those (so every cause model agrees), otherwise the
    /// sorted folder names; detect models use ["cry", "not_cry"].
    /// `trainOnly`: more corpus folders whose clips of the same classes (others are dropped)
    /// only ever train (`Clip.trainOnly`): never validated or tested, and left out of a
    /// split's training part when their group is validated or tested there.
    public static func loadCorpus(task: TrainingTask, directories: [String], trainOnly: [String] = []) throws -> Corpus {
        var corpus = try Corpus.load(directories: directories, task: task)
        if task == .cause, Set(corpus.classes) == Set(ModelConfiguration.causeClasses),
           corpus.classes != ModelConfiguration.causeClasses {
            corpus = try Corpus.load(directories: directories, task: task, classes: ModelConfiguration.causeClasses)
        }
        if !trainOnly.isEmpty {
            let extra = try Corpus.load(directories: trainOnly, task: task, classes: corpus.classes, dropOtherClasses: true)
            corpus.clips += extra.clips.map { var c = $0; c.trainOnly = true; return c }
            corpus.rules.merge(extra.rules) { a, _ in a }
        }
        return corpus
    }

    /// A split of the scored clips (`split(labels, groups)` on those only), with the
    /// train-only clips added to its training part unless their group is validated or tested.
    static func withTrainOnlyClips(_ corpus: Corpus, _ split: ([Int], [String]) -> DataSplit) -> DataSplit {
        let scored = corpus.clips.indices.filter { !corpus.clips[$0].trainOnly }
        let inner = split(scored.map { corpus.clips[$0].label }, scored.map { corpus.clips[$0].group })
        var out = DataSplit(train: inner.train.map { scored[$0] }, validation: inner.validation.map { scored[$0] },
                            test: inner.test.map { scored[$0] })
        let held = Set((out.validation + out.test).map { corpus.clips[$0].group })
        out.train += corpus.clips.indices.filter { corpus.clips[$0].trainOnly && !held.contains(corpus.clips[$0].group) }
        out.train.sort()
        return out
    }

    public static func prepare(
        corpus: Corpus, frontEnd: FrontEndConfig, seed: UInt64,
        testFraction: Double = 0.2, validationFraction: Double = 0.2, threads: Int = 2
    ) throws -> PreparedCorpus {
        let split = corpus.clips.contains(where: \.trainOnly)
            ? withTrainOnlyClips(corpus) { labels, groups in
                GroupedSplitter.split(labels: labels, groups: groups, classCount: corpus.classes.count,
                                      testFraction: testFraction, validationFraction: validationFraction, seed: seed)
            }
            : corpus.groupedSplit(testFraction: testFraction, validationFraction: validationFraction, seed: seed)
        let cache = try FeatureCache.load(corpus: corpus, config: frontEnd, threads: threads)
        return prepare(corpus: corpus, cache: cache, split: split, frontEnd: frontEnd)
    }

    /// A given split over already extracted features: normalisation fitted on `split.train`.
    public static func prepare(corpus: Corpus, cache: FeatureCache, split: DataSplit, frontEnd: FrontEndConfig) -> PreparedCorpus {
        let norm = FeatureNormalisation.fit(features: cache.features, clips: split.train)
        return PreparedCorpus(corpus: corpus, split: split, normalisation: norm,
                              features: cache.features.map(norm.apply), frontEnd: frontEnd)
    }

    /// Grouped k-fold cross-validation splits: fold f is the test part; the other folds'
    /// groups are split again into train and validation (`validationFraction` of their
    /// groups, stratified), so that selection never sees the fold being tested.
    public static func crossValidationSplits(corpus: Corpus, folds k: Int, validationFraction: Double = 0.25,
                                             seed: UInt64) -> [DataSplit] {
        if corpus.clips.contains(where: \.trainOnly) {
            // The folds of the scored clips alone, each with the train-only clips of its other families.
            let scored = corpus.clips.indices.filter { !corpus.clips[$0].trainOnly }
            let sub = Corpus(classes: corpus.classes, clips: scored.map { corpus.clips[$0] }, rules: corpus.rules)
            return crossValidationSplits(corpus: sub, folds: k, validationFraction: validationFraction, seed: seed).map { s in
                withTrainOnlyClips(corpus) { _, _ in s }
            }
        }
        let labels = corpus.clips.map(\.label), groups = corpus.clips.map(\.group)
        let folds = GroupedSplitter.kFold(labels: labels, groups: groups, classCount: corpus.classes.count, k: k, seed: seed)
        return folds.indices.map { f in
            let rest = folds.indices.filter { $0 != f }.flatMap { folds[$0] }.sorted()
            let inner = GroupedSplitter.split(
                labels: rest.map { labels[$0] }, groups: rest.map { groups[$0] }, classCount: corpus.classes.count,
                testFraction: 0, validationFraction: validationFraction, seed: seed &+ UInt64(f))
            return DataSplit(train: inner.train.map { rest[$0] }, validation: inner.validation.map { rest[$0] },
                             test: folds[f].sorted())
        }
    }

    /// Trains one network on `data`'s training part, selecting on its validation part.
    public static func train(
        data: PreparedCorpus, configuration: ModelConfiguration, options: TrainingOptions,
        batchDone: (Int, Int, Int, Double) -> Void = { _, _, _, _ in },
        epochDone: (EpochSummary) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) throws -> (network: CryNetwork<Float>, result: TrainingResult<CryNetworkTrainable>) {
        let network = try CryNetwork<Float>.random(configuration: configuration, seed: options.seed)
        let trainer = Trainer(
            model: CryNetworkTrainable(network: network, pooling: options.pooling), features: data.features, labels: data.labels,
            classes: data.corpus.classes, trainClips: data.split.train, validationClips: data.split.validation,
            options: options)
        let result = trainer.run(batchDone: batchDone, epochDone: epochDone, shouldStop: shouldStop)
        return (result.bestModel.network, result)
    }

    /// The model file: weights, normalisation, and metadata extras that make the run
    /// reproducible and let `evaluate --split test` find the held-out groups.
    public static func modelFile(
        network: CryNetwork<Float>, data: PreparedCorpus, result: TrainingResult<CryNetworkTrainable>,
        options: TrainingOptions, commandLine: String, directories: [String]
    ) -> CryModelFile {
        func json(_ strings: [String]) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: strings, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
            return String(decoding: data, as: UTF8.self)
        }
        let rules = data.corpus.rules.keys.sorted().map { "\($0)=\(data.corpus.rules[$0]!.rawValue)" }
        var extras: [String: String] = [
            "command_line": commandLine,
            "test_groups": json(data.groups(of: data.split.test)),
            "validation_groups": json(data.groups(of: data.split.validation)),
            "training_data": json(directories),
            "grouping_rules": json(rules),
            "seed": String(options.seed),
            "best_epoch": String(result.bestEpoch),
            "epochs_run": String(result.history.count),
            "trained_clips": String(data.split.train.count),
            "training_class_counts": json(classCounts(data.split.train.map { data.corpus.clips[$0].label }, data.corpus.classes.count).map(String.init)),
            "trained_with": "crymodel train (CryTraining)",
        ]
        if options.pooling != .lastFrame { extras["pooling"] = options.pooling.rawValue }
        if let v = result.bestValidation {
            extras["validation_uar"] = formatFixed(v.uar, 4)
            extras["validation_macro_f1"] = formatFixed(v.macroF1, 4)
        }
        if result.interrupted { extras["interrupted"] = "true" }
        return CryModelFile(network: network, featureMean: data.normalisation.mean,
                            featureStd: data.normalisation.std, extras: extras)
    }

    static func classCounts(_ labels: [Int], _ k: Int) -> [Int] {
        var c = [Int](repeating: 0, count: k)
        for y in labels { c[y] += 1 }
        return c
    }

    /// Training clips per class recorded by `modelFile` (`training_class_counts`), nil when absent.
    public static func trainingClassCounts(of model: CryModelFile) -> [Int]? {
        guard let text = model.extras["training_class_counts"],
              let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else { return nil }
        let counts = list.compactMap { Int($0) }
        return counts.count == list.count ? counts : nil
    }

    /// The decision rule the model was trained for (`pooling` extra; absent: the last frame).
    public static func pooling(of model: CryModelFile) -> ClipPooling {
        model.extras["pooling"].flatMap(ClipPooling.init(rawValue:)) ?? .lastFrame
    }

    /// The held-out test groups recorded by `modelFile`, or nil when the file has none.
    public static func testGroups(of model: CryModelFile) -> Set<String>? {
        guard let text = model.extras["test_groups"],
              let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else { return nil }
        return Set(list)
    }
}
