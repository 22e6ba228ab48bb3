import AudioIO
import CryModel
import Foundation
import Testing
@testable import CryTraining

/// Issue 12, item 4: perturbed copies of the training cries (`--augment`) and pooled decisions (`--pooling mean`).
@Suite struct AugmentationTests {
    /// 5 classes x 8 families x 2 clips, as the cause corpus is laid out (names only).
    static func corpus() -> Corpus {
        var clips: [Clip] = []
        for c in 0..<5 {
            for g in 0..<8 {
                for k in 0..<2 {
                    clips.append(Clip(path: "/data/donateacry/c\(c)/fam\(c)-\(g)-\(k).wav", label: c,
                                      group: "donateacry:fam\(c)-\(g)", source: "c\(c)"))
                }
            }
        }
        return Corpus(classes: ["hungry", "tired", "belly_pain", "discomfort", "burping"], clips: clips)
    }

    static func augmented(_ corpus: Corpus, copies: Int) throws -> Corpus {
        try CryAugmentation.addingCopies(to: corpus, copies: copies, threads: 2) { clip, copy in
            "/aug/" + clip.fileName + ".copy\(copy).wav"
        }
    }

    @Test func copiesKeepTheirOriginalsClassAndFamilyAndOnlyEverTrain() throws {
        let plain = Self.corpus()
        let corpus = try Self.augmented(plain, copies: 2)
        let copies = corpus.clips.filter(\.trainOnly)
        #expect(copies.count == 2 * plain.clips.count)
        #expect(Array(corpus.clips.prefix(plain.clips.count)) == plain.clips, "the scored clips are untouched and first")
        for copy in copies {
            let name = (copy.fileName as NSString).deletingPathExtension.replacingOccurrences(of: ".copy0", with: "")
                .replacingOccurrences(of: ".copy1", with: "")
            let original = try #require(plain.clips.first { $0.fileName == name })
            #expect(copy.label == original.label && copy.group == original.group && copy.source == original.source)
        }
        #expect(try CryAugmentation.addingCopies(to: plain, copies: 0) { _, _ in "x" }.clips == plain.clips)
    }

    /// A fold's held-out clips (its test part and its inner validation part) are never
    /// perturbed: no copy is validated or tested, no copy of a held-out family trains, and
    /// the folds of the real clips are the same as without augmentation (paired comparison).
    @Test func augmentationNeverTouchesAFoldsHeldOutClips() throws {
        let plain = Self.corpus()
        let corpus = try Self.augmented(plain, copies: 2)
        for seed: UInt64 in [1, 2, 3] {
            let without = TrainingPipeline.crossValidationSplits(corpus: plain, folds: 5, seed: seed)
            let with = TrainingPipeline.crossValidationSplits(corpus: corpus, folds: 5, seed: seed)
            #expect(with.count == without.count)
            for (w, p) in zip(with, without) {
                #expect(w.test == p.test && w.validation == p.validation, "held-out parts unchanged (seed \(seed))")
                #expect(w.train.filter { !corpus.clips[$0].trainOnly } == p.train)
                #expect((w.test + w.validation).allSatisfy { !corpus.clips[$0].trainOnly })
                let held = Set((w.test + w.validation).map { corpus.clips[$0].group })
                let trainedCopies = w.train.filter { corpus.clips[$0].trainOnly }
                #expect(trainedCopies.allSatisfy { !held.contains(corpus.clips[$0].group) })
                // Every copy of a training family is used.
                let trainGroups = Set(p.train.map { plain.clips[$0].group })
                #expect(trainedCopies.count == corpus.clips.filter { $0.trainOnly && trainGroups.contains($0.group) }.count)
                #expect(!trainedCopies.isEmpty)
            }
        }
        // The single grouped split of `crymodel train` too.
        let split = TrainingPipeline.withTrainOnlyClips(corpus) { labels, groups in
            GroupedSplitter.split(labels: labels, groups: groups, classCount: 5, testFraction: 0.2, validationFraction: 0.2, seed: 7)
        }
        let held = Set((split.test + split.validation).map { corpus.clips[$0].group })
        #expect((split.test + split.validation).allSatisfy { !corpus.clips[$0].trainOnly })
        #expect(split.train.allSatisfy { !corpus.clips[$0].trainOnly || !held.contains(corpus.clips[$0].group) })
    }

