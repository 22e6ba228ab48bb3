import CryModel
import Foundation
import Testing
@testable import CryTraining

@Suite struct PipelineTests {
    @Test func causeCorpusUsesTheModelsClassOrder() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent (a fresh clone has no corpus)")
            return
        }
        let corpus = try TrainingPipeline.loadCorpus(task: .cause, directories: [data + "/donateacry"])
        #expect(corpus.classes == ModelConfiguration.causeClasses)
    }
}

@Suite struct CryNetworkTrainableTests {
    private func tinyNetwork(cell: CellKind, depth: Int? = nil) throws -> CryNetwork<Float> {
        let config = ModelConfiguration(classes: ["a", "b", "c"], cell: cell, depth: depth, hidden: [6, 5], dense: [4], inputSize: 3)
        return try CryNetwork<Float>.random(configuration: config, seed: 9)
    }

    @Test func adapterAccumulatesTheModelsGradient() throws {
        let network = try tinyNetwork(cell: .attgate, depth: 2)
        var rng = SeededGenerator(seed: 4)
        let frames = (0..<(7 * 3)).map { _ in rng.nextGaussian() }
        let (loss, reference) = network.lossAndGradients(frames: frames, frameCount: 7, target: 2)
        var adapter = CryNetworkTrainable(network: network)
        var g = [Float](repeating: 1, count: adapter.parameterCount)   // accumulates onto what is there
        let l = frames.withUnsafeBufferPointer { x in
            g.withUnsafeMutableBufferPointer { adapter.accumulateGradient(sequence: x, frameCount: 7, label: 2, into: $0) }
        }
        #expect(abs(l - loss) < 1e-5)
        for i in g.indices { #expect(abs(g[i] - 1 - reference.values[i]) < 1e-5) }
        // Matrices are decayed, biases are not.
        let mask = adapter.decayMask
        for t in network.layout.tensors {
            #expect(mask[t.offset] == (t.isMatrix ? 1 : 0), "\(t.name)")
        }
    }

    /// The whole trainer on the real network learns a toy problem (class c raises input c).
    @Test func trainerFitsASmallRecurrentNetwork() throws {
        var rng = SeededGenerator(seed: 2)
        var features: [ClipFeatures] = [], labels: [Int] = []
        for i in 0..<36 {
            let c = i % 3, n = 20 + rng.nextInt(in: 0...10)
            var v = [Float](repeating: 0, count: n * 3)
            for t in 0..<n { for j in 0..<3 { v[t * 3 + j] = 0.5 * rng.nextGaussian() + (j == c ? 1 : 0) } }
            features.append(ClipFeatures(frameCount: n, featureCount: 3, values: v))
            labels.append(c)
        }
        var options = TrainingOptions()
        options.epochs = 25
        options.batchSize = 12
        options.learningRate = 0.02
        options.minimumCropFrames = 10
        options.patience = 0
        let trainer = Trainer(model: CryNetworkTrainable(network: try tinyNetwork(cell: .gru)), features: features,
                              labels: labels, classes: ["a", "b", "c"], trainClips: Array(0..<24),
                              validationClips: Array(24..<36), options: options)
        let result = trainer.run()
        #expect(result.bestValidation?.uar == 1.0)
        #expect(result.history.last!.meanLoss < result.history.first!.meanLoss)
    }
}

/// `train --all-groups`: no validation part, so no early stopping and no selection.
@Suite struct TrainingWithoutValidationTests {
    @Test func runsEveryEpochAndKeepsTheLastModel() throws {
        var rng = SeededGenerator(seed: 5)
        var features: [ClipFeatures] = [], labels: [Int] = []
        for i in 0..<12 {
            let n = 15
            let v = (0..<(n * 3)).map { _ in rng.nextGaussian() + Float(i % 2) }
            features.append(ClipFeatures(frameCount: n, featureCount: 3, values: v))
            labels.append(i % 2)
        }
        var options = TrainingOptions()
        options.epochs = 4
        options.batchSize = 6
        options.minimumCropFrames = 10
        options.patience = 1   // would stop after one epoch without improvement if there were a validation part
        let config = ModelConfiguration(classes: ["a", "b"], cell: .lstm, hidden: [4], dense: [], inputSize: 3)
        let trainer = Trainer(model: CryNetworkTrainable(network: try CryNetwork<Float>.random(configuration: config, seed: 2)),
                              features: features, labels: labels, classes: ["a", "b"], trainClips: Array(0..<12),
                              validationClips: [], options: options)
        var printed: [String] = []
        let printer = TrainingProgressPrinter(totalEpochs: 4, isTerminal: false, write: { printed.append($0) })
        let result = trainer.run(epochDone: { printer.epochDone($0) })
        #expect(result.history.count == 4)
        #expect(!result.stoppedEarly)
        #expect(result.bestEpoch == 4)
        #expect(result.bestValidation == nil)
        #expect(result.history.allSatisfy { !$0.hasValidation })
        // The progress line says there is no validation part instead of printing a UAR of 0.
        #expect(printed.count == 4 && printed.allSatisfy { $0.contains("no validation part") && !$0.contains("val UAR") })
    }
}

@Suite struct CrossValidationSelectionTests {
    @Test func picksTheBestMeanUARAndItsMeanBestEpoch() throws {
        let s = try #require(CrossValidationSelection.select(meanUARs: [0.20, 0.31, 0.25],
                                                             bestEpochs: [[3, 4], [5, 8, 6, 9], [20]]))
        #expect(s.index == 1)
        #expect(s.epochs == 7)   // (5 + 8 + 6 + 9) / 4 = 7
    }

    @Test func firstWinsATieAndEpochsAreAtLeastOne() throws {
        let s = try #require(CrossValidationSelection.select(meanUARs: [0.3, 0.3], bestEpochs: [[0, 0], [9]]))
        #expect(s.index == 0 && s.epochs == 1)
        #expect(CrossValidationSelection.select(meanUARs: [], bestEpochs: []) == nil)
        #expect(CrossValidationSelection.select(meanUARs: [0.2], bestEpochs: [[]]) == nil)
    }
}

