import Testing
import Foundation
import CryModel
@testable import CryTraining

/// Runs the built `crymodel evaluate` on a generated corpus and a calibrated model.
@Suite struct EvaluateCommandTests {
    static func crymodel() throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("crymodel").path) {
            dir.deleteLastPathComponent()
        }
        let path = dir.appendingPathComponent("crymodel").path
        try #require(FileManager.default.isExecutableFile(atPath: path),
                     "crymodel not built next to the test bundle; run `swift build --build-tests` first")
        return path
    }

    /// A mono PCM16 WAV of `seconds` of a tone with a little noise.
    static func writeTone(_ path: String, hz: Double, seconds: Double, seed: UInt64, rate: Int = 8000) throws {
        var rng = SeededGenerator(seed: seed)
        let n = Int(seconds * Double(rate))
        var bytes: [UInt8] = []
        func u32(_ v: Int) { for i in 0..<4 { bytes.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        func u16(_ v: Int) { for i in 0..<2 { bytes.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        bytes += Array("RIFF".utf8); u32(36 + 2 * n); bytes += Array("WAVEfmt ".utf8)
        u32(16); u16(1); u16(1); u32(rate); u32(2 * rate); u16(2); u16(16)
        bytes += Array("data".utf8); u32(2 * n)
        for i in 0..<n {
            let x = 0.3 * sin(2 * Double.pi * hz * Double(i) / Double(rate)) + 0.02 * Double(rng.nextUnitFloat() - 0.5)
            u16(Int(Int16(x * 32000)) & 0xFFFF)
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func jsonHasCalibrationScoresThatMatchThePredictionsFile() throws {
        let tool = try Self.crymodel()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = dir + "/corpus"
        for (i, (cls, hz)) in [("hungry", 400.0), ("hungry", 450.0), ("hungry", 500.0), ("tired", 900.0), ("tired", 950.0), ("burping", 300.0)].enumerated() {
            try Self.writeTone("\(corpus)/\(cls)/family\(i)-clip.wav", hz: hz, seconds: 1.5, seed: UInt64(i))
        }
        let config = ModelConfiguration(task: .cause, classes: ModelConfiguration.causeClasses, cell: .lstm, hidden: [6], dense: [])
        var model = CryModelFile(network: try CryNetwork<Float>.random(configuration: config, seed: 5))
        let prior = [0.6, 0.1, 0.1, 0.1, 0.1]
        model.calibration = ProbabilityCalibration(temperature: 2, logPriorCorrection: [0.5, 0, -0.25, 0, -0.25], prior: prior)
        try model.write(to: dir + "/m.safetensors")

        let r = try Self.run(tool, ["evaluate", "--model", dir + "/m.safetensors", "--data", corpus, "--json",
                                    "--predictions", dir + "/p.tsv", "--threads", "1"])
        #expect(r.status == 0, "\(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        for key in ["log_loss", "brier", "ece", "prior_log_loss", "uar", "macro_f1"] {
            #expect(json[key] is NSNumber, "missing \(key) in \(r.out)")
        }
        #expect(json["calibrated"] as? Bool == true && json["prior_source"] as? String == "calibration")

        let table = try PredictionTable(text: try String(contentsOfFile: dir + "/p.tsv", encoding: .utf8))
        #expect(table.classes == ModelConfiguration.causeClasses && table.rows.count == 6)
        #expect(table.rows.allSatisfy { abs($0.probabilities.reduce(0, +) - 1) < 1e-3 && $0.group.hasPrefix("corpus:") })
        let labels = table.rows.map(\.truth), q = table.rows.map(\.probabilities)
        let expected = ProbabilityScores(posteriors: q, labels: labels, prior: prior)
        #expect(abs((json["log_loss"] as! Double) - expected.logLoss) < 1e-4)
        #expect(abs((json["brier"] as! Double) - expected.brier) < 1e-4)
        #expect(abs((json["ece"] as! Double) - expected.ece) < 1e-4)
        // The prior's log-loss: 3 hungry (0.6), 2 tired, 1 burping (0.1).
        let priorLoss = -(3 * Foundation.log(0.6) + 3 * Foundation.log(0.1)) / 6
        #expect(abs((json["prior_log_loss"] as! Double) - priorLoss) < 1e-4)
        // UAR scores the class-balanced decision argmax q_k / exp(b_k), which the calibration does not change.
        let c = model.calibration!
        let report = ClassificationReport(actual: labels, predicted: q.map(c.balancedDecision), classes: table.classes)
        #expect(abs((json["uar"] as! Double) - report.uar) < 1e-4)

        // A model without calibration: its own posteriors, the prior of the evaluated clips.
        model.calibration = nil
        try model.write(to: dir + "/plain.safetensors")
        let plain = try Self.run(tool, ["evaluate", "--model", dir + "/plain.safetensors", "--data", corpus, "--json", "--threads", "1"])
        let pj = try #require(try JSONSerialization.jsonObject(with: Data(plain.out.utf8)) as? [String: Any])
        #expect(pj["calibrated"] as? Bool == false && pj["prior_source"] as? String == "evaluated_clips")
        #expect(abs((pj["prior_log_loss"] as! Double) - (-(3 * Foundation.log(0.5) + 2 * Foundation.log(2.0 / 6) + Foundation.log(1.0 / 6)) / 6)) < 1e-4)

        // calibrate: refits from a predictions file with folds, and stores the fit in a model.
        var oof = table
        for i in oof.rows.indices { oof.rows[i].fold = i % 2 + 1 }
        try oof.text().write(toFile: dir + "/oof.tsv", atomically: true, encoding: .utf8)
        let cal = try Self.run(tool, ["calibrate", "--predictions", dir + "/oof.tsv", "--model", dir + "/plain.safetensors",
                                      "--out", dir + "/cal.safetensors", "--cross-fitted", dir + "/cf.tsv"])
        #expect(cal.status == 0, "\(cal.err)")
        #expect(cal.out.contains("cross-fitted over 2 fold(s)") && cal.out.contains("min_confidence"))
        let calibrated = try CryModelFile.load(path: dir + "/cal.safetensors")
        #expect(calibrated.calibration?.fittedClips == 6)
        #expect(try PredictionTable(text: try String(contentsOfFile: dir + "/cf.tsv", encoding: .utf8)).rows.count == 6)
        try "hello\n".write(toFile: dir + "/bad.tsv", atomically: true, encoding: .utf8)
        let bad = try Self.run(tool, ["calibrate", "--predictions", dir + "/bad.tsv"])
        #expect(bad.status == 65 && bad.err.contains("line 1"), "\(bad.err)")
    }
}
