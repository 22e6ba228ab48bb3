import Testing
import Foundation
@testable import CryTraining

/// `--train-only` corpora (issue 12): Donate-a-Cry's raw uploads next to the cleaned set.
@Suite struct TrainOnlyCorpusTests {
    static func uuid(_ n: Int) -> String { String(format: "%08x-aaaa-bbbb-cccc-%012x", n, n) }

    @Test func extraClipsGroupWithTheCleanedSetAndOnlyEverTrain() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let causes = ["hungry", "tired", "belly_pain", "discomfort", "burping"]
        var cleaned: [String] = []
        for (c, cause) in causes.enumerated() {
            for f in 0..<6 { cleaned.append("\(cause)/\(Self.uuid(c * 10 + f))-1-1.7-f-04-xx.wav") }
        }
        try touch(root + "/donateacry", cleaned)
        // Extra uploads: family 0 (hungry in the cleaned set) again, in upper case; a new
        // family; cold_hot (counts as discomfort); lonely (not a class here: dropped); a silent file.
        let shared = Self.uuid(0).uppercased()
        try touch(root + "/donateacry_extra", [
            "tired/\(shared)-2-1.7-f-04-ti.wav",
            "hungry/\(Self.uuid(900))-1-1.7-f-04-hu.wav",
            "cold_hot/\(Self.uuid(901))-1-1.7-f-04-ch.wav",
            "lonely/\(Self.uuid(902))-1-1.7-f-04-lo.wav",
            "hungry/\(Self.uuid(903))-1-1.7-f-04-hu.wav",
        ])
        try """
            file,group,tag,class,duration_s,active_fraction,rms_dbfs,peak_dbfs,flags,source
            hungry/\(Self.uuid(903))-1-1.7-f-04-hu.wav,x,hu,hungry,7.0,0.01,-60,-40,silent,x
            hungry/\(Self.uuid(900))-1-1.7-f-04-hu.wav,x,hu,hungry,7.0,0.9,-20,-3,clipped,x
            """.write(toFile: root + "/donateacry_extra/manifest.csv", atomically: true, encoding: .utf8)

        let corpus = try TrainingPipeline.loadCorpus(task: .cause, directories: [root + "/donateacry"],
                                                     trainOnly: [root + "/donateacry_extra"])
        #expect(corpus.classes == causes)
        let extra = corpus.clips.filter(\.trainOnly)
        #expect(extra.count == 3, "silent file and lonely dropped: \(extra.map(\.fileName))")
        #expect(extra.contains { $0.fileName.contains("-ch.wav") && corpus.classes[$0.label] == "discomfort" })
        // One family across both folders.
        let family0 = "donateacry:" + Self.uuid(0)
        #expect(corpus.clips.filter { $0.group == family0 }.map(\.trainOnly).sorted { !$0 && $1 } == [false, true])

        for split in TrainingPipeline.crossValidationSplits(corpus: corpus, folds: 3, seed: 4) {
            #expect((split.test + split.validation).allSatisfy { !corpus.clips[$0].trainOnly })
            let held = Set((split.test + split.validation).map { corpus.clips[$0].group })
            #expect(split.train.allSatisfy { !held.contains(corpus.clips[$0].group) })
            // Every train-only clip of a family not held out trains.
            let trained = Set(split.train)
            #expect(corpus.clips.indices.filter { corpus.clips[$0].trainOnly && !held.contains(corpus.clips[$0].group) }
                .allSatisfy { trained.contains($0) })
        }
        // The folds of the scored clips are those of the cleaned set alone.
        let alone = try TrainingPipeline.loadCorpus(task: .cause, directories: [root + "/donateacry"])
        let withExtra = TrainingPipeline.crossValidationSplits(corpus: corpus, folds: 3, seed: 4).map { $0.test.map { corpus.clips[$0].path } }
        let without = TrainingPipeline.crossValidationSplits(corpus: alone, folds: 3, seed: 4).map { $0.test.map { alone.clips[$0].path } }
        #expect(withExtra == without)
    }
}
