import ArgumentParser
import CryModel
import CryTraining
import Foundation

/// `crymodel experiment`: the paper's comparison (model-spec section 4). LSTM, GRU and the
/// attention-gate LSTM at depths 1-3 (deepf_1..3) are trained identically (same split,
/// seed, sampling and options), selected on validation UAR, and scored once on the
/// held-out test groups through the streaming path.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Train LSTM, GRU and deepf_1..3 identically and compare them on the held-out test groups.")

    @OptionGroup var common: TrainingArguments
    @Option(help: "Models to compare, from lstm, gru, deepf1, deepf2, deepf3 (attgate depth L), comma-separated.")
    var models: String = "lstm,gru,deepf1,deepf2,deepf3"
    @Option(help: "Folder to keep each trained model in (optional).") var outDir: String?
    @Option(help: "Grouped k-fold cross-validation instead of one split: every fold is the test part once; the figures pool all folds' test decisions.")
    var folds: Int?
    @Flag(help: "JSON lines, one per model, instead of the table.") var json = false

    func run() throws {
        var variants: [(name: String, cell: CellKind, depth: Int)] = []
        for name in models.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "lstm": variants.append(("LSTM", .lstm, 0))
            case "gru": variants.append(("GRU", .gru, 0))
            case let d where d.hasPrefix("deepf") && Int(d.dropFirst(5)).map({ $0 >= 1 }) == true:
                variants.append(("deepf_\(d.dropFirst(5))", .attgate, Int(d.dropFirst(5))!))
            default: throw TrainingCLI.usage("--models: unknown model '\(name)' (lstm, gru, deepf1, deepf2, ...)")
            }
        }
        guard !variants.isEmpty else { throw TrainingCLI.usage("--models is empty") }
        if let folds, folds < 2 || folds > 20 { throw TrainingCLI.usage("--folds must be 2...20, not \(folds)") }
        let setup = try TrainingSetup(common)
        let flag = InterruptFlag()
        flag.installForSIGINT()
        let printer = TrainingProgressPrinter(totalEpochs: common.epochs)
        let corpus: Corpus
        let cache: FeatureCache
        var splits: [DataSplit]
        do {
            corpus = try TrainingPipeline.loadCorpus(task: setup.task, directories: common.data)
            printer.message(TrainingCLI.describe(corpus))
            cache = try FeatureCache.load(corpus: corpus, config: setup.frontEnd, threads: common.threads)
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        if let folds {
            splits = TrainingPipeline.crossValidationSplits(corpus: corpus, folds: folds, seed: common.seed)
        } else {
            splits = [GroupedSplitter.split(labels: corpus.clips.map(\.label), groups: corpus.clips.map(\.group),
                                            classCount: corpus.classes.count, seed: common.seed)]
        }
        let prepared = splits.map { TrainingPipeline.prepare(corpus: corpus, cache: cache, split: $0, frontEnd: setup.frontEnd) }
        for (f, p) in prepared.enumerated() {
            printer.message((folds == nil ? "" : "fold \(f + 1): ") + TrainingCLI.describe(p))
        }
        if let outDir {
            try? FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        }
        let classes = corpus.classes
        var rows: [ExperimentRow] = []
        variants: for v in variants {
            let config = try setup.modelConfiguration(classes: classes, cell: v.cell, depth: v.depth)
            var actual: [Int] = [], predicted: [Int] = []
            var seconds = 0.0, epochsRun = 0, bestEpochs: [Int] = [], validationUARs: [Double] = [], foldUARs: [Double] = []
            var parameters = 0
            for (f, data) in prepared.enumerated() {
                if flag.isRaised { break variants }
                let name = folds == nil ? v.name : "\(v.name)-fold\(f + 1)"
                printer.message("== \(name): \(v.cell.rawValue) depth \(v.depth)")
                let (network, result) = try TrainingPipeline.train(
                    data: data, configuration: config, options: setup.options,
                    batchDone: { printer.batchDone(epoch: $0, batch: $1, of: $2, loss: $3) },
                    epochDone: { printer.epochDone($0) },
                    shouldStop: { flag.isRaised })
                let file = TrainingPipeline.modelFile(
                    network: network, data: data, result: result, options: setup.options,
                    commandLine: CommandLine.arguments.map(TrainingCLI.shellQuoted).joined(separator: " "),
                    directories: common.data)
                if let outDir {
                    let path = outDir + "/" + name + ".cry"
                    do { try file.write(to: path) } catch {
                        throw fail("cannot write \(path): \(error)", code: SysExit.ioError)
                    }
                }
                let testClips = data.split.test
                let posteriors: [[Float]]
                do {
                    posteriors = try StreamingEvaluation.lastFramePosteriors(
                        model: file, paths: testClips.map { corpus.clips[$0].path }, threads: common.threads)
                } catch {
                    throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
                }
                let foldActual = testClips.map { corpus.clips[$0].label }, foldPredicted = posteriors.map(argmax)
                let foldReport = ClassificationReport(actual: foldActual, predicted: foldPredicted, classes: classes)
                actual += foldActual
                predicted += foldPredicted
                foldUARs.append(foldReport.uar)
                seconds += result.history.reduce(0) { $0 + $1.seconds }
                epochsRun += result.history.count
                bestEpochs.append(result.bestEpoch)
                validationUARs.append(result.bestValidation?.uar ?? 0)
                parameters = network.parameterCount
                printer.message("\(name): test UAR \(formatFixed(foldReport.uar, 3)) macro-F1 \(formatFixed(foldReport.macroF1, 3))")
            }
            guard !foldUARs.isEmpty else { break }
            rows.append(ExperimentRow(
                name: v.name, report: ClassificationReport(actual: actual, predicted: predicted, classes: classes),
                parameters: parameters, secondsPerEpoch: seconds / Double(max(1, epochsRun)),
                bestEpoch: bestEpochs.reduce(0, +) / bestEpochs.count, epochs: epochsRun / foldUARs.count,
                validationUAR: validationUARs.reduce(0, +) / Double(validationUARs.count), foldUARs: foldUARs))
        }
        let testCount = prepared.reduce(0) { $0 + $1.split.test.count }
        if json {
            for r in rows { print(r.jsonLine()) }
        } else {
            if let folds {
                print("grouped \(folds)-fold cross-validation: \(testCount) test decisions pooled over folds; per-fold selection on an inner validation part; decision at the last frame")
            } else {
                print("held-out test groups: \(testCount) clips; selection on validation UAR; decision at the last frame")
            }
            print(ExperimentRow.table(rows, classes: classes), terminator: "")
        }
    }
}

