import Features

/// A trained model: configuration, weights, feature normalisation and free-form metadata.
/// Stored as safetensors (model-spec section 5); see ModelFileFormat.swift.
public struct CryModelFile: Sendable {
    public var network: CryNetwork<Float>
    /// Per-feature mean and standard deviation of the training set (inputSize each).
    public var featureMean: [Float]
    public var featureStd: [Float]
    /// Extra string metadata kept in the file (e.g. "trained_with", "test_groups").
    public var extras: [String: String]

    public var configuration: ModelConfiguration { network.configuration }

    public init(network: CryNetwork<Float>, featureMean: [Float]? = nil, featureStd: [Float]? = nil,
                extras: [String: String] = [:]) {
        self.network = network
        self.featureMean = featureMean ?? [Float](repeating: 0, count: network.inputSize)
        self.featureStd = featureStd ?? [Float](repeating: 1, count: network.inputSize)
        self.extras = extras
    }
}

extension CryModelFile {
    /// (x - mean) / std for every frame, row-major, ready for `network.forward`.
    public func normalised(_ features: FeatureMatrix) -> [Float] {
        precondition(features.featureCount == network.inputSize,
                     "features have \(features.featureCount) columns, model expects \(network.inputSize)")
        let n = features.featureCount
        var out = features.values
        for i in out.indices { out[i] = (out[i] - featureMean[i % n]) / featureStd[i % n] }
        return out
    }

    /// Posteriors of every frame of a recording (or episode), normalised and run from the
    /// zero state; the decision is `lastPosteriors`. Nil for a recording with no frame.
    public func classify(_ features: FeatureMatrix) -> ForwardTrace<Float>? {
        guard features.frameCount > 0 else { return nil }
        return network.forward(frames: normalised(features), frameCount: features.frameCount)
    }
}

extension CryModelFile {
    /// Metadata key of a detector's own operating point: the on-threshold of p(cry) that
    /// `crymodel adapt` chose for an adapted detector on the home's labelled episodes. The
    /// daemon uses it instead of `[detector] on_threshold` when it runs that adapted model.
    public static let onThresholdKey = "on_threshold"

    /// The operating point recorded in the metadata, nil when there is none; an error naming
    /// the problem when the value is not a number in (0, 1].
    public func recordedOnThreshold(path: String) throws(ModelFileError) -> Float? {
        guard let text = extras[Self.onThresholdKey] else { return nil }
        guard let v = Float(text), v.isFinite, v > 0, v <= 1 else {
            throw ModelFileError(path: path, problem: "metadata \(Self.onThresholdKey) '\(text)' is not a number in (0, 1]")
        }
        return v
    }
}
