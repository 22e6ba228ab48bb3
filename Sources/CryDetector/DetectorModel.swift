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

/// An ensemble: p(cry) = (1/M) sum_m p_m(cry) over M members stepped on the same frame
/// (members trained with different seeds disagree most on sounds none of them learned, so
/// the mean is lower there than on a cry that all of them know). Cost: M times a member's.
public final class AveragedCryModel: CryProbabilityModel {
    public let members: [CryProbabilityModel]
    public let featureCount: Int

    /// `members` must agree on the feature count (the message names the first that does not).
    public init(members: [CryProbabilityModel], names: [String]) throws {
        guard let first = members.first else { throw DetectorError.noDetectorModel }
        for (i, m) in members.enumerated() where m.featureCount != first.featureCount {
            throw DetectorError.featureCountMismatch(model: i < names.count ? names[i] : "member \(i)",
                                                     expected: first.featureCount, got: m.featureCount)
        }
        self.members = members
        featureCount = first.featureCount
    }

    public func cryProbability(_ features: UnsafeBufferPointer<Float>) -> Float {
        var sum: Float = 0
        for m in members { sum += m.cryProbability(features) }
        return sum / Float(members.count)
    }

    public func reset() { for m in members { m.reset() } }
}

extension CryDetector {
    /// A learned detector over the mean p(cry) of several detect models (an ensemble of
    /// seeds); they must share one front end. One model is the same as `init(model:...)`.
    public convenience init(models: [CryModelFile], names: [String],
                            configuration: DetectorConfiguration = .standard) throws {
        guard let first = models.first else { throw DetectorError.noDetectorModel }
        if models.count == 1 {
            try self.init(model: first, name: names.first ?? "model", configuration: configuration)
            return
        }
        let fe = first.configuration.frontEnd
        var stages: [CryProbabilityModel] = []
        for (i, m) in models.enumerated() {
            let name = i < names.count ? names[i] : "member \(i)"
            guard m.configuration.frontEnd == fe else {
                throw DetectorError.invalidConfiguration(field: "models", value: name,
                                                         problem: "front end differs from the first model's; an ensemble shares one front end")
            }
            stages.append(try DetectorModel(model: m, name: name))
        }
        var c = configuration
        c.frameSeconds = Double(fe.hopLength) / Double(fe.sampleRate)
        try self.init(stage2: AveragedCryModel(members: stages, names: names), configuration: c,
                      levelFeatureIndex: fe.featureNames.firstIndex(of: "log_rms") ?? 0)
    }
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
