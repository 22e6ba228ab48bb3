import ThreadSupport
import ControlProtocol
import CryDetector
import CryModel
import Features

/// The stages between the ring buffer and the publisher, run on the processing thread.
/// Sample index 0 is the stream's first sample; every event's `t_audio` is a frame start
/// (frame index * hop / rate), so a replay's events can be scored against labels.
public protocol AudioPipeline: AnyObject {
    var sampleRate: Int { get }
    /// Feature frames processed so far.
    var framesProcessed: Int { get }
    /// Model files in use (for status and the `started` event), e.g. ("cause", path).
    var modelNames: [(String, String)] { get }
    /// Consumes the next samples of the stream; calls `emit` for each event it completes.
    func process(_ samples: UnsafeBufferPointer<Float>, emit: (MonitorEvent) -> Void)
    /// End of the stream (file end, or shutdown): emits the frames held back for
    /// look-ahead and closes a running episode with its final events.
    func finish(emit: (MonitorEvent) -> Void)
}

/// The daemon's pipeline:
///
///     samples -> FeatureExtractor (25 ms frames every 10 ms, 3 frames of look-ahead)
///             -> CryDetector (energy gate, p(cry) from the detector model, episodes)
///             -> inside an episode: StreamingClassifier (cause model) -> need events
///
/// Need decisions (the paper decides at the last frame of a clip): the classifier starts
/// from a reset state at the episode's onset (frames since the onset are replayed from a
/// short history, since the onset is only known once the detector confirms it) and is
/// stepped on every frame of the episode while the energy gate is open. It is reset every
/// `restartEvery` seconds of episode (the models are trained on clips of a few seconds):
/// each such window ends with a non-final `need` (its last frame's posteriors); the first
/// `need` comes `firstDecision` seconds into the episode. At the episode's end a final
/// `need` gives the mean of the window decisions, the last (partial) window included when
/// it is at least one second long or the only one.
public final class CryPipeline: AudioPipeline {
    public let sampleRate: Int
    public let frontEnd: FrontEndConfig
    public private(set) var framesProcessed = 0
    /// Model files in use (any thread).
    public var modelNames: [(String, String)] { current.withLock { $0.1 } }
    /// The roles whose model came from `[models] adapted_dir`.
    public var adaptedRoles: [String] { current.withLock { $0.0.adaptedRoles } }
    /// The models in use, and their names for status (energy-only shows as a name).
    private let current: Locked<(ModelSet, [(String, String)])>
    /// Models loaded and checked, waiting for the processing thread to swap them in.
    private let pending = Locked<(ModelSet, String)?>(nil)
    /// The configured detector settings (`[detector]`), before a model's own operating point.
    private let configuredDetector: DetectorConfiguration

    private let extractor: FeatureExtractor
    private var detector: CryDetector?
    private var cause: StreamingClassifier?
    private var causeClasses: [String]
    /// The cause model's calibration (nil: its posteriors are shown as they are).
    private var calibration: ProbabilityCalibration?
    private let minConfidence: Float
    private let firstDecisionFrames: Int
    private let restartFrames: Int
    private let minFinalWindowFrames: Int

    // Recent feature frames, for replaying an episode from its onset.
    private let featureCount: Int
    private let historyFrames: Int
    private var history: [Float]

    // The running episode.
    private var episodeNumber = 0
    private var inEpisode = false
    private var onsetFrame = 0
    private var windowStart = 0
    private var classifiedFrames = 0       // in the current window
    private var firstDecisionDone = false
    private var lastPosteriors: [Float]
    private var windowSums: [Float]
    private var windowCount = 0
    /// The detector's highest p(cry) in the running episode (the cry_end's `peak_p_cry`).
    private var episodePeak: Float = 0

