import ArgumentParser
import CryModel
import CryTraining
import Foundation

/// `crymodel classify`: label, confidence and every class probability per file, decided at
/// the file's last frame through the streaming path.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify WAV files with a model (label, confidence, all class probabilities).")

    @Option(help: "Model file.") var model: String
    @Flag(help: "One JSON object per file.") var json = false
    @Argument(help: "WAV files.") var files: [String] = []

    func run() throws {
        guard !files.isEmpty else { throw TrainingCLI.usage("give at least one WAV file") }
        let file = try TrainingCLI.loadModel(model)
        let classes = file.configuration.classes
        let calibration = file.calibration
        var worst: ExitCode?  // 74 if a file was unreadable, else 65 if one was bad
        for path in files {
            let p: [Float]
            if access(path, R_OK) != 0 {
                _ = fail("\(path): cannot open: \(String(cString: strerror(errno)))", code: SysExit.ioError)
                worst = SysExit.ioError
                continue
            }
            do {
                // The calibrated posteriors, as the daemon shows them (the network's own without a calibration).
                let raw = try StreamingEvaluation.lastFramePosteriors(model: file, paths: [path], threads: 1,
                                                                     pooling: TrainingPipeline.pooling(of: file))[0]
                p = calibration?.calibrated(raw) ?? raw
            } catch {
                _ = fail("\(error)", code: SysExit.dataError)
                if worst == nil { worst = SysExit.dataError }
                continue
            }
            let best = argmax(p)
            if json {
                let probs = classes.indices.map { "\(TrainingCLI.jsonString(classes[$0])):\(formatFixed(Double(p[$0]), 4))" }.joined(separator: ",")
                print("{\"file\":\(TrainingCLI.jsonString(path)),\"label\":\(TrainingCLI.jsonString(classes[best])),\"confidence\":\(formatFixed(Double(p[best]), 4)),\"probs\":{\(probs)}}")
            } else {
                let probs = classes.indices.map { "\(classes[$0])=\(formatFixed(Double(p[$0]), 3))" }.joined(separator: " ")
                print("\(path)\t\(classes[best])\t\(formatFixed(Double(p[best]), 3))\t\(probs)")
            }
        }
        if let worst { throw worst }
    }
}

extension TrainingCLI {
    static func jsonString(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
