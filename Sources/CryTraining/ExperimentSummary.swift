import Foundation

/// Mean, sample standard deviation and range of one figure across seeds.
///
///   mean = (1/n) sum x_i,   sd = sqrt( sum (x_i - mean)^2 / (n - 1) )   (0 when n = 1)
public struct SpreadStatistics: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var standardDeviation: Double
    public var minimum: Double
    public var maximum: Double

    /// Values that are NaN (a class absent from a seed's test part) are left out.
    public init(_ values: [Double]) {
        let v = values.filter { !$0.isNaN }
        count = v.count
        guard !v.isEmpty else {
            mean = .nan; standardDeviation = .nan; minimum = .nan; maximum = .nan
            return
        }
        let m = v.reduce(0, +) / Double(v.count)
        mean = m
        standardDeviation = v.count > 1
            ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
        minimum = v.min()!
        maximum = v.max()!
    }

    /// "0.312 ± 0.045 (0.270-0.361)"; one value: "0.312".
    public func formatted(_ digits: Int = 3, range: Bool = true) -> String {
        guard count > 0 else { return "n/a" }
        guard count > 1 else { return formatFixed(mean, digits) }
        var s = formatFixed(mean, digits) + " ± " + formatFixed(standardDeviation, digits)
        if range { s += " (" + formatFixed(minimum, digits) + "-" + formatFixed(maximum, digits) + ")" }
        return s
    }
}

/// A plain SVG line plot: one polyline per series over x = 1, 2, ... (epochs), axes with
/// ticks and labels, a legend, optional dashed horizontal reference lines.
public struct SVGLinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var values: [Double]
        public init(name: String, values: [Double]) { self.name = name; self.values = values }
    }
    public struct Reference: Sendable {
        public var label: String
        public var y: Double
        public init(label: String, y: Double) { self.label = label; self.y = y }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var references: [Reference] = []
    public var yRange: ClosedRange<Double> = 0...1
    public var width = 760.0
    public var height = 440.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series],
                references: [Reference] = [], yRange: ClosedRange<Double> = 0...1) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.series = series; self.references = references; self.yRange = yRange
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// Escapes text for XML character data and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks.
    static func tickStep(span: Double, target: Int) -> Double {
        guard span > 0 else { return 1 }
        let raw = span / Double(max(1, target))
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    public func render() -> String {
        let left = 64.0, right = 150.0, top = 40.0, bottom = 56.0
        let pw = width - left - right, ph = height - top - bottom
        let xMax = Double(max(2, series.map(\.values.count).max() ?? 2))
        let y0 = yRange.lowerBound, y1 = yRange.upperBound > yRange.lowerBound ? yRange.upperBound : yRange.lowerBound + 1
        func px(_ x: Double) -> Double { left + (x - 1) / (xMax - 1) * pw }
        func py(_ y: Double) -> Double { top + (1 - (min(max(y, y0), y1) - y0) / (y1 - y0)) * ph }
        func f(_ v: Double) -> String { formatFixed(v, 1) }
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(Self.escape(title))</text>\n"
        // Grid and ticks.
        let yStep = Self.tickStep(span: y1 - y0, target: 5)
        var yt = (y0 / yStep).rounded(.up) * yStep
        while yt <= y1 + 1e-9 {
            let y = py(yt)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#e0e0e0\"/>\n"
            s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(formatFixed(yt, yStep < 0.1 ? 2 : 1))</text>\n"
            yt += yStep
        }
        let xStep = max(1, Self.tickStep(span: xMax - 1, target: 8))
        var xt = 1.0
        while xt <= xMax + 1e-9 {
            let x = px(xt)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top + ph))\" x2=\"\(f(x))\" y2=\"\(f(top + ph + 5))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(top + ph + 19))\" text-anchor=\"middle\">\(Int(xt))</text>\n"
            xt = xt == 1 && xStep > 1 ? xStep : xt + xStep
        }
        // Axes.
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top + ph))\" x2=\"\(f(left + pw))\" y2=\"\(f(top + ph))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + ph))\" stroke=\"black\"/>\n"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text x=\"16\" y=\"\(f(top + ph / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(top + ph / 2)))\">\(Self.escape(yLabel))</text>\n"
        for r in references {
            let y = py(r.y)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#555555\" stroke-dasharray=\"6 4\"/>\n"
            // The label sits in the right margin beside its line, where no curve is drawn.
            s += "<text x=\"\(f(left + pw + 8))\" y=\"\(f(y + 4))\" fill=\"#555555\">\(Self.escape(r.label))</text>\n"
        }
        for (i, line) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let points = line.values.enumerated().filter { !$0.element.isNaN }
                .map { "\(f(px(Double($0.offset + 1)))),\(f(py($0.element)))" }.joined(separator: " ")
            if !points.isEmpty {
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(points)\"/>\n"
            }
            let ly = top + 10 + Double(i) * 20
            s += "<line x1=\"\(f(left + pw + 16))\" y1=\"\(f(ly))\" x2=\"\(f(left + pw + 40))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2.5\"/>\n"
            s += "<text x=\"\(f(left + pw + 46))\" y=\"\(f(ly + 4))\">\(Self.escape(line.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}

/// "Choose by grouped cross-validation, then train on the whole corpus": the configuration
/// with the best mean cross-validated UAR (the first on a tie), trained for the mean of its
/// folds' best epochs, rounded (each fold's best epoch was chosen on that fold's inner
/// validation part, never on its test part).
public enum CrossValidationSelection {
    /// - meanUARs: per configuration, its pooled test UAR averaged over seeds.
    /// - bestEpochs: per configuration, the best epoch of every fold (of every seed).
    public static func select(meanUARs: [Double], bestEpochs: [[Int]]) -> (index: Int, epochs: Int)? {
        guard !meanUARs.isEmpty, meanUARs.count == bestEpochs.count else { return nil }
        var best = 0
        for i in meanUARs.indices where meanUARs[i] > meanUARs[best] { best = i }
        let epochs = bestEpochs[best]
        guard !epochs.isEmpty else { return nil }
        let mean = Double(epochs.reduce(0, +)) / Double(epochs.count)
        return (best, max(1, Int(mean.rounded())))
    }
}
