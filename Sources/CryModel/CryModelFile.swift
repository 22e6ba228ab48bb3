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
