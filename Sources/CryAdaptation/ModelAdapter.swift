import Foundation
import CryModel
import CryTraining
import Features

/// Fine-tunes a shipped model on a home's labelled episodes without forgetting what it knew.
///
/// From the shipped weights theta0, `steps` Adam steps (weight decay off) on
///
///     L(theta) = mean over the batch of CE(theta; crop) + (anchor / 2) * ||theta - theta0||^2
///
/// where each batch holds `batch / 2` crops of labelled episodes and `batch / 2` crops of the
/// rehearsal sample (the shipped training material): the penalty keeps the weights near the
/// shipped ones (L2-SP, Li et al. 2018), the rehearsal keeps the old decisions, few steps and a
/// small learning rate keep the change small. The feature normalisation is the shipped one.
///
/// Detector crops carry the loss on every frame after a warm-up (`warmupFrames`), and for a
/// cry episode only on frames from its onset (the pre-roll before it is not a cry): the
/// streaming detector decides on every frame. Cause crops start at the onset and carry the
/// loss at their last frame, as the cause model was trained.
public struct AdaptationOptions: Sendable {
    // Chosen on the first simulated night (docs/adaptation.md). Larger steps move the
    // detector's calibration (its cries fall below the shipped operating point), which
    // the per-home operating point below absorbs.
    public var steps = 60
    public var batch = 16
    public var learningRate: Float = 1e-4
    public var anchor: Float = 1
    public var warmupFrames = 30
    public var maxCropFrames = 200
    /// An adapted model whose rehearsal-check UAR falls more than this below the shipped
    /// model's is refused.
    public var maxDrop = 0.02
    /// The daemon's operating point: a frame is cry at p >= onThreshold, an alarm needs
    /// `confirmFrames` such frames in a row.
    public var onThreshold: Float = 0.95
    public var confirmFrames = 5
    public var seed: UInt64 = 1
    /// Which weights move: all of them, or only the head (dense and softmax layers) over
    /// frozen recurrent layers.
    public var layers: AdaptedLayers = .all
    /// Detector: record a per-home operating point (metadata `on_threshold`) chosen on the
    /// labelled episodes, `thresholdMargin` (in logit units) below the weakest labelled cry.
    public var operatingPoint = true
    public var thresholdMargin: Float = 0
    /// Detector: the operating point also sits below the labelled cries' scores under
    /// models adapted without them (this many folds; 0 or 1: only the in-sample scores).
    public var thresholdFolds = 5
    /// Detector: where a labelled episode's crop carries its loss (rehearsal crops keep the
    /// loss on every frame after the warm-up, as in training).
    public var episodeLoss: EpisodeLoss = .frames
    /// Detector, window loss: when set, the window's frames are pulled toward this logit of
    /// their label (squared error in logit units, nothing past it) instead of cross-entropy,
    /// whose pull fades as p saturates.
    public var logitTarget: Float? = nil

    public init() {}
}

/// The weights an adaptation may change.
public enum AdaptedLayers: String, Sendable, CaseIterable {
    case all
    /// dense* and softmax tensors; the recurrent layers keep the shipped weights.
    case head

    public func trains(_ tensor: TensorSpec) -> Bool {
        switch self {
        case .all: return true
        case .head: return tensor.name.hasPrefix("dense") || tensor.name.hasPrefix("softmax")
        }
    }
}

/// Where a labelled episode's detector crop carries its loss.
public enum EpisodeLoss: String, Sendable, CaseIterable {
    /// Every labelled frame (for a cry, from its onset on).
    case frames
    /// The frames of the crop's alarm window: the `confirmFrames` frames in a row whose
    /// lowest p(cry) is the highest. The parent's label says what the episode was, not what
    /// every frame was (a cry has pauses, a cat's meow is short): the label is about what
    /// raised or would raise the alarm, the window the streaming detector decides on
    /// (multiple-instance learning: a cry bag must hold one alarming window, a not-cry bag none).
    case alarmWindow = "window"
}

/// One labelled sequence for training or scoring (normalised features).
public struct AdaptationItem: Sendable {
    public var values: [Float]
    public var frameCount: Int
    public var target: Int
    /// First frame that carries loss / counts (detector); cause items start here.
    public var firstLabelledFrame: Int
    public var episode: Int?
}

public enum AdaptedRole: String, Sendable { case detector, cause }

public struct ModelAdapter: Sendable {
    public let role: AdaptedRole
    public let base: CryModelFile
    public let options: AdaptationOptions
    let featureCount: Int

    public init(role: AdaptedRole, base: CryModelFile, options: AdaptationOptions) {
        self.role = role
        self.base = base
        self.options = options
        featureCount = base.configuration.inputSize
    }

