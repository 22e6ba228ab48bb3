import ArgumentParser
import CryModel
import CryTraining
import Foundation

/// `crymodel calibrate`: fits the temperature and prior correction (`ProbabilityCalibration`)
/// on out-of-fold predictions of grouped cross-validation (`crymodel experiment --folds K
/// --out DIR` writes them to DIR/predictions/), reports how well calibrated probabilities
/// would have done on folds the fit never saw, and stores the calibration in a model file.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit a cause model's calibration (temperature, prior correction) on out-of-fold predictions.",
        discussion: """
            The figures printed are cross-fitted: each fold's predictions are calibrated by a fit \
            on the other folds of the same file, so they are what the calibration does on families \
            it was not fitted on. The calibration stored with --out is fitted on every given line.
            """)

    @Option(name: .customLong("predictions"), help: "Out-of-fold predictions TSV (file, group, truth, fold, one column per class); repeatable (e.g. one per seed).")
    var predictionFiles: [String] = []
    @Option(help: "Model file to calibrate (its classes must match the predictions').") var model: String?
    @Option(help: "Write the model with the fitted calibration in its metadata here (needs --model).") var out: String?
    @Option(help: "Write the cross-fitted calibrated predictions (same TSV form) here, all files concatenated.")
    var crossFitted: String?
    @Flag(help: "JSON lines: one per predictions file, then the fit.") var json = false

    func run() throws {
        guard !predictionFiles.isEmpty else { throw TrainingCLI.usage("give at least one --predictions FILE.tsv") }
        if out != nil && model == nil { throw TrainingCLI.usage("--out needs --model") }
        var tables: [PredictionTable] = []
        for path in predictionFiles {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw fail("\(path): cannot read: \(error)", code: SysExit.ioError)
            }
            do { tables.append(try PredictionTable(text: text)) } catch {
                throw fail("\(path): \(error)", code: SysExit.dataError)
            }
            if tables.last!.classes != tables[0].classes {
                throw fail("\(path): classes \(tables.last!.classes) differ from \(predictionFiles[0])'s \(tables[0].classes)", code: SysExit.dataError)
            }
            if tables.last!.rows.isEmpty { throw fail("\(path): no predictions", code: SysExit.dataError) }
        }
        let classes = tables[0].classes
        var modelFile: CryModelFile?
        if let model {
            let file = try TrainingCLI.loadModel(model)
            guard file.configuration.classes == classes else {
                throw fail("\(model): classes \(file.configuration.classes) differ from the predictions' \(classes)", code: SysExit.dataError)
            }
            modelFile = file
        }
        var crossFittedRows: [PredictionTable.Row] = []
        for (path, table) in zip(predictionFiles, tables) {
            let result = CrossFittedCalibration(table: table)
            crossFittedRows += result.calibrated.rows
            if json {
                print(result.jsonLine(file: path))
            } else {
                print(result.text(file: path), terminator: "")
            }
        }
        let all = tables.flatMap(\.rows)
        let fit = CalibrationFit.fit(posteriors: all.map(\.probabilities), labels: all.map(\.truth), classCount: classes.count,
                                     source: "out-of-fold predictions: " + predictionFiles.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))
        if json {
            print("{\"temperature\":\(formatFixed(fit.temperature, 4)),\"log_prior_correction\":[\(fit.logPriorCorrection.map { formatFixed($0, 4) }.joined(separator: ","))],\"prior\":[\(fit.prior.map { formatFixed($0, 4) }.joined(separator: ","))],\"fitted_clips\":\(fit.fittedClips)}")
        } else {
            print("calibration fitted on all \(all.count) predictions: temperature \(formatFixed(fit.temperature, 3)), prior correction "
                  + zip(classes, fit.logPriorCorrection).map { "\($0) \(formatFixed($1, 2))" }.joined(separator: ", ")
                  + "; prior " + zip(classes, fit.prior).map { "\($0) \(formatFixed($1, 3))" }.joined(separator: ", "))
        }
        if let crossFitted {
            let text = PredictionTable(classes: classes, rows: crossFittedRows).text()
            do { try text.write(toFile: crossFitted, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(crossFitted): \(error)", code: SysExit.ioError)
            }
        }
        if var file = modelFile, let out {
            file.calibration = fit
            do { try file.write(to: out) } catch { throw fail("cannot write \(out): \(error)", code: SysExit.ioError) }
            if !json { print("wrote \(out)") }
        }
    }
}

/// Each fold of one out-of-fold table calibrated by a fit on its other folds, and the
/// scores of the result: what calibration does on families it was not fitted on.
struct CrossFittedCalibration {
    var calibrated: PredictionTable
    var raw: ProbabilityScores
    var scores: ProbabilityScores
    var rawReport: ClassificationReport
    var report: ClassificationReport
    /// For min_confidence: per threshold, the share of clips given a label and how often it is right.
    var shown: [(threshold: Double, shown: Double, right: Double)]

