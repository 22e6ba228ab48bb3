import Foundation
import CryModel

/// `crymodel adapt`: both models adapted to one home's labelled episodes, checked, scored on
/// held-out episodes, and written (each only if it is not worse than the shipped one on the
/// rehearsal check).
public struct HomeAdaptation {
    public struct RoleReport: Sendable {
        public var role: AdaptedRole
        /// Episodes this role learnt from, and per target class how many.
        public var episodes: Int
        public var perClass: [String: Int]
        /// Rehearsal-check UAR of the shipped and the adapted model.
        public var rehearsalBefore = 0.0, rehearsalAfter = 0.0
        /// Detector: the rehearsal check's figure, the area under the ROC curve of the check
        /// crops' alarm scores (cry against not-cry), shipped and adapted (nil for the cause).
        public var rehearsalAUCBefore: Double?, rehearsalAUCAfter: Double?
        /// Held-out episodes: each scored by a model adapted without it.
        public var heldOutFolds = 0
        public var heldOutBefore: [String: (right: Int, total: Int)] = [:]
        public var heldOutAfter: [String: (right: Int, total: Int)] = [:]
        public var written: String?
        public var refusal: String?
        public var skipped: String?
        public var seconds = 0.0
        public var heldOutSeconds = 0.0
        /// Detector: the adapted model's own on-threshold (nil: it runs at the configured one),
        /// and how many labelled cries / false alarms (not-cry) still alarm at it, shipped (at
        /// the options' threshold) and adapted (at its own), on the episodes it learnt from.
        public var onThreshold: Float?
        public var alarmsBefore: [String: (right: Int, total: Int)] = [:]
        public var alarmsAfter: [String: (right: Int, total: Int)] = [:]
        /// Detector: each labelled episode's alarm score under the adapted model, per class.
        public var alarmScores: [String: [Float]] = [:]
    }

    public var options: AdaptationOptions
    /// 0: leave one episode out; K: K folds of episodes (each episode held out once).
    public var folds: Int
    public var evaluate: Bool

    public init(options: AdaptationOptions, folds: Int = 10, evaluate: Bool = true) {
        self.options = options
        self.folds = folds
        self.evaluate = evaluate
    }