    /// Builds the pipeline from the configuration: loads and checks the models (the adapted
    /// ones where `models` says so; by default the configured ones).
    /// Errors name the configuration key and file.
    public init(config: DaemonConfig, models: ModelSet? = nil) throws(ConfigError) {
        let file = config.sourcePath ?? "built-in configuration"
        sampleRate = config.audio.sampleRate
        var set: ModelSet
        if let models {
            set = models
        } else {
            var configuredOnly = config
            configuredOnly.models.adaptedDir = "/nonexistent-adapted-dir"
            set = try ModelSet.load(config: configuredOnly).0
        }
        let detectorModel = set.detector?.model
        let causeModel = set.cause?.model
        var names = set.names
        // One front end feeds both models: they must agree with each other and the rate.
        let fe = detectorModel?.configuration.frontEnd ?? causeModel?.configuration.frontEnd
            ?? FrontEndConfig(sampleRate: config.audio.sampleRate)
        for (key, model) in [("models.detector", detectorModel), ("models.cause", causeModel)] {
            guard let model else { continue }
            if model.configuration.frontEnd != fe {
                throw ConfigError(file: file, key: key, problem: "the detector and cause models were trained on different front ends")
            }
            if model.configuration.frontEnd.sampleRate != config.audio.sampleRate {
                throw ConfigError(file: file, key: "audio.sample_rate",
                                  problem: "\(config.audio.sampleRate) Hz, but \(key) analyses \(model.configuration.frontEnd.sampleRate) Hz audio")
            }
        }
        frontEnd = fe
        extractor = FeatureExtractor(config: fe)
        featureCount = fe.featureCount

        let d = config.detector
        var dc = DetectorConfiguration.standard
        dc.frameSeconds = Double(fe.hopLength) / Double(fe.sampleRate)
        dc.gateMarginDB = Float(d.gateMarginDB)
        dc.gateMinimumLevelDB = Float(d.gateMinimumDB)
        dc.onThreshold = Float(d.onThreshold)
        dc.offThreshold = Float(d.offThreshold)
        dc.onsetConfirmationFrames = d.onsetFrames
        dc.hangoverSeconds = d.hangoverS
        dc.minimumEpisodeSeconds = d.minEpisodeS
        dc.mergeGapSeconds = d.mergeGapS
        configuredDetector = dc
        do {
            if let detectorModel, let entry = set.detector {
                detector = try CryDetector(model: detectorModel, name: entry.path, configuration: Self.operatingPoint(dc, for: entry))
            } else if d.energyOnly {
                detector = try CryDetector.make(modelPath: nil, energyOnly: true, configuration: dc, frontEnd: fe)
                names.append(("detector", "energy-only"))
            } else {
                // A baby monitor that cannot detect a cry must not look like one that runs.
                throw ConfigError(file: file, key: "models.detector",
                                  problem: "no detector model configured: set [models] detector, or [detector] energy_only = true for a sound-activated monitor (every loud sound an episode)")
            }
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, key: "models.detector", problem: "\(error)")
        }
        cause = causeModel.map { StreamingClassifier(model: $0) }
        causeClasses = causeModel?.configuration.classes ?? []
        calibration = causeModel?.calibration
        minConfidence = Float(config.classifier.minConfidence)
        current = Locked((set, names))

