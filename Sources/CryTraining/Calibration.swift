import CryModel
import Foundation

/// Fitting `ProbabilityCalibration` on held-out predictions, and the scores of probabilities.
public enum CalibrationFit {
    /// Maximum-likelihood T and b on (posterior, truth) pairs, by Newton's method.
    ///
    /// With a = 1/T and l_nk = log p_nk, the calibrated logits are z_nk = a l_nk + b_k
    /// (b_0 = 0: softmax ignores a common shift). The negative log-likelihood
    ///
    ///     NLL(a, b) = sum_n [ log sum_k exp z_nk - z_n,y_n ]
    ///
    /// is convex in w = (a, b_1..b_K-1): it is a multinomial logistic regression whose
    /// features are phi_nk = (l_nk, e_k). Gradient sum_n sum_k (q_nk - y_nk) phi_nk,
    /// Hessian sum_n [ sum_k q_nk phi_nk phi_nk^T - m_n m_n^T ] with m_n = sum_k q_nk phi_nk;
    /// a small ridge (`ridge`, also on b, so a class with no clip keeps a finite offset)
    /// keeps it invertible, and a halving line search keeps each step downhill. a is kept
    /// at least `minimumScale` (T at most its inverse): a network that carries no
    /// information gets a near-zero a, i.e. the prior.
    public static func fit(posteriors: [[Float]], labels: [Int], classCount k: Int,
                           ridge: Double = 1e-3, minimumScale: Double = 1e-3, source: String = "") -> ProbabilityCalibration {
        precondition(posteriors.count == labels.count)
        let n = posteriors.count
        var counts = [Double](repeating: 0, count: k)
        for y in labels { counts[y] += 1 }
        // The prior: frequencies with one pseudo-clip per class spread over the classes, so
        // a class absent from the fitting set is rare, not impossible.
        let prior = counts.map { ($0 + 1.0 / Double(k)) / (Double(n) + 1) }
        guard n > 0, k > 1 else {
            return ProbabilityCalibration(temperature: 1, logPriorCorrection: [Double](repeating: 0, count: k),
                                          prior: prior, fittedClips: n, source: source)
        }
        let logs = posteriors.map { $0.map { Foundation.log(max(Double($0), ProbabilityCalibration.probabilityFloor)) } }
        let dim = k   // a, b_1..b_{k-1}
        // Start from the prior correction alone: a = 1, b_k = log prior_k - log prior_0.
        var w = [Double](repeating: 0, count: dim)
        w[0] = 1
        for c in 1..<k { w[c] = Foundation.log(prior[c]) - Foundation.log(prior[0]) }

        func logits(_ w: [Double], _ i: Int) -> [Double] {
            (0..<k).map { c in w[0] * logs[i][c] + (c == 0 ? 0 : w[c]) }
        }
        func objective(_ w: [Double]) -> Double {
            var total = 0.0
            for i in 0..<n {
                let z = logits(w, i), m = z.max()!
                total += m + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - m) }) - z[labels[i]]
            }
            for j in 0..<dim { total += 0.5 * ridge * (j == 0 ? (w[0] - 1) * (w[0] - 1) : w[j] * w[j]) }
            return total
        }
        var current = objective(w)
        for _ in 0..<100 {
            var g = [Double](repeating: 0, count: dim)
            var h = [[Double]](repeating: [Double](repeating: 0, count: dim), count: dim)
            for i in 0..<n {
                let z = logits(w, i), m = z.max()!
                var q = z.map { Foundation.exp($0 - m) }
                let s = q.reduce(0, +)
                for c in 0..<k { q[c] /= s }
                // phi_c = (l_c, e_c) in the reduced coordinates.
                var mean = [Double](repeating: 0, count: dim)
                for c in 0..<k {
                    mean[0] += q[c] * logs[i][c]
                    if c > 0 { mean[c] += q[c] }
                }
                for c in 0..<k {
                    let y = c == labels[i] ? 1.0 : 0.0
                    g[0] += (q[c] - y) * logs[i][c]
                    if c > 0 { g[c] += q[c] - y }
                    // sum_c q_c phi_c phi_c^T
                    h[0][0] += q[c] * logs[i][c] * logs[i][c]
                    if c > 0 {
                        h[0][c] += q[c] * logs[i][c]
                        h[c][0] += q[c] * logs[i][c]
                        h[c][c] += q[c]
                    }
                }
                for a in 0..<dim { for b in 0..<dim { h[a][b] -= mean[a] * mean[b] } }
            }
            g[0] += ridge * (w[0] - 1)
            for j in 1..<dim { g[j] += ridge * w[j] }
            for j in 0..<dim { h[j][j] += ridge }
            guard let step = solve(h, g) else { break }
            var t = 1.0, improved = false
            while t > 1e-6 {
                var candidate = (0..<dim).map { w[$0] - t * step[$0] }
                candidate[0] = max(candidate[0], minimumScale)
                let value = objective(candidate)
                if value < current - 1e-12 {
                    w = candidate
                    improved = current - value > 1e-10 * max(1, abs(current))
                    current = value
                    break
                }
                t *= 0.5
            }
            if !improved { break }
        }
        let b = [0] + Array(w[1...])
        // Shift b so that it reads as a correction of the prior (mean zero: any shift is the same softmax).
        let shift = b.reduce(0, +) / Double(k)
        return ProbabilityCalibration(temperature: 1 / w[0], logPriorCorrection: b.map { $0 - shift },
                                      prior: prior, fittedClips: n, source: source)
    }

    /// Solves h x = g (Gaussian elimination with partial pivoting); nil when singular.
    static func solve(_ h: [[Double]], _ g: [Double]) -> [Double]? {
        let n = g.count
        var a = h, b = g
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(a[$0][col]) < abs(a[$1][col]) }), abs(a[pivot][col]) > 1e-14 else { return nil }
            a.swapAt(col, pivot)
            b.swapAt(col, pivot)
            for r in (col + 1)..<n {
                let f = a[r][col] / a[col][col]
                if f == 0 { continue }
                for c in col..<n { a[r][c] -= f * a[col][c] }
                b[r] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = b[r]
            for c in (r + 1)..<n { s -= a[r][c] * x[c] }
            x[r] = s / a[r][r]
        }
        return x
    }
}

