import ArgumentParser
import CryModel
import CryTraining
import Foundation

/// `crymodel evaluate`: per-class recall/precision/F1, UAR, macro-F1 and the confusion
/// matrix of a model on a corpus, decided at each file's last frame through the same
/// streaming path as the daemon (streaming front end + `StreamingClassifier`).
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a model on <dir>/<class>/*.wav corpora (UAR, macro-F1, per class).")

    @Option(help: "Model file.") var model: String
    @Option(name: .customLong("data"), help: "Corpus folder <dir>/<class>/*.wav (repeatable).")
    var data: [String] = []
    @Option(help: "all: every clip; test: only the held-out groups recorded in the model file.")
    var split: String = "all"
    @Flag(help: "JSON output (uar, macro_f1, per_class, confusion, log_loss, brier, ece, prior_log_loss, ...).") var json = false
    @Option(help: "Also write one line per clip to this TSV file: file, group, truth and each class's (calibrated) probability.")
    var predictions: String?
    @Option(help: "Threads.") var threads: Int = 2

    func run() throws {
        guard split == "all" || split == "test" else { throw TrainingCLI.usage("--split must be all or test, not '\(split)'") }
        guard !data.isEmpty else { throw TrainingCLI.usage("give at least one --data DIR") }
        let file = try TrainingCLI.loadModel(model)
        let config = file.configuration
        var clips: [Clip]
        let classes = config.classes
        do {
            let task: TrainingTask = config.task == .cause ? .cause : .detect
            clips = try Corpus.load(directories: data, task: task, classes: classes).clips
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        if split == "test" {
            guard let groups = TrainingPipeline.testGroups(of: file) else {
                throw fail("\(model): no test_groups in the model's metadata (not written by crymodel train); use --split all",
                           code: SysExit.dataError)
            }
            guard file.extras["all_groups"] != "true" else {
                throw fail("\(model): trained on every group (--all-groups), so it has no held-out test groups; its figures are the cross-validation ones that chose it (crymodel experiment --folds)",
                           code: SysExit.dataError)
            }
            clips = clips.filter { groups.contains($0.group) }
            guard !clips.isEmpty else {
                throw fail("none of the model's \(groups.count) held-out groups is in \(data.joined(separator: ", ")) (pass the folder it was trained on)",
                           code: SysExit.dataError)
            }
        }
        let posteriors: [[Float]]
        do {
            posteriors = try StreamingEvaluation.lastFramePosteriors(model: file, paths: clips.map(\.path), threads: threads,
                                                                     pooling: TrainingPipeline.pooling(of: file))
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        // What a parent would see: the calibrated posteriors (the network's own, for a model
        // without calibration). UAR and macro-F1 score the class-balanced decision, the
        // network's own argmax (= argmax q_k / exp(b_k)), which calibration does not change.
        let stored = file.calibration
        let calibration = stored ?? .identity(classCount: classes.count)
        let calibrated = posteriors.map(calibration.calibrated)
        let labels = clips.map(\.label)
        let report = ClassificationReport(actual: labels, predicted: posteriors.map(argmax), classes: classes)
        // The prior of prior_log_loss: the calibration's (the training data's class frequencies);
        // a model without one is compared with the class frequencies recorded at training, else
        // with the evaluated clips' own (which favours the prior).
        let prior: [Double], priorSource: String
        if let stored {
            (prior, priorSource) = (stored.prior, "calibration")
        } else if let counts = TrainingPipeline.trainingClassCounts(of: file), counts.count == classes.count {
            let n = Double(counts.reduce(0, +))
            (prior, priorSource) = (counts.map { Double($0) / n }, "training_class_counts")
        } else {
            var counts = [Double](repeating: 0, count: classes.count)
            for y in labels { counts[y] += 1 }
            (prior, priorSource) = (counts.map { $0 / Double(max(1, labels.count)) }, "evaluated_clips")
        }
        let scores = ProbabilityScores(posteriors: calibrated, labels: labels, prior: prior)
        if let predictions {
            let table = PredictionTable(classes: classes, rows: zip(clips, calibrated).map {
                .init(file: $0.path, group: $0.group, truth: $0.label, probabilities: $1)
            })
            do { try table.text().write(toFile: predictions, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(predictions): \(error)", code: SysExit.ioError)
            }
        }
        if json {
            var out = EvaluationJSON(model: model, split: split, report: report)
            out.log_loss = scores.logLoss
            out.brier = scores.brier
            out.ece = scores.ece
            out.prior_log_loss = scores.priorLogLoss
            out.prior_source = priorSource
            out.calibrated = stored != nil
            print(out.encoded())
        } else {
            print("\(model) on \(clips.count) clips (\(split == "test" ? "held-out test groups" : "all clips")), decision at the last frame"
                  + (stored == nil ? " (uncalibrated model):" : ", class-balanced (the network's argmax; calibration does not change it):"))
            print(report.formattedTable(), terminator: "")
            print("log-loss \(formatFixed(scores.logLoss, 3)) (prior: \(formatFixed(scores.priorLogLoss, 3))), Brier \(formatFixed(scores.brier, 3)), ECE \(formatFixed(scores.ece, 3))"
                  + (stored == nil ? ", of the network's own posteriors" : ", of the calibrated posteriors"))
        }
    }
}

/// The `--json` shape: stable field names for scripts.
struct EvaluationJSON: Encodable {
    struct PerClass: Encodable { var recall, precision, f1: Double; var count: Int }
    var model: String
    var split: String
    var clips: Int
    var uar: Double
    var macro_f1: Double
    var accuracy: Double
    var classes: [String]
    var per_class: [String: PerClass]
    var average: PerClass
    var confusion: [[Int]]
    /// Of the posteriors a parent sees (calibrated when the model has a calibration).
    var log_loss: Double = 0
    var brier: Double = 0
    /// Expected calibration error, 10 equal-width bins of the top probability.
    var ece: Double = 0
    /// Log-loss of always answering the prior (`prior_source`: calibration, training_class_counts or evaluated_clips).
    var prior_log_loss: Double = 0
    var prior_source = ""
    var calibrated = false

    init(model: String, split: String, report r: ClassificationReport) {
        self.model = model
        self.split = split
        clips = r.confusion.total
        uar = r.uar
        macro_f1 = r.macroF1
        accuracy = r.accuracy
        classes = r.classes
        per_class = Dictionary(uniqueKeysWithValues: r.classes.indices.map {
            (r.classes[$0], PerClass(recall: r.perClass[$0].recall, precision: r.perClass[$0].precision,
                                     f1: r.perClass[$0].f1, count: r.perClass[$0].count))
        })
        average = PerClass(recall: r.average.recall, precision: r.average.precision, f1: r.average.f1, count: r.average.count)
        confusion = r.confusion.counts
    }

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