    public var cryIndex: Int { base.configuration.classes.firstIndex(of: "cry") ?? 0 }
    public var notCryIndex: Int { base.configuration.classes.firstIndex(where: { $0 != "cry" }) ?? 1 }

    func normalise(_ raw: ArraySlice<Float>) -> [Float] {
        var out = Array(raw)
        let n = featureCount
        for i in out.indices { out[i] = (out[i] - base.featureMean[i % n]) / base.featureStd[i % n] }
        return out
    }

    /// The episodes this role learns from: every one for the detector, those with a cause
    /// label (and a class the model knows) for the cause model.
    public func items(_ episodes: [LabelledEpisode]) -> [AdaptationItem] {
        episodes.compactMap { e in
            let target: Int
            switch role {
            case .detector: target = e.isCry ? cryIndex : notCryIndex
            case .cause:
                guard let c = e.cause, let i = base.configuration.classes.firstIndex(of: c) else { return nil }
                target = i
            }
            guard e.features.frameCount > 0 else { return nil }
            return AdaptationItem(values: normalise(e.features.values[...]), frameCount: e.features.frameCount, target: target,
                                  firstLabelledFrame: e.isCry ? e.onsetFrame : 0, episode: e.number)
        }
    }

    /// The rehearsal sample's crops for this role, split in two halves (even crops to fit,
    /// odd ones to check).
    public func rehearsal(_ sample: RehearsalSample) throws -> (fit: [AdaptationItem], check: [AdaptationItem]) {
        let task = role == .detector ? "detect" : "cause"
        guard let set = sample.set(task) else { throw AdaptationError.data("the rehearsal sample has no \(task) crops") }
        guard set.featureCount == featureCount else {
            throw AdaptationError.data("the rehearsal sample's \(task) crops have \(set.featureCount) features, the model takes \(featureCount)")
        }
        var fit: [AdaptationItem] = [], check: [AdaptationItem] = []
        for i in 0..<set.cropCount {
            let name = set.classes[set.labels[i]]
            guard let target = base.configuration.classes.firstIndex(of: name == "other" ? "not_cry" : name)
                    ?? (role == .detector && name != "cry" ? notCryIndex : nil) else {
                throw AdaptationError.data("rehearsal class \(name) is not one of the model's classes \(base.configuration.classes)")
            }
            let item = AdaptationItem(values: normalise(set.crop(i)), frameCount: set.frames, target: target,
                                      firstLabelledFrame: 0, episode: nil)
            if i % 2 == 0 { fit.append(item) } else { check.append(item) }
        }
        return (fit, check)
    }

    // MARK: fine-tuning

    /// The adapted model (weights only; metadata is the caller's).
    public func fineTune(episodes: [AdaptationItem], rehearsal: [AdaptationItem]) -> CryModelFile {
        var rng = AdaptationRandom(seed: options.seed)
        let theta0 = base.network.parameters
        var network = base.network
        var adam = AdamOptimizer(parameterCount: theta0.count, learningRate: options.learningRate, weightDecay: 0)
        var grads = CryNetworkGradients<Float>(layout: network.layout)
        // 1 where a weight may move, 0 where it is frozen (its gradient is dropped, so Adam
        // never moves it and the anchor term stays 0).
        var trainable = [Float](repeating: 0, count: theta0.count)
        for t in network.layout.tensors where options.layers.trains(t) {
            for i in t.offset..<(t.offset + t.count) { trainable[i] = 1 }
        }
        // Balanced over the episodes' targets (a home labels far more false alarms than cries).
        let byTarget = Dictionary(grouping: episodes.indices, by: { episodes[$0].target })
        let targets = byTarget.keys.sorted()
        for _ in 0..<options.steps {
            grads.zero()
            var count = 0
            for k in 0..<options.batch {
                let item: AdaptationItem
                if k % 2 == 0, !targets.isEmpty {
                    let group = byTarget[targets[rng.below(targets.count)]]!
                    item = episodes[group[rng.below(group.count)]]
                } else if !rehearsal.isEmpty {
                    item = rehearsal[rng.below(rehearsal.count)]
                } else { continue }
                let (frames, n, cropWeights) = crop(item, rng: &rng)
                guard n > 0 else { continue }
                let trace = network.forward(frames: frames, frameCount: n)
                var weights = cropWeights
                if role == .detector, options.episodeLoss == .alarmWindow, item.episode != nil, let w = cropWeights {
                    weights = alarmWindowWeights(trace, labelled: w)
                    if let target = options.logitTarget, var lw = weights {
                        // d/dz 1/2 (T - z)^2 = -(T - z); CE gives -(1 - p): the weight turns one into the other.
                        for u in 0..<n where lw[u] > 0 {
                            let q = min(max(trace.posteriors[u * trace.classCount + item.target], 1e-6), 1 - 1e-6)
                            let z = log(q / (1 - q))
                            lw[u] *= min(max(target - z, 0) / (1 - q), 1e4)
                        }
                        weights = lw
                    }
                }
                _ = network.accumulateGradients(trace: trace, target: item.target, frameWeights: weights, into: &grads)
                count += 1
            }
            guard count > 0 else { break }
            // g = mean CE gradient + anchor * (theta - theta0)
            var g = grads.values
            let scale = 1 / Float(count)
            network.parameters.withUnsafeBufferPointer { p in
                for i in g.indices { g[i] = (g[i] * scale + options.anchor * (p[i] - theta0[i])) * trainable[i] }
            }
            adam.update(parameters: &network.parameters, gradients: g)
        }
        var out = base
        out.network = network
        return out
    }

