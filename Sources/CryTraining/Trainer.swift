import Foundation

public struct TrainingOptions: Sendable, Equatable {
    public var epochs: Int = 100
    public var batchSize: Int = 64
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.7
    public var l2: Float = 1e-4
    /// Epochs without a better validation UAR before stopping (0: never stop early).
    public var patience: Int = 20
    public var seed: UInt64 = 1
    /// Shortest crop, in frames (150 = 1.5 s at a 10 ms hop).
    public var minimumCropFrames: Int = 150
    /// Batches per epoch; nil: ceil(training clips / batch size).
    public var batchesPerEpoch: Int? = nil
    /// Threads computing gradients (the batch is split in this many contiguous parts).
    public var threads: Int = 2
    /// How a clip's decision is made from the frame outputs (loss and validation alike).
    public var pooling: ClipPooling = .lastFrame

    public init() {}
}

/// How a recording's decision comes from the network's per-frame outputs.
///
///     lastFrame:          p = p_T                                  (loss: -log p_T[y])
///     meanLogProbability: p = softmax( (1/T) sum_t log p_t )       (loss: (1/T) sum_t -log p_t[y])
///
/// The mean of per-frame log-probabilities is a product of the frames' opinions: every frame
/// of the cry votes, instead of the state after the last one. Its loss is the mean of the
/// frames' cross-entropies (frame weights 1/T in `CryNetwork.accumulateGradients`).
public enum ClipPooling: String, Sendable, CaseIterable {
    case lastFrame = "last"
    case meanLogProbability = "mean"

    /// The pooled decision of per-frame posteriors (row-major, `classCount` per frame).
    public static func meanLogPosteriors<S: Collection>(_ frames: S, frameCount: Int, classCount: Int) -> [Float]
        where S.Element == Float, S.Index == Int {
        var sum = [Double](repeating: 0, count: classCount)
        let base = frames.startIndex
        for t in 0..<frameCount {
            for c in 0..<classCount { sum[c] += log(max(Double(frames[base + t * classCount + c]), 1e-30)) }
        }
        return softmaxOfMean(sum, frameCount: frameCount)
    }

    static func softmaxOfMean(_ sum: [Double], frameCount: Int) -> [Float] {
        let mean = sum.map { $0 / Double(max(1, frameCount)) }
        let m = mean.max() ?? 0
        let e = mean.map { exp($0 - m) }
        let z = e.reduce(0, +)
        return e.map { Float($0 / z) }
    }
}

/// One epoch's figures.
public struct EpochSummary: Sendable, Equatable {
    public var epoch: Int
    public var meanLoss: Double
    public var validationUAR: Double
    public var validationMacroF1: Double
    public var seconds: Double
    /// Training frames (sum of crop lengths) per second of gradient computation.
    public var framesPerSecond: Double
    public var isBest: Bool
    /// False when training without a validation part (`train --all-groups`): the
    /// validation figures are then 0 and mean nothing.
    public var hasValidation = true
}

public struct TrainingResult<Model: TrainableModel>: Sendable {
    /// The model with the best validation UAR (the last one when there is no validation part).
    public var bestModel: Model
    public var bestEpoch: Int
    public var bestValidation: ClassificationReport?
    public var history: [EpochSummary]
    /// True when `shouldStop` ended training (Ctrl-C).
    public var interrupted: Bool
    public var stoppedEarly: Bool
}

/// Mini-batch training with class-balanced crops, data-parallel over threads, Adam, and
/// early stopping on validation UAR.
///
/// Each step: draw a batch of crops; thread w computes the summed gradient of its
/// contiguous share of the batch with its own copy of the model; the shares are summed in
/// thread order (so the result depends on the seed and thread count only), divided by the
/// batch size, and one Adam step (with L2) updates the parameters of every copy.
public final class Trainer<Model: TrainableModel> {
    public let options: TrainingOptions
    public let classes: [String]
    private let features: [ClipFeatures]   // normalised
    private let labels: [Int]
    private let trainClips: [Int]
    private let validationClips: [Int]
    private var model: Model

    /// - features: every clip's normalised features; labels: every clip's class;
    ///   trainClips / validationClips: indices into them.
    public init(model: Model, features: [ClipFeatures], labels: [Int], classes: [String],
                trainClips: [Int], validationClips: [Int], options: TrainingOptions) {
        precondition(features.count == labels.count)
        self.model = model
        self.features = features
        self.labels = labels
        self.classes = classes
        self.trainClips = trainClips
        self.validationClips = validationClips
        self.options = options
    }

