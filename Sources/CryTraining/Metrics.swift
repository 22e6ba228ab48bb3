/// counts[actual][predicted] over a set of clips.
public struct ConfusionMatrix: Sendable, Equatable, Codable {
    public var classCount: Int
    public var counts: [[Int]]

    public init(classCount: Int) {
        self.classCount = classCount
        counts = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
    }

    public init(actual: [Int], predicted: [Int], classCount: Int) {
        self.init(classCount: classCount)
        for (a, p) in zip(actual, predicted) { add(actual: a, predicted: p) }
    }

    public mutating func add(actual: Int, predicted: Int) {
        counts[actual][predicted] += 1
    }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    /// Clips per actual class (row sums).
    public var support: [Int] { counts.map { $0.reduce(0, +) } }
    /// Clips per predicted class (column sums).
    public var predictedCounts: [Int] {
        (0..<classCount).map { p in counts.reduce(0) { $0 + $1[p] } }
    }
}

/// One class's figures.
public struct ClassScores: Sendable, Equatable, Codable {
    public var recall: Double
    public var precision: Double
    public var f1: Double
    /// Clips of this class in the reference (the support).
    public var count: Int
}

/// Per-class recall, precision and F1, their unweighted averages, UAR and macro-F1.
///
///     recall_c    = TP_c / (TP_c + FN_c)                  0 when the class has no clips
///     precision_c = TP_c / (TP_c + FP_c)                  0 when nothing was predicted as c
///     F1_c        = 2 P_c R_c / (P_c + R_c)               0 when P_c + R_c = 0
///     UAR         = mean of recall_c   over classes with at least one clip
///     macro-F1    = mean of F1_c       over the same classes
///
/// Conventions: a class with clips but no predictions has precision 0 (not undefined), so
/// a model that never says "burping" is charged for it in macro-F1. A class with no clips in
/// the reference is listed but left out of every average (its recall is undefined).
/// The "average" row holds the unweighted means of recall, precision and F1 over the
/// averaged classes, and the total clip count; its recall is the UAR. Macro-F1 is the mean
/// of per-class F1 (not the F1 of mean precision and mean recall).
public struct ClassificationReport: Sendable, Equatable, Codable {
    public var classes: [String]
    public var perClass: [ClassScores]
    public var average: ClassScores
    public var uar: Double
    public var macroF1: Double
    public var accuracy: Double
    public var confusion: ConfusionMatrix

    public init(confusion: ConfusionMatrix, classes: [String]) {
        precondition(classes.count == confusion.classCount)
        self.classes = classes
        self.confusion = confusion
        let support = confusion.support
        let predicted = confusion.predictedCounts
        let scores: [ClassScores] = (0..<classes.count).map { c in
            let tp = Double(confusion.counts[c][c])
            let recall = support[c] > 0 ? tp / Double(support[c]) : 0
            let precision = predicted[c] > 0 ? tp / Double(predicted[c]) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassScores(recall: recall, precision: precision, f1: f1, count: support[c])
        }
        perClass = scores
        let present = (0..<classes.count).filter { support[$0] > 0 }
        func mean(_ value: (ClassScores) -> Double) -> Double {
            present.isEmpty ? 0 : present.map { value(scores[$0]) }.reduce(0, +) / Double(present.count)
        }
        let uar = mean(\.recall), macroF1 = mean(\.f1)
        self.uar = uar
        self.macroF1 = macroF1
        average = ClassScores(recall: uar, precision: mean(\.precision), f1: macroF1, count: confusion.total)
        let correct = (0..<classes.count).reduce(0) { $0 + confusion.counts[$1][$1] }
        accuracy = confusion.total > 0 ? Double(correct) / Double(confusion.total) : 0
    }

    public init(actual: [Int], predicted: [Int], classes: [String]) {
        self.init(confusion: ConfusionMatrix(actual: actual, predicted: predicted, classCount: classes.count),
                  classes: classes)
    }

    /// A plain-text table: per-class rows, the average row, UAR, macro-F1, confusion matrix.
    public func formattedTable() -> String {
        let width = max(10, (classes.map(\.count).max() ?? 0) + 2)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        func f(_ x: Double) -> String { lpad(formatFixed(x, 3), 9) }
        var out = pad("class", width) + lpad("recall", 9) + lpad("precision", 10) + lpad("F1", 9) + lpad("clips", 7) + "\n"
        for (c, s) in perClass.enumerated() {
            out += pad(classes[c], width) + f(s.recall) + " " + f(s.precision) + f(s.f1) + lpad("\(s.count)", 7) + "\n"
        }
        out += pad("average", width) + f(average.recall) + " " + f(average.precision) + f(average.f1)
            + lpad("\(average.count)", 7) + "\n"
        out += "UAR \(formatFixed(uar, 3))  macro-F1 \(formatFixed(macroF1, 3))  (accuracy \(formatFixed(accuracy, 3)), chance UAR \(formatFixed(1 / Double(max(1, classes.count)), 3)))\n"
        out += "confusion (rows actual, columns predicted):\n"
        let cw = max(6, (classes.map(\.count).max() ?? 0) + 1)
        out += pad("", width) + classes.map { lpad(String($0.prefix(cw - 1)), cw) }.joined() + "\n"
        for (c, row) in confusion.counts.enumerated() {
            out += pad(classes[c], width) + row.map { lpad("\($0)", cw) }.joined() + "\n"
        }
        return out
    }
}

/// `x` with `digits` decimals, without Foundation's locale-dependent formatting.
public func formatFixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = x < 0
    let scaled = Int64((abs(x) * scale).rounded())
    let whole = scaled / Int64(scale)
    var frac = String(scaled % Int64(scale))
    while frac.count < digits { frac = "0" + frac }
    let body = digits > 0 ? "\(whole).\(frac)" : "\(whole)"
    return negative && scaled != 0 ? "-" + body : body
}
