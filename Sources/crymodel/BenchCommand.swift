import ArgumentParser
import CryDetector
import CryModel
import Features
import Foundation

/// `crymodel bench`: speed of the streaming step for every cell at the default and the
/// paper's sizes (random weights, one thread), to choose sizes by measurement.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the classifier's streaming step (and the front end) on this machine.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Seconds of timed steps per configuration.")
    var seconds: Double = 0.5

    @Option(help: "Detector model to time (default: config/models/detector.safetensors when it exists here, else random weights of the shipped size).")
    var detector: String?

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
    }

    static let variants: [(name: String, cell: CellKind, depth: Int)] = [
        ("lstm", .lstm, 0), ("gru", .gru, 0), ("attgate1", .attgate, 1), ("attgate2", .attgate, 2), ("attgate3", .attgate, 3),
    ]

    /// The detector at `path`, the shipped one when run from the project folder, or random
    /// weights of the shipped size (the cost does not depend on the weights).
    static func detector(path: String?) throws -> (String, CryDetector) {
        let shipped = "config/models/detector.safetensors"
        if let file = path ?? (FileManager.default.fileExists(atPath: shipped) ? shipped : nil) {
            do {
                return (file, try CryDetector(model: CryModelFile.load(path: file), name: file))
            } catch {
                throw fail("\(error)", code: SysExit.dataError)
            }
        }
        let config = ModelConfiguration(task: .detect, classes: ["cry", "not_cry"], cell: .attgate, depth: 1,
                                        hidden: [64, 32], dense: [32], frontEnd: .standard)
        let network = try CryNetwork<Float>.random(configuration: config, seed: 1)
        let n = config.inputSize
        let file = CryModelFile(network: network, featureMean: [Float](repeating: 0, count: n),
                                featureStd: [Float](repeating: 1, count: n))
        return ("random weights, attgate L=1 [64,32]+[32]", try CryDetector(model: file, name: "random"))
    }

    /// 2 cores x 2 AVX-512 FMA units x 16 lanes x 2 flops x ~2.1 GHz, as stated for this machine.
    static let peakGflops = 270.0

    func run() throws {
        var output: [String: Any] = [:]
        var lines: [String] = []
        // Front end: the streaming extractor on generated cry-like audio, 8 kHz.
        let fe = FeatureExtractor.benchmark(seconds: max(1, seconds * 20))
        output["frontend_us_per_frame"] = (fe.microsecondsPerFrame * 1000).rounded() / 1000
        // xrt: audio seconds per wall second (issue 2's definition), e.g. 5000 = 5000x real time.
        let xrt = 1 / max(fe.realTimeFactor, 1e-12)
        output["frontend_xrt"] = xrt.rounded()
        output["frontend_processing_per_audio_second"] = fe.realTimeFactor
        lines.append(String(format: "frontend %8.3f us/frame  %.0fx real time (audio seconds per wall second)",
                            fe.microsecondsPerFrame, xrt))
        // Detector: idle (gate closed) and during a cry (gate open, stage 2 on every frame),
        // alone and with the front end, which runs on every frame in both cases.
        let (detectorName, cryDetector) = try Self.detector(path: detector)
        let d = cryDetector.benchmark(seconds: max(1, seconds * 20))
        let idleTotal = d.idleRealTimeFactor + fe.realTimeFactor, cryTotal = d.activeRealTimeFactor + fe.realTimeFactor
        output["detector"] = [
            "model": detectorName,
            "idle_processing_per_audio_second": d.idleRealTimeFactor,
            "cry_processing_per_audio_second": d.activeRealTimeFactor,
            "idle_xrt": (1 / max(d.idleRealTimeFactor, 1e-12)).rounded(),
            "cry_xrt": (1 / max(d.activeRealTimeFactor, 1e-12)).rounded(),
            "idle_with_frontend_xrt": (1 / max(idleTotal, 1e-12)).rounded(),
            "cry_with_frontend_xrt": (1 / max(cryTotal, 1e-12)).rounded(),
            "idle_stage2_frames": d.idleStage2Frames, "cry_stage2_frames": d.activeStage2Frames,
        ] as [String: Any]
        lines.append(String(format: "detector idle %.0fx real time (%.4f%% of a core), crying %.0fx (%.3f%%); with the front end: idle %.0fx, crying %.0fx  [%@]",
                            1 / max(d.idleRealTimeFactor, 1e-12), 100 * d.idleRealTimeFactor,
                            1 / max(d.activeRealTimeFactor, 1e-12), 100 * d.activeRealTimeFactor,
                            1 / max(idleTotal, 1e-12), 1 / max(cryTotal, 1e-12), detectorName))
        for (key, hidden, dense) in [("step_us_per_frame", ModelConfiguration.defaultHidden, ModelConfiguration.defaultDense),
                                     ("step_us_per_frame_paper", ModelConfiguration.paperHidden, ModelConfiguration.paperDense)] {
            var table: [String: Double] = [:]
            for v in Self.variants {
                let c = ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: v.cell, depth: v.depth,
                                           hidden: hidden, dense: dense)
                let r = try NetworkBenchmark.measureStep(configuration: c, seconds: seconds)
                table[v.name] = (r.microsecondsPerStep * 1000).rounded() / 1000
                lines.append(String(format: "%-8@ %@+%@  %8.3f us/step  %9d flop/step  %6.2f GFLOP/s",
                                    v.name, "\(hidden)", "\(dense)", r.microsecondsPerStep, r.flopsPerStep, r.gflops))
                if v.name == "attgate3" {
                    let suffix = key == "step_us_per_frame" ? "" : "_paper"
                    output["attgate3_flops_per_step" + suffix] = r.flopsPerStep
                    output["attgate3_gflops" + suffix] = (r.gflops * 100).rounded() / 100
                    output["attgate3_peak_fraction" + suffix] = (r.gflops / Self.peakGflops * 10000).rounded() / 10000
                    lines.append(String(format: "         attgate3 reaches %.1f%% of the machine's ~%.0f GFLOP/s peak (2 cores, AVX-512 FMA)",
                                        100 * r.gflops / Self.peakGflops, Self.peakGflops))
                }
            }
            output[key] = table
        }
        // Training cost: forward + BPTT, 300-frame sequences, default sizes.
        var training: [String: Double] = [:]
        for v in Self.variants {
            let c = ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: v.cell, depth: v.depth)
            let us = try NetworkBenchmark.measureTraining(configuration: c, frameCount: 300, seconds: seconds)
            training[v.name] = (us * 1000).rounded() / 1000
            lines.append(String(format: "%-8@ forward+BPTT %8.3f us/frame (300-frame sequences)", v.name, us))
        }
        output["train_us_per_frame"] = training
        output["threads"] = 1
        output["peak_gflops_assumed"] = Self.peakGflops
        if json {
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            lines.forEach { print($0) }
        }
    }
}