    /// - batchDone: (epoch, batch index, batches per epoch, batch mean loss) after each step.
    /// - epochDone: after each epoch's validation.
    /// - shouldStop: polled between batches; true ends training with the best model so far.
    public func run(
        batchDone: (Int, Int, Int, Double) -> Void = { _, _, _, _ in },
        epochDone: (EpochSummary) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) -> TrainingResult<Model> {
        let opts = options
        var sampler = BalancedBatchSampler(
            clips: trainClips, labels: labels, frameCounts: features.map(\.frameCount),
            classCount: classes.count, minimumFrames: opts.minimumCropFrames, seed: opts.seed)
        var adam = AdamOptimizer(parameterCount: model.parameterCount, learningRate: opts.learningRate,
                                 beta1: opts.beta1, beta2: opts.beta2, weightDecay: opts.l2,
                                 decayMask: model.decayMask)
        let threads = max(1, opts.threads)
        let workers = WorkerModels(model, count: threads)
        let gradients = (0..<threads).map { _ in SharedFloats(count: model.parameterCount) }
        let losses = ResultSlots<Double>(count: threads)
        let batchesPerEpoch = opts.batchesPerEpoch ?? max(1, (trainClips.count + opts.batchSize - 1) / opts.batchSize)
        let features = self.features

        var best = model
        var bestUAR = -1.0
        var bestEpoch = 0
        var bestReport: ClassificationReport?
        var history: [EpochSummary] = []
        var sinceBest = 0
        var interrupted = false
        var stoppedEarly = false

        epochs: for epoch in 1...max(1, opts.epochs) {
            let epochStart = Date()
            var lossSum = 0.0
            var frames = 0
            var gradientSeconds = 0.0
            for b in 0..<batchesPerEpoch {
                if shouldStop() { interrupted = true; break epochs }
                let batch = sampler.nextBatch(size: opts.batchSize)
                frames += batch.reduce(0) { $0 + $1.length }
                let t0 = Date()
                parallelFor(threads) { w in
                    let share = batch.count * w / threads ..< batch.count * (w + 1) / threads
                    let g = gradients[w]
                    g.zero()
                    var loss = 0.0
                    workers.withModel(w) { m in
                        for crop in batch[share] {
                            let f = features[crop.clip]
                            loss += Double(f.values.withUnsafeBufferPointer { all in
                                let seq = UnsafeBufferPointer(rebasing:
                                    all[(crop.start * f.featureCount)..<((crop.start + crop.length) * f.featureCount)])
                                return m.accumulateGradient(sequence: seq, frameCount: crop.length,
                                                            label: crop.label, into: g.buffer)
                            })
                        }
                    }
                    losses.set(w, loss)
                }
                gradientSeconds += Date().timeIntervalSince(t0)
                // Fixed summation order: thread 0's share, then thread 1's, ...
                var total = [Float](repeating: 0, count: model.parameterCount)
                let scale = 1 / Float(batch.count)
                for g in gradients {
                    for i in 0..<total.count { total[i] += g.buffer[i] }
                }
                for i in 0..<total.count { total[i] *= scale }
                var params = model.parameters
                adam.update(parameters: &params, gradients: total)
                model.parameters = params
                workers.setParameters(params)
                let batchLoss = losses.values.reduce(0) { $0 + ($1 ?? 0) } / Double(batch.count)
                lossSum += batchLoss
                batchDone(epoch, b, batchesPerEpoch, batchLoss)
            }
            let report = validationClips.isEmpty ? nil : evaluate(clips: validationClips, workers: workers)
            let uar = report?.uar ?? 0
            let improved = report == nil || uar > bestUAR
            if improved {
                best = model
                bestUAR = uar
                bestEpoch = epoch
                bestReport = report
                sinceBest = 0
            } else {
                sinceBest += 1
            }
            let summary = EpochSummary(
                epoch: epoch, meanLoss: lossSum / Double(batchesPerEpoch), validationUAR: uar,
                validationMacroF1: report?.macroF1 ?? 0, seconds: Date().timeIntervalSince(epochStart),
                framesPerSecond: gradientSeconds > 0 ? Double(frames) / gradientSeconds : 0, isBest: improved,
                hasValidation: report != nil)
            history.append(summary)
            epochDone(summary)
            if opts.patience > 0 && sinceBest >= opts.patience { stoppedEarly = true; break }
        }
        return TrainingResult(bestModel: best, bestEpoch: bestEpoch, bestValidation: bestReport,
                              history: history, interrupted: interrupted, stoppedEarly: stoppedEarly)
    }

    /// Decisions at the last frame of each whole clip, spread over the worker copies.
    private func evaluate(clips: [Int], workers: WorkerModels<Model>) -> ClassificationReport {
        let predictions = ResultSlots<Int>(count: clips.count)
        let features = self.features
        let threads = workers.count
        parallelFor(threads) { w in
            workers.withModel(w) { m in
                var i = w
                while i < clips.count {
                    let f = features[clips[i]]
                    let p = f.values.withUnsafeBufferPointer { m.posteriors(sequence: $0, frameCount: f.frameCount) }
                    predictions.set(i, argmax(p))
                    i += threads
                }
            }
        }
        return ClassificationReport(actual: clips.map { labels[$0] },
                                    predicted: predictions.values.map { $0 ?? 0 }, classes: classes)
    }
}

/// Index of the largest value (the first on ties).
public func argmax(_ values: [Float]) -> Int {
    var best = 0
    for i in values.indices where values[i] > values[best] { best = i }
    return best
}

/// One model copy per thread; thread w only touches copy w, between joins. Raw storage,
/// so that concurrent access to different copies never touches a shared array header.
final class WorkerModels<Model: TrainableModel>: @unchecked Sendable {
    private let models: UnsafeMutablePointer<Model>
    let count: Int

    init(_ model: Model, count: Int) {
        self.count = count
        models = .allocate(capacity: count)
        models.initialize(repeating: model, count: count)
    }

    deinit {
        models.deinitialize(count: count)
        models.deallocate()
    }

    func withModel<R>(_ w: Int, _ body: (inout Model) -> R) -> R {
        precondition(w >= 0 && w < count)
        return body(&models[w])
    }

    func setParameters(_ p: [Float]) {
        for w in 0..<count { models[w].parameters = p }
    }
}

/// A gradient buffer one thread fills while others fill theirs.
final class SharedFloats: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Float>

    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }

    deinit { buffer.deallocate() }

    func zero() { buffer.update(repeating: 0) }
}