    static let thresholds: [Double] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]

    init(table: PredictionTable) {
        let k = table.classes.count
        let folds = Array(Set(table.rows.map { $0.fold ?? 0 })).sorted()
        var rows: [PredictionTable.Row] = []
        var decisions: [Int] = [], priors: [[Double]] = []
        for f in folds {
            let fitRows = table.rows.filter { ($0.fold ?? 0) != f || folds.count == 1 }
            let cal = CalibrationFit.fit(posteriors: fitRows.map(\.probabilities), labels: fitRows.map(\.truth), classCount: k)
            for var r in table.rows where (r.fold ?? 0) == f {
                decisions.append(argmax(r.probabilities))
                r.probabilities = cal.calibrated(r.probabilities)
                priors.append(cal.prior)
                rows.append(r)
            }
        }
        calibrated = PredictionTable(classes: table.classes, rows: rows)
        let labels = rows.map(\.truth)
        raw = ProbabilityScores(posteriors: table.rows.map(\.probabilities), labels: table.rows.map(\.truth), prior: priors[0])
        scores = ProbabilityScores(posteriors: rows.map(\.probabilities), labels: labels, prior: priors[0])
        // prior_log_loss cross-fitted too: each fold answers the prior of the other folds (as the
        // calibration does), not its own class frequencies, which it could not know.
        let priorLoss = zip(priors, labels).reduce(0.0) { $0 - Foundation.log(max($1.0[$1.1], ProbabilityCalibration.probabilityFloor)) }
        scores.priorLogLoss = priorLoss / Double(max(1, labels.count))
        raw.priorLogLoss = scores.priorLogLoss
        rawReport = ClassificationReport(actual: table.rows.map(\.truth), predicted: table.rows.map { argmax($0.probabilities) }, classes: table.classes)
        report = ClassificationReport(actual: labels, predicted: decisions, classes: table.classes)
        shown = Self.thresholds.map { t in
            let given = rows.filter { ($0.probabilities.max() ?? 0) >= Float(t) }
            let right = given.filter { argmax($0.probabilities) == $0.truth }.count
            return (t, Double(given.count) / Double(max(1, rows.count)), given.isEmpty ? .nan : Double(right) / Double(given.count))
        }
    }

    func text(file: String) -> String {
        var s = "\(file): \(calibrated.rows.count) clips, cross-fitted over \(Set(calibrated.rows.map { $0.fold ?? 0 }).count) fold(s)\n"
        s += "  network's own posteriors: log-loss \(formatFixed(raw.logLoss, 3)), Brier \(formatFixed(raw.brier, 3)), ECE \(formatFixed(raw.ece, 3)); argmax UAR \(formatFixed(rawReport.uar, 3)), macro-F1 \(formatFixed(rawReport.macroF1, 3))\n"
        s += "  calibrated:               log-loss \(formatFixed(scores.logLoss, 3)), Brier \(formatFixed(scores.brier, 3)), ECE \(formatFixed(scores.ece, 3)); balanced UAR \(formatFixed(report.uar, 3)), macro-F1 \(formatFixed(report.macroF1, 3))\n"
        s += "  prior:                    log-loss \(formatFixed(scores.priorLogLoss, 3))\n"
        s += "  min_confidence: " + shown.map { "\(formatFixed($0.threshold, 2)) shown \(formatFixed($0.shown * 100, 0))% right \($0.right.isNaN ? "-" : formatFixed($0.right * 100, 0))%" }.joined(separator: "; ") + "\n"
        return s
    }

    func jsonLine(file: String) -> String {
        func n(_ x: Double) -> String { x.isNaN ? "null" : formatFixed(x, 4) }
        return "{\"file\":\(TrainingCLI.jsonString(file)),\"clips\":\(calibrated.rows.count),"
            + "\"raw\":{\"log_loss\":\(n(raw.logLoss)),\"brier\":\(n(raw.brier)),\"ece\":\(n(raw.ece)),\"uar\":\(n(rawReport.uar)),\"macro_f1\":\(n(rawReport.macroF1))},"
            + "\"calibrated\":{\"log_loss\":\(n(scores.logLoss)),\"brier\":\(n(scores.brier)),\"ece\":\(n(scores.ece)),\"uar\":\(n(report.uar)),\"macro_f1\":\(n(report.macroF1))},"
            + "\"prior_log_loss\":\(n(scores.priorLogLoss)),"
            + "\"min_confidence\":[\(shown.map { "{\"threshold\":\(n($0.threshold)),\"shown\":\(n($0.shown)),\"right\":\(n($0.right))}" }.joined(separator: ","))]}"
    }
}