    @Test func voiceRecipesDrawPitchAndTempoInTheAskedRanges() {
        var signs: Set<Bool> = []
        for i in 0..<400 {
            let r = CryAugmentation.recipe(kinds: [.voice], fileName: "clip\(i).wav", copy: i % 3, seed: 1, rate: 8000)
            #expect(CryAugmentation.pitchCents.contains(Double(abs(r.cents))), "cents \(r.cents)")
            #expect(CryAugmentation.tempoFactor.contains(r.tempo), "tempo \(r.tempo)")
            #expect(r.effects.prefix(2) == ["pitch", String(r.cents)] && r.effects[2] == "tempo" && !r.codec)
            signs.insert(r.cents > 0)
        }
        #expect(signs == [true, false], "both higher and lower voices")
        let a = CryAugmentation.recipe(kinds: [.voice, .room, .codec], fileName: "x.wav", copy: 0, seed: 1, rate: 8000)
        #expect(a == CryAugmentation.recipe(kinds: [.voice, .room, .codec], fileName: "x.wav", copy: 0, seed: 1, rate: 8000))
        #expect(a != CryAugmentation.recipe(kinds: [.voice, .room, .codec], fileName: "x.wav", copy: 1, seed: 1, rate: 8000))
        #expect(a.codec && a.effects.contains("reverb") && a.effects.contains("highpass"))
    }

    /// Zero crossings per second / 2 of a (near) pure tone.
    static func frequency(_ x: [Float], rate: Int) -> Double {
        // Skip the edges (sox's pitch and tempo windows).
        let part = x[(x.count / 5)..<(x.count * 4 / 5)]
        var crossings = 0
        var previous = part.first ?? 0
        for v in part.dropFirst() {
            if (previous < 0) != (v < 0) { crossings += 1 }
            previous = v
        }
        return Double(crossings) / 2 / (Double(part.count) / Double(rate))
    }

    /// The real sox run: a 400 Hz tone (a baby's F0) comes back at 400 * 2^(cents/1200) Hz,
    /// and its length divided by the tempo factor.
    @Test func voicePerturbationShiftsPitchAndTempoAsAsked() throws {
        guard SoxAugmenter.soxAvailable() else {
            print("skipped: sox is not installed (Debian package sox)")
            return
        }
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rate = 8000
        let tone = (0..<(3 * rate)).map { Float(0.5 * sin(2 * Double.pi * 400 * Double($0) / Double(rate))) }
        try FileManager.default.createDirectory(atPath: root + "/hungry", withIntermediateDirectories: true)
        let checked = try (0..<3).map { i -> Int in
            let path = root + "/hungry/tone\(i).wav"
            try WAVWriter.write(AudioBuffer(samples: tone, sampleRate: rate), to: path)
            let clip = Clip(path: path, label: 0, group: "g\(i)")
            let sox = try SoxAugmenter(kinds: [.voice], seed: 1, directory: root + "/aug")
            let out = try sox.make(clip, copy: 0)
            let recipe = CryAugmentation.recipe(kinds: [.voice], fileName: clip.fileName, copy: 0, seed: 1, rate: rate)
            let copy = try WAVReader.read(path: out)
            #expect(copy.sampleRate == rate)
            let expected = 400 * pow(2, Double(recipe.cents) / 1200)
            let measured = Self.frequency(copy.samples, rate: rate)
            #expect(abs(measured / expected - 1) < 0.02, "pitch \(recipe.cents) cents: \(measured) Hz, expected \(expected)")
            #expect(abs(measured / 400 - 1) > 0.15, "the voice really moved")
            let lengthRatio = Double(copy.samples.count) / Double(tone.count)
            #expect(abs(lengthRatio * recipe.tempo - 1) < 0.03, "tempo \(recipe.tempo): length x\(lengthRatio)")
            // Reused, not redone, on the next run.
            #expect(try sox.make(clip, copy: 0) == out)
            return recipe.cents
        }
        #expect(Set(checked).count == 3)
    }

