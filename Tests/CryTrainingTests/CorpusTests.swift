import Foundation
import Testing
@testable import CryTraining

@Suite struct GroupingRuleTests {
    @Test func donateACryUsesTheInstallID() {
        let name = "549a46d8-9c84-430e-ade8-97eae2bef787-1430130772174-1.7-m-48-bp.wav"
        #expect(GroupingRule.donateACry.group(forFileName: name) == "549a46d8-9c84-430e-ade8-97eae2bef787")
        // Upper-case ids from the iOS app are the same install as their lower-case form.
        let upper = "643D64AD-B711-469A-AF69-55C0D5D3E30F-1430138495-1.0-m-72-bp.wav"
        #expect(GroupingRule.donateACry.group(forFileName: upper) == "643d64ad-b711-469a-af69-55c0d5d3e30f")
    }

    @Test func escUsesTheFreesoundID() {
        #expect(GroupingRule.esc.group(forFileName: "1-211527-A.wav") == "211527")
        #expect(GroupingRule.esc.group(forFileName: "1-211527-B.wav") == "211527")
        #expect(GroupingRule.esc.group(forFileName: "3-187207-A.wav") == "187207")
    }

    @Test func sourceRecordingStripsTheCutIndex() {
        #expect(GroupingRule.sourceRecording.group(forFileName: "Louise_01.m4a_10.wav") == "Louise_01")
        #expect(GroupingRule.sourceRecording.group(forFileName: "laugh_2.m4a_7.wav") == "laugh_2")
        #expect(GroupingRule.sourceRecording.group(forFileName: "kitchen_3.wav") == "kitchen")
    }

    @Test func fallbackIsTheWholeName() {
        #expect(GroupingRule.fileName.group(forFileName: "anything-at_all.wav") == "anything-at_all")
    }

    @Test func detectsByFolderThenByShape() {
        #expect(GroupingRule.detect(folderName: "donateacry", fileNames: ["x.wav"]) == .donateACry)
        #expect(GroupingRule.detect(folderName: "esc10", fileNames: ["x.wav"]) == .esc)
        #expect(GroupingRule.detect(folderName: "giulbia", fileNames: ["x.wav"]) == .sourceRecording)
        #expect(GroupingRule.detect(folderName: "mine", fileNames: [
            "549a46d8-9c84-430e-ade8-97eae2bef787-1430130772174-1.7-m-48-bp.wav",
        ]) == .donateACry)
        #expect(GroupingRule.detect(folderName: "mine", fileNames: ["1-211527-A.wav", "5-9032-C.wav"]) == .esc)
        #expect(GroupingRule.detect(folderName: "mine", fileNames: ["a.m4a_0.wav", "b_12.wav"]) == .sourceRecording)
        // One odd name is enough to fall back: a rule is picked by shape only if all match.
        #expect(GroupingRule.detect(folderName: "mine", fileNames: ["1-211527-A.wav", "odd.wav"]) == .fileName)
        #expect(GroupingRule.detect(folderName: "mine", fileNames: []) == .fileName)
    }
}

@Suite struct CorpusTests {
    @Test func loadsClassFoldersWithGroupsAndSortedClasses() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try touch(dir, [
            "mine/tired/rec_1.wav", "mine/tired/rec_2.wav", "mine/hungry/other_0.wav",
            "mine/hungry/notes.txt", "mine/.hidden/x_1.wav",
        ])
        let corpus = try Corpus.load(directories: [dir + "/mine"])
        #expect(corpus.classes == ["hungry", "tired"])
        #expect(corpus.clips.map(\.fileName) == ["other_0.wav", "rec_1.wav", "rec_2.wav"])
        #expect(corpus.clips.map(\.label) == [0, 1, 1])
        #expect(corpus.clips.map(\.group) == ["mine:other", "mine:rec", "mine:rec"])
        #expect(corpus.rules[dir + "/mine"] == .sourceRecording)
        #expect(corpus.classCounts == [1, 2])
        #expect(corpus.groupCounts == [1, 1])
    }

    @Test func detectTaskMapsFoldersToCryAndNotCry() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try touch(dir, ["esc10/baby_cry/1-1-A.wav", "esc10/rain/1-2-A.wav", "cries/hungry/a.wav"])
        let corpus = try Corpus.load(directories: [dir + "/esc10", dir + "/cries"], task: .detect)
        #expect(corpus.classes == ["cry", "not_cry"])
        let byName = Dictionary(uniqueKeysWithValues: corpus.clips.map { ($0.fileName, corpus.classes[$0.label]) })
        #expect(byName == ["1-1-A.wav": "cry", "1-2-A.wav": "not_cry", "a.wav": "cry"])
    }

    /// `crymodel detect-set` writes `<class>/<source>/<recording>_<n>.wav`: the source folder
    /// is kept per clip (a flat class folder is its own source), and stratifies the split.
    @Test func sourceFoldersInsideClassFoldersAreRead() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try touch(dir, [
            "train/cry/donateacry/0a983cd2-0078-4698-a048-99ac01eb167a_0.wav",
            "train/other/baby_laugh/laugh_1_0.wav", "train/other/baby_laugh/laugh_1_1.wav",
            "train/other/rain/1-2-A_0.wav", "train/other/loose_3.wav", "train/other/.hidden/x_1.wav",
        ])
        let corpus = try Corpus.load(directories: [dir + "/train"], task: .detect)
        let bySource = corpus.clips.map { "\(corpus.classes[$0.label]) \($0.source) \($0.group)" }
        #expect(bySource == [
            "cry donateacry train:0a983cd2-0078-4698-a048-99ac01eb167a",
            "not_cry baby_laugh train:laugh_1", "not_cry baby_laugh train:laugh_1",
            "not_cry other train:loose", "not_cry rain train:1-2-A",
        ])
        #expect(corpus.clips[0].path == dir + "/train/cry/donateacry/0a983cd2-0078-4698-a048-99ac01eb167a_0.wav")
    }

    @Test func refusesMissingDirectoriesAndForeignClasses() throws {
        #expect(throws: CorpusError.self) { try Corpus.load(directories: ["/nonexistent/corpus"]) }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try touch(dir, ["c/sleepy/a.wav"])
        let error = #expect(throws: CorpusError.self) {
            try Corpus.load(directories: [dir + "/c"], classes: ["hungry"])
        }
        #expect(error?.description.contains("sleepy") == true)
    }

    @Test func donateACryCorpusHasTheDocumentedShape() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent (a fresh clone has no corpus)")
            return
        }
        let corpus = try Corpus.load(directories: [data + "/donateacry"])
        #expect(corpus.classes == ["belly_pain", "burping", "discomfort", "hungry", "tired"])
        #expect(corpus.classCounts == [13, 6, 22, 306, 18])
        #expect(corpus.rules.values.first == .donateACry)
        #expect(Set(corpus.clips.map(\.group)).count == 179)
    }
}
