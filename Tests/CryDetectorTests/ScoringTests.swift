import Testing
@testable import CryDetector

@Suite struct ScoringTests {
    // Recording of 100 s. Cries: [10, 20] hungry, [40, 45] tired, [70, 80] hungry.
    let labels = [LabelledCry(start: 10, end: 20, cause: "hungry"),
                  LabelledCry(start: 40, end: 45, cause: "tired"),
                  LabelledCry(start: 70, end: 80, cause: "hungry")]

    @Test func handComputedFigures() {
        let detected = [
            DetectedEpisode(start: 9.5, end: 21, confirmedAt: 10.4, cause: "hungry"),   // finds cry 1
            DetectedEpisode(start: 30, end: 32, confirmedAt: 30.5, cause: "tired"),     // false alarm
            DetectedEpisode(start: 41, end: 44, confirmedAt: 41.8, cause: "hungry"),    // finds cry 2
            DetectedEpisode(start: 90, end: 91, confirmedAt: 90.3, cause: nil),         // false alarm
        ]
        let s = DetectionScore.score(detected: detected, labels: labels, duration: 100)
        #expect(s.found == 2 && s.cries == 3)
        #expect(abs(s.recall - 2.0 / 3.0) < 1e-12)
        #expect(s.falseAlarms == 2)
        #expect(abs(s.falseAlarmsPerHour - 72) < 1e-9)            // 2 per 100 s
        #expect(s.onsetLatencies.count == 2)
        #expect(abs(s.latencyMedian - 1.1) < 1e-9)                 // (0.4 + 1.8) / 2
        #expect(abs(s.latencyP90 - 1.66) < 1e-9)                   // 0.4 + 0.9 * 1.4
        // Cry time 25 s, non-cry 75 s; detected 11.5 + 2 + 3 + 1 = 17.5 s, of which
        // 1.5 + 2 + 0 + 1 = 4.5 s outside the cries.
        #expect(abs(s.nonCrySeconds - 75) < 1e-9)
        #expect(abs(s.nonCrySecondsDetected - 4.5) < 1e-9)
        #expect(abs(s.nonCryShare - 0.06) < 1e-9)
        #expect(abs(s.detectedNonCryShare - 4.5 / 17.5) < 1e-9)
        // Causes: hungry right, tired predicted hungry -> recalls hungry 1, tired 0.
        #expect(s.causeUAR == 0.5)
    }

    @Test func anEpisodeSpanningTwoCriesFindsBothAndOverlapsAreNotDoubleCounted() {
        let detected = [DetectedEpisode(start: 15, end: 42, confirmedAt: 16),
                        DetectedEpisode(start: 16, end: 18, confirmedAt: 17)]
        let s = DetectionScore.score(detected: detected, labels: labels, duration: 100)
        #expect(s.found == 2 && s.falseAlarms == 0)
        #expect(s.onsetLatencies == [6, -24])   // the second cry's episode was confirmed before it
        #expect(abs(s.detectedSeconds - 27) < 1e-9)
        #expect(abs(s.nonCrySecondsDetected - 20) < 1e-9)       // 20..40
        #expect(s.causeUAR == nil)
    }

    @Test func touchingIsNotOverlapping() {
        let s = DetectionScore.score(detected: [DetectedEpisode(start: 20, end: 25, confirmedAt: 21)],
                                     labels: labels, duration: 100)
        #expect(s.found == 0 && s.falseAlarms == 1)
        #expect(s.latencyMedian.isNaN)
    }

    @Test func quantiles() {
        #expect(DetectionScore.quantile([3, 1, 2], 0.5) == 2)
        #expect(DetectionScore.quantile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(abs(DetectionScore.quantile([0, 10], 0.9) - 9) < 1e-12)
        #expect(DetectionScore.quantile([5], 0.9) == 5)
    }

    @Test func labelFilesRoundTripAndBadLinesAreNamed() throws {
        let text = "start_s\tend_s\tcause\n1.5\t3.25\thungry\n\n10\t12\ttired\n"
        let parsed = try LabelFile.parse(text, path: "l.tsv")
        #expect(parsed == [LabelledCry(start: 1.5, end: 3.25, cause: "hungry"), LabelledCry(start: 10, end: 12, cause: "tired")])
        #expect(try LabelFile.parse(LabelFile.format(parsed), path: "x") == parsed)
        #expect(LabelFile.fmt(0.005) == "0.005" && LabelFile.fmt(12.34) == "12.340")
        do {
            _ = try LabelFile.parse("1\t2\tx\n3\tfoo\ty\n", path: "bad.tsv")
            Issue.record("no error")
        } catch let e as LabelFile.ParseError {
            #expect(e.description.hasPrefix("bad.tsv:2:"))
        }
        #expect(throws: LabelFile.ParseError.self) { try LabelFile.parse("5\t4\tx\n", path: "b") }
    }
}

@Suite struct FalseAlarmSourceTests {
    let placements = """
        start_s\tend_s\tkind\tcause\tlevel_dbfs\tclips
        10.000\t15.000\tcry\thungry\t-20.0\ta.wav,b.wav
        30.000\t35.000\tother\tdog_bark\t-25.5\td1.wav
        50.000\t55.000\tother\tdog_bark\t-30.0\td2.wav
        70.000\t75.000\tother\tbaby_laugh\t-18.0\tl1.wav

        """

    @Test func parsesThePlacementsOfANight() throws {
        let p = try PlacementFile.parse(placements, path: "placements.tsv")
        #expect(p.count == 4)
        #expect(p[0] == NightComposer.Placement(start: 10, end: 15, isCry: true, cause: "hungry", levelDB: -20, clips: ["a.wav", "b.wav"]))
        #expect(!p[3].isCry && p[3].cause == "baby_laugh" && p[3].levelDB == -18)
    }

    @Test func badLinesNameTheFileAndLine() {
        for bad in ["1\t2\tother\tdog\n", "5\t2\tother\tdog\t-20\tx\n", "1\t2\tmaybe\tdog\t-20\tx\n", "1\t2\tother\t\t-20\tx\n"] {
            #expect(throws: LabelFile.ParseError.self) { try PlacementFile.parse("start_s\n" + bad, path: "p.tsv") }
            do { _ = try PlacementFile.parse("start_s\n" + bad, path: "p.tsv") } catch {
                #expect("\(error)".hasPrefix("p.tsv:2: "))
            }
        }
    }

    @Test func countsDistractorsOverlappedByFalseAlarmsOnly() throws {
        let p = try PlacementFile.parse(placements, path: "placements.tsv")
        let labels = [LabelledCry(start: 10, end: 15, cause: "hungry")]
        let detected = [
            DetectedEpisode(start: 9, end: 16, confirmedAt: 10.5),      // the cry: not a false alarm
            DetectedEpisode(start: 31, end: 32, confirmedAt: 31.5),     // first dog
            DetectedEpisode(start: 74, end: 80, confirmedAt: 74.5),     // laugh
        ]
        let sources = FalseAlarmSource.count(detected: detected, labels: labels, placements: p)
        #expect(sources == [FalseAlarmSource(cause: "baby_laugh", placed: 1, alarmed: 1),
                            FalseAlarmSource(cause: "dog_bark", placed: 2, alarmed: 1)])
        // An episode that overlaps a cry is never a false alarm, even where it also covers a distractor.
        let long = [DetectedEpisode(start: 10, end: 60, confirmedAt: 10.5)]
        #expect(FalseAlarmSource.count(detected: long, labels: labels, placements: p).allSatisfy { $0.alarmed == 0 })
    }
}
