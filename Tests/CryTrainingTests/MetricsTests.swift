import Testing
@testable import CryTraining

@Suite struct MetricsTests {
    /// 3 classes. actual: a a a a b b c c ; predicted: a a b c b a a c
    ///   confusion rows a: [2,1,1]  b: [1,1,0]  c: [1,0,1]
    ///   recall  a 2/4 = 0.5, b 1/2 = 0.5, c 1/2 = 0.5           -> UAR 0.5
    ///   precision a 2/4 = 0.5, b 1/2 = 0.5, c 1/2 = 0.5
    ///   F1 all 0.5 -> macro-F1 0.5, accuracy 4/8
    @Test func handComputedThreeClassExample() {
        let r = ClassificationReport(actual: [0, 0, 0, 0, 1, 1, 2, 2], predicted: [0, 0, 1, 2, 1, 0, 0, 2],
                                     classes: ["a", "b", "c"])
        #expect(r.confusion.counts == [[2, 1, 1], [1, 1, 0], [1, 0, 1]])
        #expect(r.perClass.map(\.recall) == [0.5, 0.5, 0.5])
        #expect(r.perClass.map(\.precision) == [0.5, 0.5, 0.5])
        #expect(r.perClass.map(\.count) == [4, 2, 2])
        #expect(r.uar == 0.5 && r.macroF1 == 0.5 && r.accuracy == 0.5)
        #expect(r.average.count == 8)
    }

    /// Everything predicted "hungry" (class 0): 8 hungry, 2 tired.
    ///   recall hungry 1, tired 0 -> UAR 0.5 although accuracy is 0.8
    ///   precision hungry 8/10 = 0.8, tired: no predictions -> 0 by convention
    ///   F1 hungry 2*0.8*1/1.8 = 0.888..., tired 0 -> macro-F1 0.444...
    @Test func classWithoutPredictionsHasPrecisionZero() {
        let r = ClassificationReport(actual: Array(repeating: 0, count: 8) + [1, 1],
                                     predicted: Array(repeating: 0, count: 10), classes: ["hungry", "tired"])
        #expect(r.perClass[1].precision == 0)
        #expect(r.perClass[1].f1 == 0)
        #expect(r.accuracy == 0.8)
        #expect(r.uar == 0.5)
        #expect(abs(r.perClass[0].f1 - 16.0 / 18.0) < 1e-12)
        #expect(abs(r.macroF1 - 8.0 / 18.0) < 1e-12)
        #expect(abs(r.average.precision - 0.4) < 1e-12)
    }

    /// A class with no clips in the reference is listed but left out of the averages.
    ///   actual: a a b ; predicted: a c b  -> recall a 0.5, b 1 ; c has no clips
    ///   UAR = (0.5 + 1) / 2 = 0.75 ; F1 a = 2*1*0.5/1.5 = 2/3, b = 1 -> macro-F1 5/6
    @Test func classWithoutClipsIsLeftOutOfAverages() {
        let r = ClassificationReport(actual: [0, 0, 1], predicted: [0, 2, 1], classes: ["a", "b", "c"])
        #expect(r.perClass[2].count == 0 && r.perClass[2].recall == 0 && r.perClass[2].precision == 0)
        #expect(r.uar == 0.75)
        #expect(abs(r.macroF1 - 5.0 / 6.0) < 1e-12)
        #expect(r.formattedTable().contains("average"))
    }

    @Test func emptyReportIsZeroNotNaN() {
        let r = ClassificationReport(actual: [], predicted: [], classes: ["a", "b"])
        #expect(r.uar == 0 && r.macroF1 == 0 && r.accuracy == 0)
    }

    @Test func fixedFormatting() {
        #expect(formatFixed(0.5, 3) == "0.500")
        #expect(formatFixed(0.12345, 3) == "0.123")
        #expect(formatFixed(-0.0004, 3) == "0.000")
        #expect(formatFixed(12.5, 1) == "12.5")
    }
}