/// How good probabilities are, not only their argmax.
///
///     log_loss = -(1/N) sum_n log q_n,y_n                      (natural log; q floored at 1e-7)
///     brier    =  (1/N) sum_n sum_k (q_nk - [k = y_n])^2        (0 best, 2 worst)
///     ece      =  sum_b (N_b / N) |accuracy_b - confidence_b|   (10 equal-width bins of max_k q_nk)
///     prior_log_loss = -(1/N) sum_n log prior_y_n               (always answering the prior)
public struct ProbabilityScores: Sendable, Equatable {
    public var logLoss: Double
    public var brier: Double
    public var ece: Double
    public var priorLogLoss: Double
    /// Per confidence bin (10): clips, mean confidence, accuracy (for a reliability diagram).
    public var bins: [(count: Int, confidence: Double, accuracy: Double)]

    public static func == (l: Self, r: Self) -> Bool {
        l.logLoss == r.logLoss && l.brier == r.brier && l.ece == r.ece && l.priorLogLoss == r.priorLogLoss
    }

    public init(posteriors: [[Float]], labels: [Int], prior: [Double], binCount: Int = 10) {
        let n = Double(max(1, labels.count))
        var logLoss = 0.0, brier = 0.0, priorLoss = 0.0
        var binN = [Int](repeating: 0, count: binCount), binConf = [Double](repeating: 0, count: binCount)
        var binHit = [Double](repeating: 0, count: binCount)
        for (q, y) in zip(posteriors, labels) {
            logLoss -= Foundation.log(max(Double(q[y]), ProbabilityCalibration.probabilityFloor))
            priorLoss -= Foundation.log(max(prior[y], ProbabilityCalibration.probabilityFloor))
            for k in q.indices { let d = Double(q[k]) - (k == y ? 1 : 0); brier += d * d }
            var top = 0
            for k in q.indices where q[k] > q[top] { top = k }
            let conf = Double(q[top])
            let b = min(binCount - 1, max(0, Int(conf * Double(binCount))))
            binN[b] += 1
            binConf[b] += conf
            binHit[b] += top == y ? 1 : 0
        }
        self.logLoss = logLoss / n
        self.brier = brier / n
        self.priorLogLoss = priorLoss / n
        var ece = 0.0
        bins = (0..<binCount).map { b in
            guard binN[b] > 0 else { return (0, 0, 0) }
            let c = binConf[b] / Double(binN[b]), a = binHit[b] / Double(binN[b])
            ece += Double(binN[b]) / n * abs(a - c)
            return (binN[b], c, a)
        }
        self.ece = ece
    }
}

