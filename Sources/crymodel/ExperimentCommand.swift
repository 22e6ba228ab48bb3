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
        let setup = try TrainingSetup(common)
        let flag = InterruptFlag()
        flag.installForSIGINT()
        let printer = TrainingProgressPrinter(totalEpochs: common.epochs)
        let prepared: PreparedCorpus
        do {
            let corpus = try TrainingPipeline.loadCorpus(task: setup.task, directories: common.data)
            printer.message(TrainingCLI.describe(corpus))
            prepared = try TrainingPipeline.prepare(corpus: corpus, frontEnd: setup.frontEnd, seed: common.seed, threads: common.threads)
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        printer.message(TrainingCLI.describe(prepared))
        if let outDir {
            try? FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        }
        let classes = prepared.corpus.classes
        let testClips = prepared.split.test
        var rows: [ExperimentRow] = []
        for v in variants {
            if flag.isRaised { break }
            let config = try setup.modelConfiguration(classes: classes, cell: v.cell, depth: v.depth)
            printer.message("== \(v.name): \(v.cell.rawValue) depth \(v.depth)")
            let (network, result) = try TrainingPipeline.train(
                data: prepared, configuration: config, options: setup.options,
                batchDone: { printer.batchDone(epoch: $0, batch: $1, of: $2, loss: $3) },
                epochDone: { printer.epochDone($0) },
                shouldStop: { flag.isRaised })
            let file = TrainingPipeline.modelFile(
                network: network, data: prepared, result: result, options: setup.options,
                commandLine: CommandLine.arguments.map(TrainingCLI.shellQuoted).joined(separator: " "), directories: common.data)
            if let outDir {
                let path = outDir + "/" + v.name + ".cry"
                do { try file.write(to: path) } catch {
                    throw fail("cannot write \(path): \(error)", code: SysExit.ioError)
                }
            }
            let posteriors: [[Float]]
            do {
                posteriors = try StreamingEvaluation.lastFramePosteriors(
                    model: file, paths: testClips.map { prepared.corpus.clips[$0].path }, threads: common.threads)
            } catch {
                throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
            }
            let report = ClassificationReport(actual: testClips.map { prepared.corpus.clips[$0].label },
                                              predicted: posteriors.map(argmax), classes: classes)
            let trainedEpochs = max(1, result.history.count)
            rows.append(ExperimentRow(
                name: v.name, report: report, parameters: network.parameterCount,
                secondsPerEpoch: result.history.reduce(0) { $0 + $1.seconds } / Double(trainedEpochs),
                bestEpoch: result.bestEpoch, epochs: result.history.count,
                validationUAR: result.bestValidation?.uar ?? 0))
            printer.message("\(v.name): test UAR \(formatFixed(report.uar, 3)) macro-F1 \(formatFixed(report.macroF1, 3))")
        }
        if json {
            for r in rows { print(r.jsonLine()) }
        } else {
            print("held-out test groups: \(testClips.count) clips; selection on validation UAR; decision at the last frame")
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

    static func table(_ rows: [ExperimentRow], classes: [String]) -> String {
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? " " + s : String(repeating: " ", count: w - s.count) + s }
        let short = classes.map { String($0.prefix(8)) }
        var out = lpad("model", 9) + short.map { lpad("R:" + $0, 11) }.joined() + lpad("R avg", 7)
            + short.map { lpad("F1:" + $0, 12) }.joined() + lpad("F1 avg", 7) + lpad("UAR", 7) + lpad("params", 9)
            + lpad("s/epoch", 8) + lpad("epochs", 7) + lpad("valUAR", 7) + "\n"
        for r in rows {
            out += lpad(r.name, 9)
                + r.report.perClass.map { lpad(formatFixed($0.recall, 3), 11) }.joined()
                + lpad(formatFixed(r.report.average.recall, 3), 7)
                + r.report.perClass.map { lpad(formatFixed($0.f1, 3), 12) }.joined()
                + lpad(formatFixed(r.report.macroF1, 3), 7) + lpad(formatFixed(r.report.uar, 3), 7)
                + lpad("\(r.parameters)", 9) + lpad(formatFixed(r.secondsPerEpoch, 1), 8)
                + lpad("\(r.bestEpoch)/\(r.epochs)", 7) + lpad(formatFixed(r.validationUAR, 3), 7) + "\n"
        }
        return out
    }

    func jsonLine() -> String {
        let perClass = report.classes.indices.map {
            "\(TrainingCLI.jsonString(report.classes[$0])):{\"recall\":\(formatFixed(report.perClass[$0].recall, 4)),\"f1\":\(formatFixed(report.perClass[$0].f1, 4)),\"count\":\(report.perClass[$0].count)}"
        }.joined(separator: ",")
        return "{\"model\":\(TrainingCLI.jsonString(name)),\"uar\":\(formatFixed(report.uar, 4)),\"macro_f1\":\(formatFixed(report.macroF1, 4)),\"parameters\":\(parameters),\"seconds_per_epoch\":\(formatFixed(secondsPerEpoch, 2)),\"best_epoch\":\(bestEpoch),\"epochs\":\(epochs),\"validation_uar\":\(formatFixed(validationUAR, 4)),\"per_class\":{\(perClass)}}"
    }
}
