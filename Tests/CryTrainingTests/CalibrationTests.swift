import Testing
import Foundation
import CryModel
@testable import CryTraining

@Suite struct CalibrationTests {
    /// A synthetic problem whose true posteriors are known: each "network output" r is a
    /// random probability vector, the true posterior is q* = softmax(log r / T0 + b0), and
    /// the label is drawn from q*. The fit must find T0 and b0, and its calibrated outputs
    /// must be q* (so ECE is small and the log-loss is that of the truth).
    static func synthetic(count: Int, seed: UInt64, temperature t0: Double, offsets b0: [Double])
        -> (raw: [[Float]], labels: [Int], truth: [[Float]]) {
        var rng = SeededGenerator(seed: seed)
        let truthCalibration = ProbabilityCalibration(temperature: t0, logPriorCorrection: b0,
                                                      prior: [Double](repeating: 1 / Double(b0.count), count: b0.count))
        var raw: [[Float]] = [], labels: [Int] = [], truth: [[Float]] = []
        for _ in 0..<count {
            // An over-confident network: sharp random logits.
            let logits = b0.indices.map { _ in 3 * Double.random(in: -1...1, using: &rng) }
            let m = logits.max()!
            let e = logits.map { Foundation.exp($0 - m) }
            let r = e.map { Float($0 / e.reduce(0, +)) }
            let q = truthCalibration.calibrated(r)
            var u = Float.random(in: 0..<1, using: &rng), y = 0
            while y < q.count - 1 && u >= q[y] { u -= q[y]; y += 1 }
            raw.append(r); labels.append(y); truth.append(q)
        }
        return (raw, labels, truth)
    }

    @Test func fitRecoversKnownTemperatureAndPriorCorrection() {
        let b0 = [1.5, 0.0, -0.5, -1.0]
        let data = Self.synthetic(count: 20000, seed: 3, temperature: 2.5, offsets: b0)
        let fit = CalibrationFit.fit(posteriors: data.raw, labels: data.labels, classCount: 4)
        #expect(abs(fit.temperature - 2.5) < 0.15, "temperature \(fit.temperature)")
        // b is identified up to a common shift: compare differences to class 0.
        for k in 1..<4 {
            let got = fit.logPriorCorrection[k] - fit.logPriorCorrection[0], want = b0[k] - b0[0]
            #expect(abs(got - want) < 0.1, "class \(k): b difference \(got), want \(want)")
        }
        // On fresh data from the same problem, the calibrated outputs are the true posteriors.
        let test = Self.synthetic(count: 5000, seed: 4, temperature: 2.5, offsets: b0)
        let calibrated = test.raw.map(fit.calibrated)
        var totalAbs = 0.0
        for (q, t) in zip(calibrated, test.truth) {
            for k in q.indices { totalAbs += Double(abs(q[k] - t[k])) }
        }
        let meanAbs = totalAbs / Double(test.raw.count * 4)
        #expect(meanAbs < 0.01, "mean |q - q*| \(meanAbs)")
        let prior = fit.prior
        let raw = ProbabilityScores(posteriors: test.raw, labels: test.labels, prior: prior)
        let cal = ProbabilityScores(posteriors: calibrated, labels: test.labels, prior: prior)
        let truth = ProbabilityScores(posteriors: test.truth, labels: test.labels, prior: prior)
        #expect(cal.ece < 0.03, "ECE \(cal.ece)")
        #expect(raw.ece > 0.1, "the over-confident raw outputs are miscalibrated: ECE \(raw.ece)")
        #expect(cal.logLoss < raw.logLoss && cal.logLoss < cal.priorLogLoss)
        #expect(abs(cal.logLoss - truth.logLoss) < 0.01, "log-loss \(cal.logLoss), of the truth \(truth.logLoss)")
        #expect(cal.brier < raw.brier)
    }

    @Test func uninformativeOutputsCalibrateToThePrior() {
        // Outputs unrelated to the labels (70/20/10): the fit must fall back to the prior.
        var rng = SeededGenerator(seed: 9)
        var raw: [[Float]] = [], labels: [Int] = []
        for i in 0..<3000 {
            let l = (0..<3).map { _ in Double.random(in: 0.01...1, using: &rng) }
            raw.append(l.map { Float($0 / l.reduce(0, +)) })
            labels.append(i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2)
        }
        let fit = CalibrationFit.fit(posteriors: raw, labels: labels, classCount: 3)
        #expect(fit.temperature > 10, "temperature \(fit.temperature)")
        let q = fit.calibrated(raw[0])
        #expect(abs(q[0] - 0.7) < 0.03 && abs(q[1] - 0.2) < 0.03 && abs(q[2] - 0.1) < 0.03, "\(q)")
        let s = ProbabilityScores(posteriors: raw.map(fit.calibrated), labels: labels, prior: fit.prior)
        #expect(abs(s.logLoss - s.priorLogLoss) < 0.01)
        // The balanced decision divides the prior correction out again: it is the network's argmax.
        #expect(raw.allSatisfy { fit.balancedDecision(fit.calibrated($0)) == argmax($0) })
    }

