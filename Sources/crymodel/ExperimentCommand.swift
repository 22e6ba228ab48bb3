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
    @Option(help: "Folder to keep each trained model in (optional; models are not written otherwise).") var outDir: String?
    @Option(help: "Folder for the report: report.md (Table 2 form, spread across seeds, baselines) and validation-uar.svg.")
    var out: String?
    @Option(help: "Seeds, comma-separated (each: its own split, initial weights and sampling; default: --seed).")
    var seeds: String?
    @Option(help: "Grouped k-fold cross-validation instead of one split: every fold is the test part once; the figures pool all folds' test decisions.")
    var folds: Int?
    @Flag(help: "JSON lines, one per model and seed, instead of the table.") var json = false

    func run() throws {
        var variants: [ExperimentVariant] = []
        for name in models.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "lstm": variants.append(.init(name: "LSTM", cell: .lstm, depth: 0))
            case "gru": variants.append(.init(name: "GRU", cell: .gru, depth: 0))
            case let d where d.hasPrefix("deepf") && Int(d.dropFirst(5)).map({ $0 >= 1 }) == true:
                variants.append(.init(name: "deepf_\(d.dropFirst(5))", cell: .attgate, depth: Int(d.dropFirst(5))!))
            default: throw TrainingCLI.usage("--models: unknown model '\(name)' (lstm, gru, deepf1, deepf2, ...)")
            }
        }
        guard !variants.isEmpty else { throw TrainingCLI.usage("--models is empty") }
        if let folds, folds < 2 || folds > 20 { throw TrainingCLI.usage("--folds must be 2...20, not \(folds)") }
        var seedList: [UInt64] = [common.seed]
        if let seeds {
            let parts = seeds.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let parsed = parts.compactMap { UInt64($0) }
            guard !parts.isEmpty, parsed.count == parts.count, Set(parsed).count == parsed.count else {
                throw TrainingCLI.usage("--seeds: expected distinct non-negative integers like 1,2,3, not '\(seeds)'")
            }
            seedList = parsed
        }
        let setup = try TrainingSetup(common)
        let flag = InterruptFlag()
        flag.installForSIGINT()
        let printer = TrainingProgressPrinter(totalEpochs: common.epochs)
        let commandLine = CommandLine.arguments.map(TrainingCLI.shellQuoted).joined(separator: " ")
        let corpus: Corpus
        let cache: FeatureCache
        do {
            corpus = try common.augmented(
                TrainingPipeline.loadCorpus(task: setup.task, directories: common.data, trainOnly: common.trainOnly), printer: printer)
            printer.message(TrainingCLI.describe(corpus))
            cache = try FeatureCache.load(corpus: corpus, config: setup.frontEnd, threads: common.threads)
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        for dir in [outDir, out].compactMap({ $0 }) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw fail("cannot create \(dir): \(error)", code: SysExit.ioError)
            }
        }
        let classes = corpus.classes
        var experiment = ExperimentResults(commandLine: commandLine, classes: classes, variants: variants,
                                           folds: folds, options: setup.options)
        // What `train --all-groups` needs besides the cell, depth and epochs the selection picks.
        experiment.trainArguments = ["--task", common.task] + common.data.flatMap { ["--data", $0] }
            + common.trainOnly.flatMap { ["--train-only", $0] }
            + (["--hidden", setup.hidden.map(String.init).joined(separator: ","),
               "--dense", setup.dense.isEmpty ? "" : setup.dense.map(String.init).joined(separator: ","),
               "--batch", "\(common.batch)", "--lr", "\(common.lr)", "--beta2", "\(common.beta2)", "--l2", "\(common.l2)",
               "--min-crop", "\(common.minCrop)", "--seed", "\(seedList[0])"] + common.augmentationArguments).map(TrainingCLI.shellQuoted)
        seeds: for seed in seedList {
            var options = setup.options
            options.seed = seed
            let splits: [DataSplit]
            if let folds {
                splits = TrainingPipeline.crossValidationSplits(corpus: corpus, folds: folds, seed: seed)
            } else {
                splits = [corpus.groupedSplit(seed: seed)]
            }
            let prepared = splits.map { TrainingPipeline.prepare(corpus: corpus, cache: cache, split: $0, frontEnd: setup.frontEnd) }
            for (f, p) in prepared.enumerated() {
                printer.message("seed \(seed)" + (folds == nil ? ": " : " fold \(f + 1): ") + TrainingCLI.describe(p))
            }
            // The always-"hungry" (majority class) answer on the same test parts.
            let majority = classes.firstIndex(of: "hungry") ?? 0
            let pooledTest = prepared.flatMap { $0.split.test.map { corpus.clips[$0].label } }
            experiment.baselines.append(ClassificationReport(
                actual: pooledTest, predicted: pooledTest.map { _ in majority }, classes: classes))
            experiment.testClipCounts.append(pooledTest.count)
            var seedRows: [ExperimentRow] = []
            for (vi, v) in variants.enumerated() {
                let config = try setup.modelConfiguration(classes: classes, cell: v.cell, depth: v.depth)
                var actual: [Int] = [], predicted: [Int] = []
                var seconds = 0.0, epochsRun = 0, bestEpochs: [Int] = [], validationUARs: [Double] = [], foldUARs: [Double] = []
                var parameters = 0
                var curve: [Double] = []
                var outOfFold = PredictionTable(classes: classes)
                for (f, data) in prepared.enumerated() {
                    if flag.isRaised { break seeds }
                    let name = (folds == nil ? v.name : "\(v.name)-fold\(f + 1)") + (seedList.count > 1 ? "-seed\(seed)" : "")
                    printer.message("== \(name): \(v.cell.rawValue) depth \(v.depth)")
                    let (network, result) = try TrainingPipeline.train(
                        data: data, configuration: config, options: options,
                        batchDone: { printer.batchDone(epoch: $0, batch: $1, of: $2, loss: $3) },
                        epochDone: { printer.epochDone($0) },
                        shouldStop: { flag.isRaised })
                    if result.interrupted { break seeds }
                    let file = TrainingPipeline.modelFile(
                        network: network, data: data, result: result, options: options,
                        commandLine: commandLine, directories: common.data)
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
                            model: file, paths: testClips.map { corpus.clips[$0].path }, threads: common.threads,
                            pooling: options.pooling)
                    } catch {
                        throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
                    }
                    let foldActual = testClips.map { corpus.clips[$0].label }, foldPredicted = posteriors.map(argmax)
                    let foldReport = ClassificationReport(actual: foldActual, predicted: foldPredicted, classes: classes)
                    actual += foldActual
                    predicted += foldPredicted
                    for (clip, p) in zip(testClips, posteriors) {
                        outOfFold.rows.append(.init(file: corpus.clips[clip].path, group: corpus.clips[clip].group,
                                                    truth: corpus.clips[clip].label, fold: f + 1, probabilities: p))
                    }
                    foldUARs.append(foldReport.uar)
                    seconds += result.history.reduce(0) { $0 + $1.seconds }
                    epochsRun += result.history.count
                    bestEpochs.append(result.bestEpoch)
                    validationUARs.append(result.bestValidation?.uar ?? 0)
                    parameters = network.parameterCount
                    if f == 0 { curve = result.history.map(\.validationUAR) }
                    printer.message("\(name): test UAR \(formatFixed(foldReport.uar, 3)) macro-F1 \(formatFixed(foldReport.macroF1, 3))")
                }
                if let out {
                    // Every test decision with its posteriors, for calibration (crymodel calibrate) and the analysis.
                    let dir = out + "/predictions"
                    let path = dir + "/\(v.name)-seed\(seed).tsv"
                    do {
                        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                        try outOfFold.text().write(toFile: path, atomically: true, encoding: .utf8)
                    } catch {
                        throw fail("cannot write \(path): \(error)", code: SysExit.ioError)
                    }
                }
                if experiment.microsecondsPerFrame[vi] == nil {
                    // One streaming step (front-end frame through the network) on this thread.
                    experiment.microsecondsPerFrame[vi] = try? NetworkBenchmark.measureStep(configuration: config, seconds: 0.5).microsecondsPerStep
                }
                seedRows.append(ExperimentRow(
                    name: v.name, report: ClassificationReport(actual: actual, predicted: predicted, classes: classes),
                    parameters: parameters, secondsPerEpoch: seconds / Double(max(1, epochsRun)),
                    bestEpoch: bestEpochs.reduce(0, +) / bestEpochs.count, bestEpochs: bestEpochs, epochs: epochsRun / foldUARs.count,
                    validationUAR: validationUARs.reduce(0, +) / Double(validationUARs.count), foldUARs: foldUARs,
                    seed: seed, validationCurve: curve))
            }
            experiment.seeds.append(seed)
            experiment.rows.append(seedRows)
            let testCount = prepared.reduce(0) { $0 + $1.split.test.count }
            if json {
                for r in seedRows { print(r.jsonLine()) }
            } else {
                if let folds {
                    print("seed \(seed): grouped \(folds)-fold cross-validation: \(testCount) test decisions pooled over folds; per-fold selection on an inner validation part; decision \(options.pooling == .lastFrame ? "at the last frame" : "from the mean of the frames' log-posteriors")")
                } else {
                    print("seed \(seed): held-out test groups: \(testCount) clips; selection on validation UAR; decision at the last frame")
                }
                print(ExperimentRow.table(seedRows, classes: classes), terminator: "")
            }
            if folds != nil, !json, let selection = experiment.selection { print(selection.text) }
            // Written after every seed, so an interrupted run still leaves the finished seeds.
            if let out { try writeReport(experiment, to: out, printer: printer) }
        }
        if flag.isRaised, let out, !experiment.rows.isEmpty {
            printer.message("interrupted: \(out) holds the \(experiment.seeds.count) finished seed(s)")
        }
    }

    private func writeReport(_ experiment: ExperimentResults, to dir: String, printer: TrainingProgressPrinter) throws {
        let plot = SVGLinePlot(
            title: "Validation UAR per epoch (seed \(experiment.seeds[0])" + (experiment.folds == nil ? ")" : ", fold 1)"),
            xLabel: "epoch", yLabel: "validation UAR",
            series: experiment.rows[0].map { SVGLinePlot.Series(name: $0.name, values: $0.validationCurve) },
            references: [.init(label: "chance 0.20", y: 0.2)])
        for (name, text) in [("report.md", experiment.markdown()), ("validation-uar.svg", plot.render())] {
            let path = dir + "/" + name
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(path): \(error)", code: SysExit.ioError)
            }
        }
        printer.message("wrote \(dir)/report.md and \(dir)/validation-uar.svg (\(experiment.seeds.count) seed(s))")
    }
}