/// Per-clip predictions as tab-separated text: `file group truth [fold] <class>...`, a header
/// line naming the columns, one line per clip with each class's probability.
/// `crymodel evaluate --predictions`, `crymodel experiment --out` (out-of-fold, with `fold`)
/// and `crymodel calibrate` read and write it.
public struct PredictionTable: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var file: String
        public var group: String
        public var truth: Int
        public var fold: Int?
        public var probabilities: [Float]
        public init(file: String, group: String, truth: Int, fold: Int? = nil, probabilities: [Float]) {
            self.file = file; self.group = group; self.truth = truth; self.fold = fold; self.probabilities = probabilities
        }
    }
    public var classes: [String]
    public var rows: [Row]

    public init(classes: [String], rows: [Row] = []) {
        self.classes = classes
        self.rows = rows
    }

    public func text() -> String {
        let hasFold = rows.contains { $0.fold != nil }
        var s = (["file", "group", "truth"] + (hasFold ? ["fold"] : []) + classes).joined(separator: "\t") + "\n"
        for r in rows {
            s += ([r.file, r.group, classes[r.truth]] + (hasFold ? [r.fold.map(String.init) ?? ""] : [])
                  + r.probabilities.map { formatFixed(Double($0), 6) }).joined(separator: "\t") + "\n"
        }
        return s
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    public init(text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first?.split(separator: "\t").map(String.init),
              header.count >= 5, header[0] == "file", header[1] == "group", header[2] == "truth" else {
            throw ParseError(line: 1, problem: "expected a header 'file<TAB>group<TAB>truth[<TAB>fold]<TAB>class...' with at least two classes")
        }
        let hasFold = header[3] == "fold"
        let classes = Array(header[(hasFold ? 4 : 3)...])
        guard classes.count >= 2, Set(classes).count == classes.count else {
            throw ParseError(line: 1, problem: "class columns must be at least two distinct names")
        }
        var rows: [Row] = []
        for (i, line) in lines.enumerated().dropFirst() {
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == header.count else {
                throw ParseError(line: i + 1, problem: "\(cells.count) columns, the header has \(header.count)")
            }
            guard let truth = classes.firstIndex(of: cells[2]) else {
                throw ParseError(line: i + 1, problem: "truth '\(cells[2])' is not one of \(classes)")
            }
            var fold: Int?
            if hasFold {
                guard let f = Int(cells[3]) else { throw ParseError(line: i + 1, problem: "fold '\(cells[3])' is not an integer") }
                fold = f
            }
            let probs = try cells[(hasFold ? 4 : 3)...].map { cell -> Float in
                guard let v = Float(cell), v.isFinite, v >= 0, v <= 1 else {
                    throw ParseError(line: i + 1, problem: "probability '\(cell)' is not a number in [0, 1]")
                }
                return v
            }
            rows.append(Row(file: cells[0], group: cells[1], truth: truth, fold: fold, probabilities: probs))
        }
        self.init(classes: classes, rows: rows)
    }
}