        let framesPerSecond = Double(fe.sampleRate) / Double(fe.hopLength)
        firstDecisionFrames = max(1, Int((config.classifier.firstDecisionS * framesPerSecond).rounded()))
        restartFrames = max(1, Int((config.classifier.restartEveryS * framesPerSecond).rounded()))
        minFinalWindowFrames = Int(framesPerSecond.rounded())
        // Onset look-back and confirmation can put the onset a few seconds before the
        // frame that confirms it: keep 10 s.
        historyFrames = Int(10 * framesPerSecond)
        history = [Float](repeating: 0, count: historyFrames * fe.featureCount)
        lastPosteriors = [Float](repeating: 0, count: causeClasses.count)
        windowSums = [Float](repeating: 0, count: causeClasses.count)
    }

    /// Episode numbers go on after `number` (the last one in the event log).
    public func continueEpisodeNumbering(after number: Int) {
        episodeNumber = max(episodeNumber, number)
    }

    /// Why cry detection is off (no detector model configured), nil when it runs.
    public var degradedReason: String? {
        detector == nil ? "no detector model configured ([models] detector): cry detection is off" : nil
    }

    public func process(_ samples: UnsafeBufferPointer<Float>, emit: (MonitorEvent) -> Void) {
        if !inEpisode { swapWhenQuiet(emit: emit) }
        extractor.process(samples) { index, frame in handleFrame(index, frame, emit: emit) }
    }

    public func finish(emit: (MonitorEvent) -> Void) {
        extractor.finish { index, frame in handleFrame(index, frame, emit: emit) }
        detector?.finish { event in handleEpisodeEvent(event, emit: emit) }
    }

    /// The models in use (for a reload to compare against).
    public var models: ModelSet { current.withLock { $0.0 } }

    /// Hands checked models to the processing thread (any thread). They are swapped in at the
    /// start of the next block of samples outside a cry episode (an episode is judged by one
    /// set of models), between frames: the front end and its look-ahead carry on, so no audio
    /// is skipped. Returns at once; `hasPendingModels` tells when the swap happened.
    public func install(_ set: ModelSet, reason: String) {
        pending.withLock { $0 = (set, reason) }
    }

    public var hasPendingModels: Bool { pending.withLock { $0 != nil } }

    /// Processing thread, between frames, outside an episode. The detector keeps its energy
    /// gate and segmenter (noise floor, hangover); only its learned stage is replaced, and
    /// starts from a reset state like after a silence.
    /// Frame at which waiting models were first seen (processing thread).
    private var pendingSince: Int?

    /// Swaps waiting models in while the energy gate is closed (then the detector's learned
    /// stage would be reset at the next sound anyway, so the swap changes no decision), or
    /// after 30 s of an open gate outside episodes (a sound that never stops).
    private func swapWhenQuiet(emit: (MonitorEvent) -> Void) {
        guard hasPendingModels else { pendingSince = nil; return }
        let since = pendingSince ?? framesProcessed
        pendingSince = since
        let framesPerSecond = Double(frontEnd.sampleRate) / Double(frontEnd.hopLength)
        if !(detector?.isGateOpen ?? false) || Double(framesProcessed - since) > 30 * framesPerSecond {
            pendingSince = nil
            swapPendingModels(emit: emit)
        }
    }

    /// Emits `models_loaded`. Also called by the daemon once the processing thread has ended.
    public func swapPendingModels(emit: (MonitorEvent) -> Void) {
        guard let (set, reason) = pending.withLock({ s -> (ModelSet, String)? in let v = s; s = nil; return v }) else { return }
        if let entry = set.detector {
            let point = Self.operatingPoint(configuredDetector, for: entry)
            if let detector, detector.mode == .learned,
               let stage2 = try? DetectorModel(model: entry.model, name: entry.path) {
                detector.replaceStage2(stage2)
                if detector.configuration.onThreshold != point.onThreshold || detector.configuration.offThreshold != point.offThreshold {
                    try? detector.setThresholds(on: point.onThreshold, off: point.offThreshold)
                }
            } else if let d = try? CryDetector(model: entry.model, name: entry.path, configuration: point) {
                detector = d
            }
        }
        if let entry = set.cause {
            cause = StreamingClassifier(model: entry.model)
            causeClasses = entry.model.configuration.classes
            calibration = entry.model.calibration
            if lastPosteriors.count != causeClasses.count {
                lastPosteriors = [Float](repeating: 0, count: causeClasses.count)
                windowSums = [Float](repeating: 0, count: causeClasses.count)
            }
        }
        current.withLock { c in
            var names = set.names
            if set.detector == nil, let energy = c.1.first(where: { $0.0 == "detector" }) { names.insert(energy, at: 0) }
            c = (set, names)
        }
        emit(.modelsLoaded(reason: reason, models: modelNames, adapted: set.adaptedRoles, onThreshold: detectorOnThreshold,
                           tAudio: seconds(framesProcessed)))
    }

    /// The detector settings for a model: an adapted detector that records its own
    /// on-threshold (metadata `on_threshold`, chosen by `crymodel adapt` on the home's labels)
    /// runs at it, the off-threshold lowered to it if need be; any other model runs at the
    /// configured `[detector] on_threshold`.
    /// The learned detector's on-threshold for the models in use (any thread), nil without one.
    public var detectorOnThreshold: Double? {
        guard let entry = models.detector else { return nil }
        return Double(Self.operatingPoint(configuredDetector, for: entry).onThreshold)
    }

    static func operatingPoint(_ configured: DetectorConfiguration, for entry: ModelSet.Entry) -> DetectorConfiguration {
        var c = configured
        if entry.adapted, let on = try? entry.model.recordedOnThreshold(path: entry.path) {
            c.onThreshold = on
            c.offThreshold = min(c.offThreshold, on)
        }
        return c
    }

    private func seconds(_ frame: Int) -> Double { frontEnd.frameStartTime(frame) }

    /// One feature frame: keep it, run the detector, and inside an episode the classifier.
    private func handleFrame(_ index: Int, _ frame: UnsafeBufferPointer<Float>, emit: (MonitorEvent) -> Void) {
        framesProcessed = index + 1
        let slot = (index % historyFrames) * featureCount
        history.withUnsafeMutableBufferPointer { h in
            for i in 0..<featureCount { h[slot + i] = frame[i] }
        }
        guard let detector else { return }
        detector.process(frame) { event in handleEpisodeEvent(event, emit: emit) }
        if inEpisode { episodePeak = max(episodePeak, detector.lastProbability) }
        if inEpisode && detector.isGateOpen {
            classify(frame, at: index, emit: emit)
        }
    }

    private func handleEpisodeEvent(_ event: EpisodeEvent, emit: (MonitorEvent) -> Void) {
        switch event {
        case .started(let onset, let confirmedAt):
            episodeNumber += 1
            inEpisode = true
            onsetFrame = onset
            episodePeak = detector?.lastProbability ?? 0
            emit(.cryStart(episode: episodeNumber, tAudio: seconds(onset), tConfirmed: seconds(confirmedAt)))
            guard cause != nil else { return }
            startWindow(at: onset)
            firstDecisionDone = false
            windowCount = 0
            for i in 0..<windowSums.count { windowSums[i] = 0 }
            // Catch up from the onset to the frame before the current one (the current
            // frame is classified by handleFrame after this returns).
            let first = max(onset, framesProcessed - historyFrames)
            if first < framesProcessed - 1 {
                for n in first..<(framesProcessed - 1) {
                    let slot = (n % historyFrames) * featureCount
                    history.withUnsafeBufferPointer { h in
                        classify(UnsafeBufferPointer(rebasing: h[slot..<(slot + featureCount)]), at: n, emit: emit)
                    }
                }
            }
        case .ended(let end):
            guard inEpisode else { return }
            inEpisode = false
            if cause != nil {
                if classifiedFrames >= minFinalWindowFrames || windowCount == 0 { closeWindow() }
                if windowCount > 0 {
                    let probs = windowSums.map { $0 / Float(windowCount) }
                    emit(needEvent(probs, at: end, final: true))
                }
            }
            emit(.cryEnd(episode: episodeNumber, tAudio: seconds(end), duration: seconds(end) - seconds(onsetFrame),
                         peakProbability: Double(episodePeak)))
        }
    }

    private func startWindow(at frame: Int) {
        cause?.reset()
        windowStart = frame
        classifiedFrames = 0
    }

    /// Steps the cause classifier over frame `index` of the running episode.
    private func classify(_ frame: UnsafeBufferPointer<Float>, at index: Int, emit: (MonitorEvent) -> Void) {
        guard let cause else { return }
        if index - windowStart >= restartFrames {
            // The window is over: its decision, then a fresh state.
            closeWindow()
            emit(needEvent(windowDecision, at: index, final: false))
            startWindow(at: index)
        }
        let p = cause.step(frame)
        for i in 0..<lastPosteriors.count { lastPosteriors[i] = p[i] }
        classifiedFrames += 1
        if !firstDecisionDone && index - onsetFrame + 1 >= firstDecisionFrames {
            firstDecisionDone = true
            if index - windowStart + 1 < restartFrames {
                emit(needEvent(lastPosteriors, at: index + 1, final: false))
            }
        }
    }

    private var windowDecision: [Float] { lastPosteriors }

    private func closeWindow() {
        guard classifiedFrames > 0 else { return }
        for i in 0..<windowSums.count { windowSums[i] += lastPosteriors[i] }
        windowCount += 1
        classifiedFrames = 0
    }

    /// The label "unsure" (interfaces.md) when the top calibrated probability is below
    /// `[classifier] min_confidence`; probs and confidence are given either way.
    public static let unsureLabel = "unsure"

    /// A need event from the network's posteriors: calibrated (the model file's temperature
    /// and prior correction), then the top cause, or "unsure" below min_confidence.
    private func needEvent(_ raw: [Float], at frame: Int, final: Bool) -> MonitorEvent {
        let probs = calibration?.calibrated(raw) ?? raw
        var best = 0
        for i in 1..<max(1, probs.count) where probs[i] > probs[best] { best = i }
        let pairs = zip(causeClasses, probs).map { ($0, Double($1)) }.sorted { $0.0 < $1.0 }
        let label = probs[best] < minConfidence ? Self.unsureLabel : causeClasses[best]
        return .need(episode: episodeNumber, tAudio: seconds(frame), label: label,
                     confidence: Double(probs[best]), probs: pairs, final: final)
    }
}
