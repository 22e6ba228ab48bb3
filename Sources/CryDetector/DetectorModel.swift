import CryModel
import Features

/// Stage 2 over a trained model file: a `StreamingClassifier` whose task is `detect`;
/// p(cry) is the posterior of its class `cry`.
public final class DetectorModel: CryProbabilityModel {
    public let classifier: StreamingClassifier
    public let cryIndex: Int
    public let featureCount: Int

    /// Refuses a model that was not trained to detect cries (`name` is for the message).
    public init(model: CryModelFile, name: String) throws {
        let c = model.configuration
        guard c.task == .detect else { throw DetectorError.wrongTask(model: name, task: c.task.rawValue) }
        guard let i = c.classes.firstIndex(of: "cry") else {
            throw DetectorError.missingCryClass(model: name, classes: c.classes)
        }
        guard c.inputSize == c.frontEnd.featureCount else {
            throw DetectorError.featureCountMismatch(model: name, expected: c.inputSize, got: c.frontEnd.featureCount)
        }
        classifier = StreamingClassifier(model: model)
        cryIndex = i
        featureCount = c.inputSize
    }

    @inline(__always)
    public func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float {
        classifier.step(features)[cryIndex]
    }

    public func reset() { classifier.reset() }
}

extension CryDetector {
    /// A learned detector over `model` (task `detect`); the frame duration is taken from
    /// the model's front end.
    public convenience init(model: CryModelFile, name: String,
                            configuration: DetectorConfiguration = .standard) throws {
        var c = configuration
        let fe = model.configuration.frontEnd
        c.frameSeconds = Double(fe.hopLength) / Double(fe.sampleRate)
        try self.init(stage2: DetectorModel(model: model, name: name), configuration: c,
                      levelFeatureIndex: fe.featureNames.firstIndex(of: "log_rms") ?? 0)
    }
}

extension CryDetector {
    /// The detector a program asks for: the model at `modelPath`, or the energy-only
    /// baseline when `energyOnly` is set explicitly. No model and no `energyOnly` is an
    /// error (there is no fallback that pretends to detect cries).
    public static func make(modelPath: String?, energyOnly: Bool,
                            configuration: DetectorConfiguration = .standard,
                            frontEnd: FrontEndConfig = .standard) throws -> CryDetector {
        if let modelPath {
            return try CryDetector(model: CryModelFile.load(path: modelPath), name: modelPath, configuration: configuration)
        }
        guard energyOnly else { throw DetectorError.noDetectorModel }
        var c = configuration
        c.frameSeconds = Double(frontEnd.hopLength) / Double(frontEnd.sampleRate)
        return try CryDetector(energyOnlyWith: c, levelFeatureIndex: frontEnd.featureNames.firstIndex(of: "log_rms") ?? 0)
    }
}
