import ArgumentParser
import AudioIO
import CryDetector
import CryModel
import Features
import Foundation

/// `crymodel detect`: the streaming detector (and cause classifier) over a recording.
struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Find cry episodes in a recording with the streaming detector; score them against labels.",
        discussion: """
            Prints one line per episode: start_s<TAB>end_s[<TAB>cause], seconds from the start of \
            the file. With --labels (start_s end_s cause per cry, as written by `crymodel night`) it \
            then prints '# name value' lines: recall, false alarms per hour, onset latency (median, \
            p90: from the labelled start to the moment the decision is available, look-ahead of the \
            front end included), the share of non-cry time inside detected episodes and, with \
            --cause, the cause UAR over found cries. --energy-only runs the sound-activated \
            baseline (gate only) instead of a learned detector; it is not a cry detector.
            """)

    @Option(help: "Detector model file (trained with `crymodel train --task detect`); repeat it for an ensemble (mean p(cry) of the models).")
    var model: [String] = []
    @Option(help: "Cause model file, run during each episode (reset at its start).") var cause: String?
    @Flag(help: "The sound-activated baseline: episodes wherever the energy gate is open.") var energyOnly = false
    @Argument(help: "Recording (WAV; resampled to the model's rate).") var audio: String
    @Option(help: "Labels TSV to score against.") var labels: String?
    @Option(help: "With --labels: the night's placements.tsv, to count the false alarms per distractor class.")
    var placements: String?
    @Option(help: "Write per-frame gate and p(cry) to this TSV.") var probabilities: String?
    @Flag(help: "With --labels: also print the figures for a range of on-thresholds (trade-off curve).") var sweep = false
    @Option(help: "With --sweep: write every on-threshold's episodes to this TSV (on_threshold, start_s, end_s, confirmed_s), for per-class scoring.")
    var sweepEpisodes: String?

    @Option(help: "On-threshold of p(cry).") var onThreshold: Float = DetectorConfiguration.standard.onThreshold
    @Option(help: "Off-threshold of p(cry).") var offThreshold: Float = DetectorConfiguration.standard.offThreshold
    @Option(help: "Frames above the on-threshold that confirm an onset.") var confirmFrames: Int = DetectorConfiguration.standard.onsetConfirmationFrames
    @Option(help: "Hangover in seconds.") var hangover: Double = DetectorConfiguration.standard.hangoverSeconds
    @Option(help: "Minimum episode length in seconds.") var minEpisode: Double = DetectorConfiguration.standard.minimumEpisodeSeconds
    @Option(help: "Merge episodes closer than this (seconds).") var mergeGap: Double = DetectorConfiguration.standard.mergeGapSeconds
    @Option(help: "Onset look-back to the gate opening (seconds).") var lookback: Double = DetectorConfiguration.standard.onsetLookbackSeconds
    @Option(help: "Gate margin over the noise floor in dB.") var gateMargin: Float = DetectorConfiguration.standard.gateMarginDB
    @Option(help: "Mean of p(cry) over this many seconds before segmentation (0: none).")
    var smoothing: Double = DetectorConfiguration.standard.probabilitySmoothingSeconds

    var detectorConfiguration: DetectorConfiguration {
        var c = DetectorConfiguration.standard
        c.onThreshold = onThreshold
        c.offThreshold = offThreshold
        c.onsetConfirmationFrames = confirmFrames
        c.hangoverSeconds = hangover
        c.minimumEpisodeSeconds = minEpisode
        c.mergeGapSeconds = mergeGap
        c.onsetLookbackSeconds = lookback
        c.gateMarginDB = gateMargin
        c.probabilitySmoothingSeconds = smoothing
        return c
    }

    func validate() throws {
        if energyOnly && !model.isEmpty { throw ValidationError("give either --model or --energy-only, not both") }
        if !energyOnly && model.isEmpty { throw ValidationError(DetectorError.noDetectorModel.description) }
        if sweepEpisodes != nil && !sweep { throw ValidationError("--sweep-episodes needs --sweep") }
        if placements != nil && labels == nil { throw ValidationError("--placements needs --labels (false alarms are episodes that overlap no labelled cry)") }
        do { try detectorConfiguration.validate() } catch { throw ValidationError("\(error)") }
    }

    /// A label or placements TSV: unreadable 74, malformed 65 (naming file and line).
    static func readTable<T>(_ path: String?, _ parse: (String, String) throws -> T) throws -> T? {
        guard let path else { return nil }
        try TrainingCLI.checkReadable(path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw fail("\(path): \(error)", code: SysExit.ioError) }
        do { return try parse(text, path) } catch { throw fail("\(error)", code: SysExit.dataError) }
    }

    static func loadModel(_ path: String) throws -> CryModelFile {
        guard FileManager.default.fileExists(atPath: path) else { throw fail("\(path): no such file", code: SysExit.ioError) }
        do { return try CryModelFile.load(path: path) } catch { throw fail("\(error)", code: SysExit.dataError) }
    }

    func run() throws {
        // Models first: a bad model is reported before any audio is read.
        let detectorFiles = try model.map(Self.loadModel)
        let causeFile = try cause.map(Self.loadModel)
        let frontEnd = detectorFiles.first?.configuration.frontEnd ?? causeFile?.configuration.frontEnd ?? .standard
        if let causeFile {
            guard causeFile.configuration.task == .cause else {
                throw fail("\(cause!): model task is '\(causeFile.configuration.task.rawValue)', --cause needs a cause model", code: SysExit.dataError)
            }
            guard causeFile.configuration.frontEnd == frontEnd else {
                throw fail("\(cause!): front end differs from the detector's (\(model.first ?? "standard")); train both on the same front end", code: SysExit.dataError)
            }
        }
        let detector: CryDetector
        do {
            detector = try detectorFiles.isEmpty
                ? CryDetector.make(modelPath: nil, energyOnly: true, configuration: detectorConfiguration, frontEnd: frontEnd)
                : CryDetector(models: detectorFiles, names: model, configuration: detectorConfiguration)
        } catch {
            throw fail("\(error)", code: SysExit.dataError)
        }
        let causeClassifier = causeFile.map { StreamingClassifier(model: $0) }
        let causeClasses = causeFile?.configuration.classes ?? []

        let labelled = try Self.readTable(labels, LabelFile.parse)
        let placed = try Self.readTable(placements, PlacementFile.parse)
        let samples: [Float]
        do { samples = try WAVReader.read(path: audio, sampleRate: frontEnd.sampleRate).samples } catch let e as AudioFileError {
            throw fail(e.description, code: FileManager.default.fileExists(atPath: audio) ? SysExit.dataError : SysExit.ioError)
        }

        // The stream: features -> detector -> (cause classifier while an episode is open).
        let rate = Double(frontEnd.sampleRate)
        let frameSeconds = Double(frontEnd.hopLength) / rate
        // Frame t's features exist once frame t+3 is complete (smoothing and delta look-ahead).
        let decisionDelay = Double(3 * frontEnd.hopLength + frontEnd.frameLength) / rate
        let featureCount = frontEnd.featureCount
        var frames: [Float] = []
        frames.reserveCapacity(frontEnd.frameCount(sampleCount: samples.count) * featureCount)
        var probs: [Float] = [], gates: [Bool] = []
        var episodes: [DetectedEpisode] = []
        var openEpisode: (onset: Int, confirmedAt: Int)?
        var causeNext = 0
        var causeHistory: [[Float]] = []
        var frameIndex = 0

        func handle(_ event: EpisodeEvent) {
            switch event {
            case let .started(onset, confirmedAt):
                openEpisode = (onset, confirmedAt)
                causeClassifier?.reset()
                causeNext = onset
                causeHistory.removeAll(keepingCapacity: true)
            case let .ended(end):
                guard let (onset, confirmedAt) = openEpisode else { return }
                var label: String?
                if causeClassifier != nil, !causeHistory.isEmpty {
                    // The episode's decision is the output at its last frame (model-spec 3).
                    let post = causeHistory[min(causeHistory.count - 1, max(0, end - 1 - onset))]
                    label = causeClasses[post.indices.max { post[$0] < post[$1] }!]
                }
                episodes.append(DetectedEpisode(start: Double(onset) * frameSeconds, end: Double(end) * frameSeconds,
                                                confirmedAt: Double(confirmedAt) * frameSeconds + decisionDelay, cause: label))
                openEpisode = nil
            }
        }
        func feedCause(upTo t: Int) {
            guard let causeClassifier, openEpisode != nil else { return }
            frames.withUnsafeBufferPointer { all in
                while causeNext <= t {
                    let row = UnsafeBufferPointer(rebasing: all[causeNext * featureCount ..< (causeNext + 1) * featureCount])
                    causeHistory.append(Array(causeClassifier.step(row)))
                    causeNext += 1
                }
            }
        }
        let onFrame: (Int, UnsafeBufferPointer<Float>) -> Void = { _, row in
            frames.append(contentsOf: row)
            detector.process(row, emit: handle)
            probs.append(detector.lastProbability)
            gates.append(detector.isGateOpen)
            feedCause(upTo: frameIndex)
            frameIndex += 1
        }
        let extractor = FeatureExtractor(config: frontEnd)
        samples.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {   // capture-sized blocks, as the daemon feeds them
                let n = min(1024, all.count - i)
                extractor.process(UnsafeBufferPointer(rebasing: all[i ..< i + n]), emit: onFrame)
                i += n
            }
        }
        extractor.finish(emit: onFrame)
        detector.finish(emit: handle)

        for e in episodes {
            print("\(LabelFile.fmt(e.start))\t\(LabelFile.fmt(e.end))" + (e.cause.map { "\t\($0)" } ?? ""))
        }
        if let probabilities {
            var text = "frame\tt_s\tgate\tp_cry\n"
            for t in probs.indices { text += "\(t)\t\(LabelFile.fmt(Double(t) * frameSeconds))\t\(gates[t] ? 1 : 0)\t\(probs[t])\n" }
            do { try text.write(toFile: probabilities, atomically: true, encoding: .utf8) } catch {
                throw fail("\(probabilities): \(error)", code: SysExit.ioError)
            }
        }
        guard let labelled else { return }
        let duration = Double(samples.count) / rate
        let s = DetectionScore.score(detected: episodes, labels: labelled, duration: duration)
        Self.printScore(s, mode: detector.mode, stage2Share: Double(detector.stage2FrameCount) / Double(max(1, detector.frameCount)))
        if let placed {
            print("# false_alarm_source\tcause\talarmed\tplaced")
            for f in FalseAlarmSource.count(detected: episodes, labels: labelled, placements: placed) {
                print("# false_alarm_source\t\(f.cause)\t\(f.alarmed)\t\(f.placed)")
            }
        }
        if sweep {
            // The trade-off curve: the learned detector over its on-threshold (offline
            // segmentation of the same p(cry) and gate, equal to the streaming one), the
            // energy-only baseline over its gate margin.
            print("# sweep\t\(detector.mode == .energyOnly ? "gate_margin_db" : "on_threshold")\trecall\tfalse_alarms_per_hour\tlatency_median_s\tlatency_p90_s\tnon_cry_share")
            func seconds(_ eps: [CryEpisode]) -> [DetectedEpisode] {
                eps.map { DetectedEpisode(start: Double($0.onsetFrame) * frameSeconds, end: Double($0.endFrame) * frameSeconds,
                                          confirmedAt: Double($0.confirmationFrame) * frameSeconds + decisionDelay) }
            }
            var sweepRows = "on_threshold\tstart_s\tend_s\tconfirmed_s\n"
            func line(_ value: Float, _ eps: [CryEpisode]) {
                for e in seconds(eps) {
                    sweepRows += "\(value)\t\(LabelFile.fmt(e.start))\t\(LabelFile.fmt(e.end))\t\(LabelFile.fmt(e.confirmedAt))\n"
                }
                let x = DetectionScore.score(detected: seconds(eps), labels: labelled, duration: duration)
                print("# sweep\t\(value)\t\(f3(x.recall))\t\(f3(x.falseAlarmsPerHour))\t\(f3(x.latencyMedian))\t\(f3(x.latencyP90))\t\(f3(x.nonCryShare))")
            }
            if detector.mode == .energyOnly {
                for margin: Float in [3, 6, 10, 15, 20, 25, 30, 35] {
                    var c = detector.configuration
                    c.gateMarginDB = margin
                    let baseline = try CryDetector(energyOnlyWith: c, levelFeatureIndex: detector.levelFeatureIndex)
                    line(margin, baseline.episodes(frames: frameIndex, featureCount: featureCount, values: frames))
                }
            } else {
                for on: Float in [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998] {
                    var c = detector.configuration
                    c.onThreshold = on
                    c.offThreshold = min(c.offThreshold, on)
                    line(on, EpisodeSegmenter.episodes(probabilities: probs, gate: gates, configuration: c))
                }
            }
            if let sweepEpisodes {
                do { try sweepRows.write(toFile: sweepEpisodes, atomically: true, encoding: .utf8) } catch {
                    throw fail("\(sweepEpisodes): \(error)", code: SysExit.ioError)
                }
            }
        }
    }

    static func printScore(_ s: DetectionScore, mode: CryDetector.Mode, stage2Share: Double) {
        print("# mode \(mode.rawValue)")
        print("# cries \(s.cries)")
        print("# found \(s.found)")
        print("# recall \(f3(s.recall))")
        print("# false_alarms \(s.falseAlarms)")
        print("# false_alarms_per_hour \(f3(s.falseAlarmsPerHour))")
        print("# onset_latency_median_s \(f3(s.latencyMedian))")
        print("# onset_latency_p90_s \(f3(s.latencyP90))")
        print("# non_cry_share \(f3(s.nonCryShare))")
        print("# detected_non_cry_share \(f3(s.detectedNonCryShare))")
        print("# stage2_frame_share \(f3(stage2Share))")
        if let uar = s.causeUAR { print("# cause_uar \(f3(uar)) over \(s.causePairs.count) found cries") }
    }
}

func f3(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.3f", x) }