    @Test func purePriorCorrectionLeavesTheBalancedDecisionUnchanged() {
        // T = 1, b = log prior: q / prior is proportional to p, so the decision is argmax p.
        let prior = [0.84, 0.05, 0.04, 0.05, 0.02]
        let c = ProbabilityCalibration(temperature: 1, logPriorCorrection: prior.map { Foundation.log($0) }, prior: prior)
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<200 {
            let l = (0..<5).map { _ in Double.random(in: 0.01...1, using: &rng) }
            let p = l.map { Float($0 / l.reduce(0, +)) }
            #expect(c.balancedDecision(c.calibrated(p)) == argmax(p))
        }
    }

    @Test func scoresOfAHandWorkedExample() {
        // Two clips, two classes. q = (0.8, 0.2) truth 0; q = (0.4, 0.6) truth 0.
        let s = ProbabilityScores(posteriors: [[0.8, 0.2], [0.4, 0.6]], labels: [0, 0], prior: [0.5, 0.5])
        #expect(abs(s.logLoss - (-(Foundation.log(0.8) + Foundation.log(0.4)) / 2)) < 1e-6)
        #expect(abs(s.brier - ((0.04 + 0.04) + (0.36 + 0.36)) / 2) < 1e-6)
        // Bins: 0.8 (right) in bin 8, 0.6 (wrong) in bin 6: ECE = 0.5 * 0.2 + 0.5 * 0.6.
        #expect(abs(s.ece - 0.4) < 1e-6)
        #expect(abs(s.priorLogLoss - Foundation.log(2)) < 1e-9)
        #expect(s.bins[8].count == 1 && s.bins[6].count == 1 && s.bins[6].accuracy == 0)
    }

    @Test func predictionTableRoundTripsAndNamesBadLines() throws {
        let table = PredictionTable(classes: ["a", "b"], rows: [
            .init(file: "x/a/1.wav", group: "g1", truth: 0, fold: 1, probabilities: [0.25, 0.75]),
            .init(file: "x/b/2.wav", group: "g2", truth: 1, fold: 2, probabilities: [1, 0]),
        ])
        #expect(try PredictionTable(text: table.text()) == table)
        #expect(table.text().hasPrefix("file\tgroup\ttruth\tfold\ta\tb\n"))
        let noFold = PredictionTable(classes: ["a", "b"], rows: [.init(file: "f", group: "g", truth: 1, probabilities: [0.5, 0.5])])
        #expect(noFold.text().hasPrefix("file\tgroup\ttruth\ta\tb\n"))
        #expect(try PredictionTable(text: noFold.text()) == noFold)
        let bad = try #require(throws: PredictionTable.ParseError.self) {
            try PredictionTable(text: "file\tgroup\ttruth\ta\tb\nf\tg\tc\t0.5\t0.5\n")
        }
        #expect(bad.line == 2 && bad.description.contains("'c'"))
        #expect(throws: PredictionTable.ParseError.self) { try PredictionTable(text: "file\tgroup\ttruth\ta\tb\nf\tg\ta\t0.5\tx\n") }
        #expect(throws: PredictionTable.ParseError.self) { try PredictionTable(text: "name\tb\n") }
    }

    @Test func calibrationIsStoredInTheModelFileAndOldFilesLoadUncalibrated() throws {
        let config = ModelConfiguration(task: .cause, classes: ModelConfiguration.causeClasses, cell: .lstm, hidden: [4], dense: [])
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var file = CryModelFile(network: try CryNetwork<Float>.random(configuration: config, seed: 1))
        try file.write(to: dir + "/old.safetensors")
        #expect(try CryModelFile.load(path: dir + "/old.safetensors").calibration == nil)
        let c = ProbabilityCalibration(temperature: 3.25, logPriorCorrection: [1, -0.5, -0.25, -0.125, -0.125],
                                       prior: [0.8, 0.05, 0.05, 0.05, 0.05], fittedClips: 365, source: "test")
        file.calibration = c
        try file.write(to: dir + "/new.safetensors")
        #expect(try CryModelFile.load(path: dir + "/new.safetensors").calibration == c)
        // A malformed calibration is refused when the file is read, naming the key.
        for bad in ["{\"temperature\":-1}", "[1,2]", "{\"temperature\":2,\"log_prior_correction\":[0,0],\"prior\":[0.5,0.5]}"] {
            file.extras[ProbabilityCalibration.metadataKey] = bad
            try file.write(to: dir + "/bad.safetensors")
            let error = try #require(throws: ModelFileError.self) { try CryModelFile.load(path: dir + "/bad.safetensors") }
            #expect("\(error)".contains("calibration"), "\(error)")
        }
    }
}