@Suite struct ModelFileMetadataTests {
    @Test func testGroupsSurviveTheModelFile() throws {
        let config = ModelConfiguration(classes: ["a", "b"], cell: .lstm, hidden: [4], dense: [])
        let network = try CryNetwork<Float>.random(configuration: config, seed: 1)
        let corpus = Corpus(classes: ["a", "b"], clips: [
            Clip(path: "/x/a/1.wav", label: 0, group: "x:g1"), Clip(path: "/x/b/2.wav", label: 1, group: "x:g2"),
            Clip(path: "/x/b/3.wav", label: 1, group: "x:g/3"),
        ])
        let data = PreparedCorpus(corpus: corpus, split: DataSplit(train: [0], validation: [1], test: [2]),
                                  normalisation: FeatureNormalisation(mean: [Float](repeating: 0, count: 32),
                                                                     std: [Float](repeating: 2, count: 32)),
                                  features: [], frontEnd: .standard)
        let result = TrainingResult(bestModel: CryNetworkTrainable(network: network), bestEpoch: 3, bestValidation: nil,
                                    history: [], interrupted: true, stoppedEarly: false)
        var options = TrainingOptions()
        options.seed = 77
        let file = TrainingPipeline.modelFile(network: network, data: data, result: result, options: options,
                                              commandLine: "crymodel train --seed 77", directories: ["/x"])
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try file.write(to: dir + "/m.cry")
        let loaded = try CryModelFile.load(path: dir + "/m.cry")
        #expect(TrainingPipeline.testGroups(of: loaded) == ["x:g/3"])
        #expect(loaded.extras["command_line"] == "crymodel train --seed 77")
        #expect(loaded.extras["seed"] == "77")
        #expect(loaded.extras["interrupted"] == "true")
        #expect(loaded.featureStd == [Float](repeating: 2, count: 32))
    }
}