    /// Weights 1/k on the k = `confirmFrames` labelled frames in a row with the highest
    /// lowest p(cry) (the window that decides whether the crop alarms), 0 elsewhere; the
    /// given weights when fewer than k frames are labelled.
    ///
    ///     t* = argmax over t of min(p_cry(u) for u in t-k+1...t),  w(u) = 1/k for u in t*-k+1...t*
    func alarmWindowWeights(_ trace: ForwardTrace<Float>, labelled: [Float]) -> [Float] {
        var p = [Float](repeating: 0, count: trace.frameCount)
        for t in p.indices { p[t] = trace.posteriors[t * trace.classCount + cryIndex] }
        return Self.alarmWindowWeights(pCry: p, labelled: labelled, window: options.confirmFrames)
    }

    static func alarmWindowWeights(pCry p: [Float], labelled: [Float], window k: Int) -> [Float] {
        let n = p.count
        guard k > 0, let first = labelled.firstIndex(where: { $0 > 0 }), n - first >= k else { return labelled }
        var best = -Float.infinity, end = first + k - 1
        for t in (first + k - 1)..<n {
            var low = Float.infinity
            for u in (t - k + 1)...t { low = min(low, p[u]) }
            if low > best { best = low; end = t }
        }
        var w = [Float](repeating: 0, count: n)
        for u in (end - k + 1)...end { w[u] = 1 / Float(k) }
        return w
    }

    /// A training crop of `item` and its frame weights (mean over the labelled frames).
    func crop(_ item: AdaptationItem, rng: inout AdaptationRandom) -> ([Float], Int, [Float]?) {
        let d = featureCount
        switch role {
        case .detector:
            let length = min(item.frameCount, options.maxCropFrames)
            // Start so that the crop has labelled frames after the warm-up where possible.
            let latest = item.frameCount - length
            let start = rng.below(latest + 1)
            var weights = [Float](repeating: 0, count: length)
            let first = max(min(options.warmupFrames, length - 1), item.firstLabelledFrame - start)
            var labelled = 0
            for t in max(0, first)..<length { weights[t] = 1; labelled += 1 }
            if labelled == 0 { weights[length - 1] = 1; labelled = 1 }
            for t in 0..<length where weights[t] > 0 { weights[t] = 1 / Float(labelled) }
            return (Array(item.values[(start * d)..<((start + length) * d)]), length, weights)
        case .cause:
            let from = min(item.firstLabelledFrame, max(0, item.frameCount - 1))
            let available = item.frameCount - from
            let shortest = min(150, available)
            let length = shortest + rng.below(max(1, min(options.maxCropFrames, available) - shortest + 1))
            return (Array(item.values[(from * d)..<((from + length) * d)]), length, nil)
        }
    }

    // MARK: scoring

    /// Detector: whether the streaming detector would alarm on the item (a run of
    /// `confirmFrames` frames at p(cry) >= onThreshold, from its first labelled frame on...
    /// for a whole episode file, from its start). Cause: the class with the highest posterior
    /// after up to 5 s from the onset.
    public func decide(_ model: CryModelFile, _ item: AdaptationItem, wholeFile: Bool = false) -> Int {
        let d = featureCount
        switch role {
        case .detector:
            let trace = model.network.forward(frames: item.values, frameCount: item.frameCount)
            var run = 0
            for t in 0..<item.frameCount {
                if trace.posteriors(at: t)[trace.posteriors(at: t).startIndex + cryIndex] >= options.onThreshold {
                    run += 1
                    if run >= options.confirmFrames { return cryIndex }
                } else { run = 0 }
            }
            return notCryIndex
        case .cause:
            let from = min(item.firstLabelledFrame, max(0, item.frameCount - 1))
            let n = min(500, item.frameCount - from)
            let trace = model.network.forward(frames: Array(item.values[(from * d)..<((from + n) * d)]), frameCount: n)
            let p = trace.lastPosteriors
            var best = p.startIndex
            for i in p.indices where p[i] > p[best] { best = i }
            return best - p.startIndex
        }
    }