    /// Adapts one role; writes `<outDir>/<role>.safetensors` unless refused or there is
    /// nothing to learn.
    public func run(role: AdaptedRole, basePath: String, episodes: [LabelledEpisode], sample: RehearsalSample,
                    outDir: String, progress: (String) -> Void) throws -> RoleReport {
        let base: CryModelFile
        do { base = try CryModelFile.load(path: basePath) } catch {
            throw AdaptationError.data("\(basePath): \(error)")
        }
        let expected = role == .detector ? "detect" : "cause"
        guard base.configuration.task.rawValue == expected else {
            throw AdaptationError.data("\(basePath): model task is '\(base.configuration.task.rawValue)', expected '\(expected)' for --\(role.rawValue)")
        }
        let adapter = ModelAdapter(role: role, base: base, options: options)
        let items = adapter.items(episodes)
        var report = RoleReport(role: role, episodes: items.count, perClass: [:])
        for item in items { report.perClass[base.configuration.classes[item.target], default: 0] += 1 }
        guard !items.isEmpty else {
            report.skipped = role == .cause ? "no episode has a cause label" : "no labelled episode"
            return report
        }
        let (fit, check) = try adapter.rehearsal(sample)

        let started = Date()
        progress("\(role.rawValue): adapting on \(items.count) episodes (\(options.steps) steps)")
        let adapted = adapter.fineTune(episodes: items, rehearsal: fit)
        let point = role == .detector ? operatingPoint(adapter, adapted, items, rehearsal: fit) : nil
        report.onThreshold = point
        if role == .detector {
            // How the labelled episodes themselves are decided: an alarm (right for a cry,
            // wrong for a not-cry) at each model's operating point.
            let at = adapterAt(adapter, point)
            for item in items {
                let name = base.configuration.classes[item.target]
                report.alarmsBefore[name, default: (0, 0)].total += 1
                report.alarmsAfter[name, default: (0, 0)].total += 1
                if adapter.decide(base, item) == item.target { report.alarmsBefore[name]!.right += 1 }
                if at.decide(adapted, item) == item.target { report.alarmsAfter[name]!.right += 1 }
                report.alarmScores[name, default: []].append(adapter.alarmScore(adapted, item))
            }
        }
        if role == .detector {
            // Each check crop's alarm score, once per model: its decision at any operating
            // point (an alarm iff score >= on_threshold) and the threshold-free AUC.
            let before = check.map { adapter.alarmScore(base, $0) }
            let after = check.map { adapter.alarmScore(adapted, $0) }
            let isCry = check.map { $0.target == adapter.cryIndex }
            report.rehearsalBefore = ModelAdapter.uar(scores: before, isCry: isCry, onThreshold: options.onThreshold)
            // The adapted model is decided where it will run: at its own operating point.
            report.rehearsalAfter = ModelAdapter.uar(scores: after, isCry: isCry, onThreshold: point ?? options.onThreshold)
            report.rehearsalAUCBefore = ModelAdapter.auc(scores: before, isCry: isCry)
            report.rehearsalAUCAfter = ModelAdapter.auc(scores: after, isCry: isCry)
        } else {
            report.rehearsalBefore = adapter.uar(base, check)
            report.rehearsalAfter = adapter.uar(adapted, check)
        }
        report.seconds = Date().timeIntervalSince(started)

        if evaluate && items.count >= 2 {
            let heldOutStart = Date()
            let k = folds <= 0 ? items.count : min(folds, items.count)
            report.heldOutFolds = k
            // Fold f holds out the items i with i % k == f (episodes in number order).
            for f in 0..<k {
                progress("\(role.rawValue): held-out fold \(f + 1)/\(k)")
                let train = items.indices.filter { $0 % k != f }.map { items[$0] }
                let test = items.indices.filter { $0 % k == f }.map { items[$0] }
                let model = adapter.fineTune(episodes: train, rehearsal: fit)
                let at = adapterAt(adapter, role == .detector ? operatingPoint(adapter, model, train, rehearsal: fit) : nil)
                for item in test {
                    let name = base.configuration.classes[item.target]
                    report.heldOutBefore[name, default: (0, 0)].total += 1
                    report.heldOutAfter[name, default: (0, 0)].total += 1
                    if adapter.decide(base, item) == item.target { report.heldOutBefore[name]!.right += 1 }
                    if at.decide(model, item) == item.target { report.heldOutAfter[name]!.right += 1 }
                }
            }
            report.heldOutSeconds = Date().timeIntervalSince(heldOutStart)
        }

        // The check: the detector's AUC (how well it still tells the shipped training
        // material's cries from its other sounds, wherever its operating point went), the
        // cause model's UAR.
        let (checkName, was, now) = role == .detector
            ? ("AUC", report.rehearsalAUCBefore ?? 0, report.rehearsalAUCAfter ?? 0)
            : ("UAR", report.rehearsalBefore, report.rehearsalAfter)
        if now < was - options.maxDrop {
            report.refusal = "\(role.rawValue): the adapted model does worse than the shipped one on the rehearsal check "
                + "(\(checkName) \(fmt(now)) against \(fmt(was)), more than \(fmt(options.maxDrop)) lower): not written"
            return report
        }
        var out = adapted
        let labelCount = episodes.filter { role == .detector || $0.cause != nil }.reduce(0) { $0 + $1.labelCount }
        out.extras["adapted_from"] = basePath
        out.extras["adapted_from_bytes"] = String((try? FileManager.default.attributesOfItem(atPath: basePath)[.size] as? Int) ?? 0)
        out.extras["adapted_episodes"] = String(items.count)
        out.extras["adapted_labels"] = String(labelCount)
        out.extras["adapted_per_class"] = report.perClass.keys.sorted().map { "\($0)=\(report.perClass[$0]!)" }.joined(separator: ",")
        out.extras["adapted_with"] = "crymodel adapt: steps \(options.steps), batch \(options.batch), lr \(options.learningRate), anchor \(options.anchor), episode loss \(options.episodeLoss.rawValue), threshold folds \(options.thresholdFolds), margin \(options.thresholdMargin), seed \(options.seed)"
        out.extras["adapted_rehearsal_uar"] = "\(fmt(report.rehearsalBefore)) -> \(fmt(report.rehearsalAfter))"
        if let a = report.rehearsalAUCBefore, let b = report.rehearsalAUCAfter {
            out.extras["adapted_rehearsal_auc"] = "\(fmt(a)) -> \(fmt(b))"
        }
        out.extras["adapted_at"] = ISO8601DateFormatter().string(from: Date())
        out.extras["adapted_layers"] = options.layers.rawValue
        out.extras[CryModelFile.onThresholdKey] = nil
        if let point { out.extras[CryModelFile.onThresholdKey] = String(format: "%.6f", point) }
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let final = outDir + "/\(role.rawValue).safetensors"
        let temp = outDir + "/.\(role.rawValue).safetensors.tmp"
        try? FileManager.default.removeItem(atPath: temp)
        do { try out.write(to: temp) } catch { throw AdaptationError.io("\(temp): \(error)") }
        // rename(2): the daemon never reads half a model.
        guard rename(temp, final) == 0 else {
            throw AdaptationError.io("\(final): cannot rename \(temp) into place: \(String(cString: strerror(errno)))")
        }
        report.written = final
        return report
    }
}

