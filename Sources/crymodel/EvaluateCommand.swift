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
    @Flag(help: "JSON output (uar, macro_f1, per_class, confusion, ...).") var json = false
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
            posteriors = try StreamingEvaluation.lastFramePosteriors(model: file, paths: clips.map(\.path), threads: threads)
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        let report = ClassificationReport(actual: clips.map(\.label), predicted: posteriors.map(argmax), classes: classes)
        if json {
            print(EvaluationJSON(model: model, split: split, report: report).encoded())
        } else {
            print("\(model) on \(clips.count) clips (\(split == "test" ? "held-out test groups" : "all clips")), decision at the last frame:")
            print(report.formattedTable(), terminator: "")
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