    @Test func roomAndCodecCopiesKeepRateAndLength() throws {
        guard SoxAugmenter.soxAvailable() else {
            print("skipped: sox is not installed (Debian package sox)")
            return
        }
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rate = 8000
        var rng = SplitMix64(seed: 3)
        let noise = (0..<(2 * rate)).map { _ in Float(rng.nextSymmetric(0.3)) }
        try FileManager.default.createDirectory(atPath: root + "/tired", withIntermediateDirectories: true)
        let path = root + "/tired/noise.wav"
        try WAVWriter.write(AudioBuffer(samples: noise, sampleRate: rate), to: path)
        let sox = try SoxAugmenter(kinds: [.room, .codec], seed: 1, directory: root + "/aug")
        let out = try sox.make(Clip(path: path, label: 1, group: "g"), copy: 0)
        let copy = try WAVReader.read(path: out)
        #expect(copy.sampleRate == rate)
        #expect(copy.samples.count >= noise.count && copy.samples.count < noise.count + rate, "reverb tail at most 1 s")
        #expect(zip(copy.samples, noise).contains { abs($0 - $1) > 0.05 }, "the copy differs from the original")
    }

    /// softmax of the mean of the frames' log-posteriors, by hand.
    @Test func meanLogPoolingIsTheNormalisedGeometricMean() {
        let frames: [Float] = [0.7, 0.2, 0.1,
                               0.1, 0.6, 0.3]
        let p = ClipPooling.meanLogPosteriors(frames, frameCount: 2, classCount: 3)
        let g = [(0.7 * 0.1).squareRoot(), (0.2 * 0.6).squareRoot(), (0.1 * 0.3).squareRoot()]
        let z = g.reduce(0, +)
        for c in 0..<3 { #expect(abs(Double(p[c]) - g[c] / z) < 1e-6) }
    }

    /// With mean pooling the trainer's loss is the mean of every frame's cross-entropy and its
    /// posteriors are the pooled ones; the last-frame model sees only the last frame.
    @Test func pooledTrainableUsesEveryFrame() throws {
        let config = ModelConfiguration(task: .cause, classes: ["a", "b", "c"], cell: .lstm, depth: nil,
                                        hidden: [4], dense: [], frontEnd: .standard)
        let network = try CryNetwork<Float>.random(configuration: config, seed: 5)
        let d = config.frontEnd.featureCount, t = 6
        var rng = SplitMix64(seed: 9)
        let x = (0..<(t * d)).map { _ in Float(rng.nextSymmetric(1)) }
        let trace = network.forward(frames: x, frameCount: t)
        var pooled = CryNetworkTrainable(network: network, pooling: .meanLogProbability)
        var last = CryNetworkTrainable(network: network)
        let p = x.withUnsafeBufferPointer { pooled.posteriors(sequence: $0, frameCount: t) }
        #expect(p == ClipPooling.meanLogPosteriors(trace.posteriors, frameCount: t, classCount: 3))
        #expect(x.withUnsafeBufferPointer { last.posteriors(sequence: $0, frameCount: t) } == Array(trace.lastPosteriors))
        var expectedLoss: Float = 0
        for f in 0..<t { expectedLoss -= log(trace.posteriors(at: f)[trace.posteriors(at: f).startIndex + 1]) / Float(t) }
        let g = UnsafeMutableBufferPointer<Float>.allocate(capacity: network.parameterCount)
        defer { g.deallocate() }
        g.initialize(repeating: 0)
        let loss = x.withUnsafeBufferPointer { pooled.accumulateGradient(sequence: $0, frameCount: t, label: 1, into: g) }
        #expect(abs(loss - expectedLoss) < 1e-4, "loss \(loss), expected \(expectedLoss)")
        #expect(g.contains { $0 != 0 })
    }
}
