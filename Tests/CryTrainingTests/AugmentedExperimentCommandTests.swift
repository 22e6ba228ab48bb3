import Foundation
import Testing
@testable import CryTraining

/// `crymodel experiment --augment ... --pooling mean` end to end on a generated corpus.
@Suite struct AugmentedExperimentCommandTests {
    @Test func augmentedCopiesTrainButAreNeverScored() throws {
        let tool = try EvaluateCommandTests.crymodel()
        guard SoxAugmenter.soxAvailable() else {
            print("skipped: sox is not installed (Debian package sox)")
            return
        }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = dir + "/corpus"
        var n = 0
        for (c, cls) in ["hungry", "tired"].enumerated() {
            for family in 0..<4 {
                try EvaluateCommandTests.writeTone("\(corpus)/\(cls)/family\(c)\(family)-clip.wav",
                                                   hz: 400 + 300 * Double(c) + 20 * Double(family), seconds: 1.2, seed: UInt64(n))
                n += 1
            }
        }
        let r = try EvaluateCommandTests.run(tool, [
            "experiment", "--data", corpus, "--models", "lstm", "--folds", "2", "--seeds", "1", "--epochs", "1",
            "--hidden", "4", "--dense", "", "--min-crop", "0.5", "--threads", "1",
            "--augment", "voice,codec", "--augment-copies", "2", "--augment-dir", dir + "/aug", "--pooling", "mean",
            "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("augment: 2 copies (codec+voice"), "\(r.err)")
        #expect(r.out.contains("from the mean of the frames' log-posteriors"))
        #expect(r.out.contains("--augment voice,codec --augment-copies 2 --augment-seed 1") && r.out.contains("--pooling mean"),
                "the printed train command reproduces the options: \(r.out)")
        let copies = try FileManager.default.subpathsOfDirectory(atPath: dir + "/aug").filter { $0.hasSuffix(".wav") }
        #expect(copies.count == 2 * n)
        let table = try PredictionTable(text: try String(contentsOfFile: dir + "/out/predictions/LSTM-seed1.tsv", encoding: .utf8))
        #expect(table.rows.count == n, "every real clip scored once, no copy scored")
        #expect(table.rows.allSatisfy { $0.file.hasPrefix(corpus) && !$0.file.contains(".aug") })

        let bad = try EvaluateCommandTests.run(tool, ["experiment", "--data", corpus, "--augment", "voice,echo"])
        #expect(bad.status == 2 && bad.err.contains("--augment: unknown kind 'echo'"), "\(bad.err)")
        let detect = try EvaluateCommandTests.run(tool, ["train", "--task", "detect", "--data", corpus, "--augment", "voice", "--out", dir + "/m"])
        #expect(detect.status == 2 && detect.err.contains("--augment perturbs the cause corpus's cries"), "\(detect.err)")
        let badPooling = try EvaluateCommandTests.run(tool, ["train", "--data", corpus, "--pooling", "max", "--out", dir + "/m"])
        #expect(badPooling.status == 2 && badPooling.err.contains("--pooling must be last or mean"), "\(badPooling.err)")
    }
}