    /// Detector: the highest on-threshold at which the streaming detector would still alarm
    /// on the item, max over t of min(p(cry) over the `confirmFrames` frames ending at t)
    /// (0 for an item shorter than that).
    public func alarmScore(_ model: CryModelFile, _ item: AdaptationItem) -> Float {
        let trace = model.network.forward(frames: item.values, frameCount: item.frameCount)
        let k = options.confirmFrames
        guard item.frameCount >= k else { return 0 }
        var p = [Float](repeating: 0, count: item.frameCount)
        for t in 0..<item.frameCount { p[t] = trace.posteriors(at: t)[trace.posteriors(at: t).startIndex + cryIndex] }
        var best: Float = 0
        for t in (k - 1)..<item.frameCount {
            var low: Float = 1
            for u in (t - k + 1)...t { low = min(low, p[u]) }
            best = max(best, low)
        }
        return best
    }

    /// The per-home operating point from the alarm scores of the labelled cries: the margin
    /// (logit units) below the weakest one, so that every labelled cry still alarms; nil
    /// without a labelled cry.
    ///
    ///     logit(on) = min over labelled cries c of logit(score_c) - margin
    public static func operatingPoint(cryScores: [Float], margin: Float) -> Float? {
        guard let weakest = cryScores.min() else { return nil }
        let s = min(max(weakest, 1e-6), 1 - 1e-6)
        let z = log(s / (1 - s)) - margin
        let on = 1 / (1 + exp(-z))
        return min(max(on, 0.5), 0.9999)
    }

    /// Detector: the UAR of alarm decisions (an alarm iff score >= onThreshold) over cry and
    /// not-cry items given their alarm scores.
    public static func uar(scores: [Float], isCry: [Bool], onThreshold: Float) -> Double {
        var hit = [0, 0], total = [0, 0]
        for (s, c) in zip(scores, isCry) {
            let k = c ? 0 : 1
            total[k] += 1
            if (s >= onThreshold) == c { hit[k] += 1 }
        }
        let present = (0..<2).filter { total[$0] > 0 }
        guard !present.isEmpty else { return 0 }
        return present.map { Double(hit[$0]) / Double(total[$0]) }.reduce(0, +) / Double(present.count)
    }

    /// The area under the ROC curve of alarm scores: the probability that a cry item scores
    /// above a not-cry one (ties count half). Threshold-free: it measures how well the model
    /// still ranks cries above other sounds, not where its calibration went.
    ///
    ///     AUC = (1 / (P N)) * sum over cries c, not-cries o of [s_c > s_o] + 1/2 [s_c = s_o]
    public static func auc(scores: [Float], isCry: [Bool]) -> Double {
        let cries = zip(scores, isCry).filter { $0.1 }.map(\.0)
        let others = zip(scores, isCry).filter { !$0.1 }.map(\.0).sorted()
        guard !cries.isEmpty, !others.isEmpty else { return 0 }
        var sum = 0.0
        for c in cries {
            // others below c, and equal to c (binary searches in the sorted list)
            var lo = 0, hi = others.count
            while lo < hi { let m = (lo + hi) / 2; if others[m] < c { lo = m + 1 } else { hi = m } }
            var eq = lo
            while eq < others.count && others[eq] == c { eq += 1 }
            sum += Double(lo) + 0.5 * Double(eq - lo)
        }
        return sum / (Double(cries.count) * Double(others.count))
    }

    /// Unweighted average recall of `model`'s decisions over `items`, over the classes present
    /// (detector: at `onThreshold` when given, else the options' one).
    public func uar(_ model: CryModelFile, _ items: [AdaptationItem], onThreshold: Float? = nil) -> Double {
        var adapter = self
        if let onThreshold { adapter = ModelAdapter(role: role, base: base, options: { var o = options; o.onThreshold = onThreshold; return o }()) }
        var hit: [Int: Int] = [:], total: [Int: Int] = [:]
        for item in items {
            total[item.target, default: 0] += 1
            if adapter.decide(model, item) == item.target { hit[item.target, default: 0] += 1 }
        }
        guard !total.isEmpty else { return 0 }
        return total.keys.map { Double(hit[$0] ?? 0) / Double(total[$0]!) }.reduce(0, +) / Double(total.count)
    }
}