struct ExperimentVariant {
    var name: String
    var cell: CellKind
    var depth: Int
}

/// Everything `experiment --out` reports: rows[seed][variant].
struct ExperimentResults {
    var commandLine: String
    var classes: [String]
    var variants: [ExperimentVariant]
    var folds: Int?
    var options: TrainingOptions
    var seeds: [UInt64] = []
    var rows: [[ExperimentRow]] = []
    var baselines: [ClassificationReport] = []
    var testClipCounts: [Int] = []
    var microsecondsPerFrame: [Int: Double] = [:]
    /// `crymodel train` options for the selected model, except cell, depth and epochs.
    var trainArguments: [String] = []

    /// With cross-validation: the model with the best mean pooled UAR over the seeds, and
    /// the epoch count to train it for on every group: the mean of its folds' best epochs
    /// (each chosen by that fold's inner validation part), rounded.
    var selection: (variant: ExperimentVariant, uar: Double, epochs: Int, text: String)? {
        guard folds != nil, !rows.isEmpty else { return nil }
        let means = variants.indices.map { v in SpreadStatistics(rows.map { $0[v].report.uar }).mean }
        let epochs = variants.indices.map { v in rows.flatMap { $0[v].bestEpochs } }
        guard let (v, n) = CrossValidationSelection.select(meanUARs: means, bestEpochs: epochs) else { return nil }
        let variant = variants[v]
        let command = (["crymodel", "train"] + trainArguments
            + ["--cell", variant.cell.rawValue] + (variant.cell == .attgate ? ["--depth", "\(variant.depth)"] : [])
            + ["--epochs", "\(n)", "--all-groups", "--out", "MODEL.safetensors"]).joined(separator: " ")
        let text = "selected by cross-validation: \(variant.name) (mean pooled UAR \(formatFixed(means[v], 3)); "
            + "best epochs per fold \(epochs[v].map(String.init).joined(separator: ", ")) -> \(n) epochs)\n"
            + "train it on every group with:\n    \(command)"
        return (variant, means[v], n, text)
    }

