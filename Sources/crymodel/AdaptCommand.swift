import ArgumentParser
import CryAdaptation
import CryModel
import Features
import Foundation

/// `crymodel adapt`: the shipped models adapted to one home's labelled episodes.
struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt the shipped detector and cause models to the episodes labelled in one home.",
        discussion: """
            Reads the labelled episodes (episode-<N>.json with labels + episode-<N>.wav, kept by \
            babymonitord and labelled with `monitorctl label`): `not-cry` episodes become detector \
            negatives, `cry` and cause-labelled ones positives, cause labels train the cause model. \
            Each model is fine-tuned from the shipped weights (few steps, small learning rate, a \
            penalty on the distance to the shipped weights) while rehearsing a compact sample of \
            the shipped training material (--rehearsal). Prints, for each model, figures on \
            held-out episodes (each scored by a model adapted without it) before and after, and \
            the rehearsal check; writes <out-dir>/detector.safetensors and cause.safetensors, \
            except a model that does worse than the shipped one on the rehearsal check (refused: \
            exit 1). Exit 65 for unreadable episodes, models or rehearsal sample.
            """)

    @Option(help: "Directory of kept episodes (the daemon's [episodes] dir).") var episodes: String
    @Option(help: "The shipped detector model (adaptation always starts from it).") var detector: String
    @Option(help: "The shipped cause model.") var cause: String
    @Option(name: .customLong("out-dir"), help: "Where to write the adapted models (the daemon's [models] adapted_dir).")
    var outDir: String
    @Option(help: "Rehearsal sample (default: rehearsal.safetensors beside --detector).") var rehearsal: String?
    @Option(help: "Adam steps.") var steps = AdaptationOptions().steps
    @Option(help: "Crops per step (half episodes, half rehearsal).") var batch = AdaptationOptions().batch
    @Option(help: "Learning rate.") var lr: Float = AdaptationOptions().learningRate
    @Option(help: "Strength of the pull toward the shipped weights (anchor/2 * ||theta - theta0||^2).")
    var anchor: Float = AdaptationOptions().anchor
    @Option(name: .customLong("max-drop"), help: "Refuse a model whose rehearsal-check UAR is this much below the shipped one's.")
    var maxDrop = AdaptationOptions().maxDrop
    @Option(help: "Weights to adapt: all, or head (dense and softmax layers; the recurrent layers stay as shipped).")
    var layers: String = AdaptationOptions().layers.rawValue
    @Option(name: .customLong("threshold-margin"),
            help: "Detector: its own on-threshold this far (logit units) below the weakest labelled cry's alarm score.")
    var thresholdMargin: Float = AdaptationOptions().thresholdMargin
    @Option(name: .customLong("threshold-folds"),
            help: "Detector: also keep the operating point below the labelled cries' scores under models adapted without them (K folds; 0: in-sample only).")
    var thresholdFolds = AdaptationOptions().thresholdFolds
    @Flag(name: .customLong("no-operating-point"),
          help: "Detector: record no on-threshold of its own (the daemon keeps [detector] on_threshold).")
    var noOperatingPoint = false
    @Option(name: .customLong("episode-loss"),
            help: "Detector: where an episode's crop carries its loss: window (the window that decides the alarm) or frames (every labelled frame).")
    var episodeLoss: String = AdaptationOptions().episodeLoss.rawValue
    @Option(name: .customLong("logit-target"), help: "Detector, window loss: pull the window toward this logit of its label (squared error) instead of cross-entropy.")
    var logitTarget: Float?
    @Option(help: "Held-out figures: 0 leaves one episode out at a time; K uses K folds of episodes.") var folds = 0
    @Flag(name: .customLong("no-evaluate"), help: "Skip the held-out figures (the adaptation alone).") var noEvaluate = false
    @Option(help: "Seed for crops and batches.") var seed: UInt64 = 1
    @Flag(help: "Print the report as one JSON object.") var json = false

    func validate() throws {
        guard steps >= 0, steps <= 100_000 else { throw ValidationError("--steps must be 0...100000, got \(steps)") }
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2, got \(batch)") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard anchor >= 0, anchor.isFinite else { throw ValidationError("--anchor must be 0 or more, got \(anchor)") }
        guard AdaptedLayers(rawValue: layers) != nil else {
            throw ValidationError("--layers must be one of \(AdaptedLayers.allCases.map(\.rawValue).joined(separator: ", ")), got '\(layers)'")
        }
        guard thresholdMargin >= 0, thresholdMargin.isFinite else { throw ValidationError("--threshold-margin must be 0 or more, got \(thresholdMargin)") }
        guard EpisodeLoss(rawValue: episodeLoss) != nil else {
            throw ValidationError("--episode-loss must be one of \(EpisodeLoss.allCases.map(\.rawValue).joined(separator: ", ")), got '\(episodeLoss)'")
        }
        guard thresholdFolds >= 0, thresholdFolds <= 100 else { throw ValidationError("--threshold-folds must be 0...100, got \(thresholdFolds)") }
        guard folds >= 0 else { throw ValidationError("--folds must be 0 or more, got \(folds)") }
    }

    func run() throws {
        var options = AdaptationOptions()
        options.steps = steps
        options.batch = batch
        options.learningRate = lr
        options.anchor = anchor
        options.maxDrop = maxDrop
        options.seed = seed
        options.layers = AdaptedLayers(rawValue: layers) ?? .all
        options.thresholdMargin = thresholdMargin
        options.thresholdFolds = thresholdFolds
        options.operatingPoint = !noOperatingPoint
        options.logitTarget = logitTarget
        options.episodeLoss = EpisodeLoss(rawValue: episodeLoss) ?? .frames
        let started = Date()
        let quiet = json
        func progress(_ s: String) { if !quiet { var e = StandardError(); print("crymodel adapt: \(s)", to: &e) } }
        let adaptation = HomeAdaptation(options: options, folds: folds, evaluate: !noEvaluate)
        var reports: [HomeAdaptation.RoleReport] = []
        let labelled: [LabelledEpisode]
        do {
            let frontEnd = try CryModelFile.load(path: detector).configuration.frontEnd
            labelled = try LabelledEpisode.load(directory: episodes, frontEnd: frontEnd)
            let samplePath = rehearsal ?? ((detector as NSString).deletingLastPathComponent + "/rehearsal.safetensors")
            let sample = try RehearsalSample.load(path: samplePath)
            guard !labelled.isEmpty else {
                throw AdaptationError.data("\(episodes): no labelled episode (label them with `monitorctl label EPISODE LABEL`)")
            }
            progress("\(labelled.count) labelled episodes in \(episodes)")
            for (role, path) in [(AdaptedRole.detector, detector), (.cause, cause)] {
                reports.append(try adaptation.run(role: role, basePath: path, episodes: labelled, sample: sample,
                                                  outDir: outDir, progress: progress))
            }
        } catch let error as AdaptationError {
            if case .io = error { throw fail(error.description, code: SysExit.ioError) }
            throw fail(error.description, code: SysExit.dataError)
        } catch {
            throw fail("\(error)", code: SysExit.dataError)
        }
        let total = Date().timeIntervalSince(started)
        if json {
            print(Self.json(reports, episodes: labelled.count, seconds: total))
        } else {
            print(Self.text(reports, episodes: labelled.count, seconds: total))
        }
        let refusals = reports.compactMap(\.refusal)
        if !refusals.isEmpty {
            for r in refusals { _ = fail(r, code: SysExit.failure) }
            throw SysExit.failure
        }
    }

    static func rate(_ v: (right: Int, total: Int)?) -> String {
        guard let v, v.total > 0 else { return "-" }
        return "\(v.right)/\(v.total)"
    }

    static func text(_ reports: [HomeAdaptation.RoleReport], episodes: Int, seconds: Double) -> String {
        var lines = ["labelled episodes: \(episodes)"]
        for r in reports {
            lines.append("")
            lines.append("\(r.role.rawValue): \(r.episodes) episodes (" + r.perClass.keys.sorted().map { "\($0) \(r.perClass[$0]!)" }.joined(separator: ", ") + ")")
            if let s = r.skipped { lines.append("  not adapted: \(s)"); continue }
            if r.role == .detector {
                lines.append("  operating point: " + (r.onThreshold.map { "on_threshold \(String(format: "%.4f", $0)) (its own)" } ?? "the configured on_threshold"))
                lines.append("  labelled episodes decided right / total, shipped -> adapted (at its operating point):")
                for name in r.alarmsBefore.keys.sorted() {
                    lines.append("    \(name): \(rate(r.alarmsBefore[name])) -> \(rate(r.alarmsAfter[name]))")
                }
                for name in r.alarmScores.keys.sorted() {
                    lines.append("  alarm scores, \(name): " + r.alarmScores[name]!.sorted().map { String(format: "%.4f", $0) }.joined(separator: " "))
                }
            }
            if let a = r.rehearsalAUCBefore, let b = r.rehearsalAUCAfter {
                lines.append("  rehearsal check AUC: shipped \(fmt3(a)), adapted \(fmt3(b))")
                lines.append("  rehearsal UAR at each model's operating point: shipped \(fmt3(r.rehearsalBefore)), adapted \(fmt3(r.rehearsalAfter))")
            } else {
                lines.append("  rehearsal check UAR: shipped \(fmt3(r.rehearsalBefore)), adapted \(fmt3(r.rehearsalAfter))")
            }
            if r.heldOutFolds > 0 {
                let kind = r.heldOutFolds == r.episodes ? "leave-one-episode-out" : "\(r.heldOutFolds) folds of episodes"
                lines.append("  held-out episodes (\(kind)), decided right / total, shipped -> adapted:")
                for name in r.heldOutBefore.keys.sorted() {
                    lines.append("    \(name): \(rate(r.heldOutBefore[name])) -> \(rate(r.heldOutAfter[name]))")
                }
            }
            lines.append("  time: adaptation \(fmt1(r.seconds)) s" + (r.heldOutFolds > 0 ? ", held-out figures \(fmt1(r.heldOutSeconds)) s" : ""))
            if let w = r.written { lines.append("  written: \(w)") }
            if let refusal = r.refusal { lines.append("  REFUSED: \(refusal)") }
        }
        lines.append("")
        lines.append("total time: \(fmt1(seconds)) s")
        return lines.joined(separator: "\n")
    }

    static func json(_ reports: [HomeAdaptation.RoleReport], episodes: Int, seconds: Double) -> String {
        func counts(_ d: [String: (right: Int, total: Int)]) -> String {
            "{" + d.keys.sorted().map { "\"\($0)\":{\"right\":\(d[$0]!.right),\"total\":\(d[$0]!.total)}" }.joined(separator: ",") + "}"
        }
        func str(_ s: String?) -> String {
            guard let s else { return "null" }
            let data = try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
            let text = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
            return String(text.dropFirst().dropLast())
        }
        let roles = reports.map { r in
            "\"\(r.role.rawValue)\":{\"episodes\":\(r.episodes),\"per_class\":{" + r.perClass.keys.sorted().map { "\"\($0)\":\(r.perClass[$0]!)" }.joined(separator: ",")
                + "},\"rehearsal_uar_before\":\(fmt3(r.rehearsalBefore)),\"rehearsal_uar_after\":\(fmt3(r.rehearsalAfter))"
                + ",\"rehearsal_auc_before\":\(r.rehearsalAUCBefore.map(fmt3) ?? "null"),\"rehearsal_auc_after\":\(r.rehearsalAUCAfter.map(fmt3) ?? "null")"
                + ",\"on_threshold\":\(r.onThreshold.map { String(format: "%.6f", $0) } ?? "null")"
                + ",\"labelled_before\":\(counts(r.alarmsBefore)),\"labelled_after\":\(counts(r.alarmsAfter))"
                + ",\"held_out_folds\":\(r.heldOutFolds),\"held_out_before\":\(counts(r.heldOutBefore)),\"held_out_after\":\(counts(r.heldOutAfter))"
                + ",\"seconds\":\(fmt1(r.seconds)),\"held_out_seconds\":\(fmt1(r.heldOutSeconds))"
                + ",\"written\":\(str(r.written)),\"refused\":\(str(r.refusal)),\"skipped\":\(str(r.skipped))}"
        }
        return "{\"labelled_episodes\":\(episodes)," + roles.joined(separator: ",") + ",\"seconds\":\(fmt1(seconds))}"
    }
}

func fmt3(_ x: Double) -> String { String(format: "%.3f", x) }
func fmt1(_ x: Double) -> String { String(format: "%.1f", x) }