extension HomeAdaptation {
    /// The detector's per-home operating point on `items` (nil when off or without a cry):
    /// below the weakest labelled cry's alarm score, under `model` (adapted on all of
    /// `items`) and, with `thresholdFolds` K >= 2, under K models each adapted without a
    /// fold of the episodes, scoring that fold's cries. A model scores the cries it was
    /// adapted on higher than the home's next ones; the held-out scores are what a new cry
    /// gets, so the point does not sit above them.
    func operatingPoint(_ adapter: ModelAdapter, _ model: CryModelFile, _ items: [AdaptationItem],
                        rehearsal: [AdaptationItem]) -> Float? {
        guard options.operatingPoint else { return nil }
        var cries = items.filter { $0.target == adapter.cryIndex }.map { adapter.alarmScore(model, $0) }
        for (train, test) in Self.thresholdFolds(items, k: options.thresholdFolds, cry: adapter.cryIndex) {
            let held = adapter.fineTune(episodes: train, rehearsal: rehearsal)
            cries += test.map { adapter.alarmScore(held, $0) }
        }
        return ModelAdapter.operatingPoint(cryScores: cries, margin: options.thresholdMargin)
    }

    /// K folds for the operating point: the labelled cries dealt out in turn (every fold
    /// holds cries), the other episodes likewise; each fold's cries are scored by a model
    /// adapted on the other folds. None for K < 2 or fewer than 2 cries.
    static func thresholdFolds(_ items: [AdaptationItem], k: Int, cry: Int) -> [(train: [AdaptationItem], test: [AdaptationItem])] {
        let cryIdx = items.indices.filter { items[$0].target == cry }
        let otherIdx = items.indices.filter { items[$0].target != cry }
        let k = min(k, cryIdx.count)
        guard k >= 2 else { return [] }
        var fold = [Int](repeating: 0, count: items.count)
        for (j, i) in cryIdx.enumerated() { fold[i] = j % k }
        for (j, i) in otherIdx.enumerated() { fold[i] = j % k }
        return (0..<k).map { f in
            (items.indices.filter { fold[$0] != f }.map { items[$0] },
             items.indices.filter { fold[$0] == f && items[$0].target == cry }.map { items[$0] })
        }
    }

    func adapterAt(_ adapter: ModelAdapter, _ onThreshold: Float?) -> ModelAdapter {
        guard let onThreshold else { return adapter }
        var o = adapter.options
        o.onThreshold = onThreshold
        return ModelAdapter(role: adapter.role, base: adapter.base, options: o)
    }
}

func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