    func markdown() -> String {
        let n = seeds.count
        var s = "# The paper's experiment on Donate-a-Cry (public data)\n\n"
        s += "Generated by `crymodel experiment`:\n\n    \(commandLine)\n\n"
        let how = folds.map { "grouped \($0)-fold cross-validation per seed (test decisions pooled over the folds; early stopping on an inner validation part)" }
            ?? "one grouped split per seed (by group id: 60% train / 20% validation / 20% test of the groups); early stopping on validation UAR; scored once on the test part"
        s += "Seeds \(seeds.map(String.init).joined(separator: ", ")): \(how). Every model gets the same split, seed, sampling and options "
        s += "(epochs ≤ \(options.epochs), patience \(options.patience), batch \(options.batchSize), lr \(options.learningRate), beta2 \(options.beta2), L2 \(options.l2)). "
        s += "Test clips per seed: \(testClipCounts.map(String.init).joined(separator: ", ")); per class (seed \(seeds[0])): "
        s += classes.indices.map { "\(classes[$0]) \(baselines[0].perClass[$0].count)" }.joined(separator: ", ") + ".\n\n"
        let cellNote = n > 1 ? "mean ± sample standard deviation across the \(n) seeds" : "one seed"
        s += "## Table 2 form: per-class recall and F1 on the test part (\(cellNote))\n\n"
        s += "| class | " + variants.map { "\($0.name) recall | \($0.name) F1" }.joined(separator: " | ") + " | always-hungry recall | always-hungry F1 |\n"
        s += "|---|" + String(repeating: "---|", count: 2 * variants.count + 2) + "\n"
        func stat(_ values: [Double]) -> String { SpreadStatistics(values).formatted(2, range: false) }
        for c in classes.indices {
            s += "| \(classes[c]) | "
            s += variants.indices.map { v in
                let present = rows.map { $0[v].report.perClass[c].count > 0 }
                let r = rows.indices.map { present[$0] ? rows[$0][v].report.perClass[c].recall : .nan }
                let f = rows.indices.map { present[$0] ? rows[$0][v].report.perClass[c].f1 : .nan }
                return stat(r) + " | " + stat(f)
            }.joined(separator: " | ")
            s += " | " + stat(baselines.map { $0.perClass[c].count > 0 ? $0.perClass[c].recall : .nan })
            s += " | " + stat(baselines.map { $0.perClass[c].count > 0 ? $0.perClass[c].f1 : .nan }) + " |\n"
        }
        s += "| **average** | " + variants.indices.map { v in
            "**" + stat(rows.map { $0[v].report.uar }) + "** | **" + stat(rows.map { $0[v].report.macroF1 }) + "**"
        }.joined(separator: " | ")
        s += " | " + stat(baselines.map(\.uar)) + " | " + stat(baselines.map(\.macroF1)) + " |\n\n"
        s += "The average row's recall is the UAR, its F1 the macro-F1.\n\n"
        s += "## Summary per model\n\n"
        s += "| model | UAR mean ± sd (min-max) | macro-F1 mean ± sd (min-max) | UAR per seed | params | train s/epoch | µs/frame (streaming step) | best / run epochs | best val UAR |\n"
        s += "|---|---|---|---|---|---|---|---|---|\n"
        for (v, variant) in variants.enumerated() {
            let r = rows.map { $0[v] }
            let us = microsecondsPerFrame[v].map { formatFixed($0, 1) } ?? "n/a"
            s += "| \(variant.name) | \(SpreadStatistics(r.map(\.report.uar)).formatted()) | \(SpreadStatistics(r.map(\.report.macroF1)).formatted())"
            s += " | \(r.map { formatFixed($0.report.uar, 3) }.joined(separator: ", ")) | \(r[0].parameters)"
            s += " | \(formatFixed(SpreadStatistics(r.map(\.secondsPerEpoch)).mean, 1)) | \(us)"
            s += " | \(r.map { "\($0.bestEpoch)/\($0.epochs)" }.joined(separator: ", ")) | \(SpreadStatistics(r.map(\.validationUAR)).formatted(3, range: false)) |\n"
        }
        s += "| chance | 0.200 | | | | | | | |\n"
        s += "| always hungry | \(SpreadStatistics(baselines.map(\.uar)).formatted()) | \(SpreadStatistics(baselines.map(\.macroF1)).formatted())"
        s += " | \(baselines.map { formatFixed($0.uar, 3) }.joined(separator: ", ")) | 0 | | | | |\n\n"
        s += "Train s/epoch is wall time per epoch (gradients on \(options.threads) threads plus validation), mean over seeds, on a machine shared with other jobs: it varies with the load. "
        s += "µs/frame: one streaming network step per 10 ms frame on one thread (`NetworkBenchmark.measureStep`), front end excluded.\n\n"
        s += "Validation UAR per epoch (seed \(seeds[0])): [validation-uar.svg](validation-uar.svg).\n"
        if let selection {
            s += "\n## Selection\n\nThe model with the best mean cross-validated UAR, and the mean of its folds' best epochs "
            s += "(each fold's early stopping looked only at that fold's inner validation part):\n\n"
            s += selection.text.split(separator: "\n").map { $0.hasPrefix("    ") ? String($0) : "    " + $0 }.joined(separator: "\n")
            s += "\n\nThe differences between models are to be read against the spread across folds and seeds above: "
            s += "a selection among models at chance picks noise.\n"
        }
        return s
    }
}

struct ExperimentRow {
    var name: String
    var report: ClassificationReport
    var parameters: Int
    var secondsPerEpoch: Double
    var bestEpoch: Int
    /// Best epoch of each fold (one value without --folds).
    var bestEpochs: [Int] = []
    var epochs: Int
    var validationUAR: Double
    /// Test UAR of each fold (one value without --folds).
    var foldUARs: [Double] = []
    var seed: UInt64 = 1
    /// Validation UAR after each epoch (first fold).
    var validationCurve: [Double] = []

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
        return "{\"model\":\(TrainingCLI.jsonString(name)),\"seed\":\(seed),\"uar\":\(formatFixed(report.uar, 4)),\"macro_f1\":\(formatFixed(report.macroF1, 4)),\"parameters\":\(parameters),\"seconds_per_epoch\":\(formatFixed(secondsPerEpoch, 2)),\"best_epoch\":\(bestEpoch),\"epochs\":\(epochs),\"validation_uar\":\(formatFixed(validationUAR, 4)),\"fold_uars\":[\(foldUARs.map { formatFixed($0, 4) }.joined(separator: ","))],\"per_class\":{\(perClass)}}"
    }
}