struct ExperimentRow {
    var name: String
    var report: ClassificationReport
    var parameters: Int
    var secondsPerEpoch: Double
    var bestEpoch: Int
    var epochs: Int
    var validationUAR: Double
    /// Test UAR of each fold (one value without --folds).
    var foldUARs: [Double] = []

    static func table(_ rows: [ExperimentRow], classes: [String]) -> String {
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? " " + s : String(repeating: " ", count: w - s.count) + s }
        let short = classes.map { String($0.prefix(8)) }
        var out = lpad("model", 9) + short.map { lpad("R:" + $0, 11) }.joined() + lpad("R avg", 7)
            + short.map { lpad("F1:" + $0, 12) }.joined() + lpad("F1 avg", 7) + lpad("UAR", 7) + lpad("params", 9)
            + lpad("s/epoch", 8) + lpad("epochs", 7) + lpad("valUAR", 7) + "  fold UARs\n"
        for r in rows {
            out += lpad(r.name, 9)
                + r.report.perClass.map { lpad(formatFixed($0.recall, 3), 11) }.joined()
                + lpad(formatFixed(r.report.average.recall, 3), 7)
                + r.report.perClass.map { lpad(formatFixed($0.f1, 3), 12) }.joined()
                + lpad(formatFixed(r.report.macroF1, 3), 7) + lpad(formatFixed(r.report.uar, 3), 7)
                + lpad("\(r.parameters)", 9) + lpad(formatFixed(r.secondsPerEpoch, 1), 8)
                + lpad("\(r.bestEpoch)/\(r.epochs)", 7) + lpad(formatFixed(r.validationUAR, 3), 7)
                + "  " + r.foldUARs.map { formatFixed($0, 2) }.joined(separator: " ") + "\n"
        }
        return out
    }

    func jsonLine() -> String {
        let perClass = report.classes.indices.map {
            "\(TrainingCLI.jsonString(report.classes[$0])):{\"recall\":\(formatFixed(report.perClass[$0].recall, 4)),\"f1\":\(formatFixed(report.perClass[$0].f1, 4)),\"count\":\(report.perClass[$0].count)}"
        }.joined(separator: ",")
        return "{\"model\":\(TrainingCLI.jsonString(name)),\"uar\":\(formatFixed(report.uar, 4)),\"macro_f1\":\(formatFixed(report.macroF1, 4)),\"parameters\":\(parameters),\"seconds_per_epoch\":\(formatFixed(secondsPerEpoch, 2)),\"best_epoch\":\(bestEpoch),\"epochs\":\(epochs),\"validation_uar\":\(formatFixed(validationUAR, 4)),\"fold_uars\":[\(foldUARs.map { formatFixed($0, 4) }.joined(separator: ","))],\"per_class\":{\(perClass)}}"
    }
}
