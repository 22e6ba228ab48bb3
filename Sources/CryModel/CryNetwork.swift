/// A cry classifier's weights: stacked recurrent layers, tanh dense layers, softmax.
/// Output at frame t is softmax(dense(h_t of the last recurrent layer)) (model-spec 3).
/// All parameters live in one flat vector, described by `layout`.
public struct CryNetwork<Scalar: CryScalar>: Sendable {
    public let configuration: ModelConfiguration
    public let layout: ParameterLayout
    /// Every tensor of `layout`, back to back, each row-major.
    public var parameters: [Scalar]

    /// A network with the given weights; the count must match the configuration's layout.
    public init(configuration: ModelConfiguration, parameters: [Scalar]) throws(ConfigurationError) {
        try configuration.validate()
        let layout = ParameterLayout(configuration: configuration)
        guard parameters.count == layout.count else {
            throw ConfigurationError("expected \(layout.count) parameters, got \(parameters.count)")
        }
        self.configuration = configuration
        self.layout = layout
        self.parameters = parameters
    }

    /// Deterministic random initialisation from `seed`: Glorot-uniform matrices
    /// (r = sqrt(6 / (fan_in + fan_out)) per gate matrix), zero biases, LSTM forget bias 1.
    public static func random(configuration: ModelConfiguration, seed: UInt64) throws(ConfigurationError) -> CryNetwork {
        try configuration.validate()
        let layout = ParameterLayout(configuration: configuration)
        var rng = SplitMix64(seed: seed)
        var values = [Scalar](repeating: 0, count: layout.count)
        for t in layout.tensors {
            if t.isMatrix {
                let r = (6.0 / Double(t.shape[0] + t.shape[1])).squareRoot()
                for i in t.offset..<(t.offset + t.count) { values[i] = Scalar(rng.nextSymmetric(r)) }
            } else if configuration.cell == .lstm, t.name.hasSuffix(".b_f") {
                for i in t.offset..<(t.offset + t.count) { values[i] = 1 }
            }
        }
        return try CryNetwork(configuration: configuration, parameters: values)
    }

    /// The same network in another scalar type (Float <-> Double).
    public init<Other: CryScalar>(converting other: CryNetwork<Other>) {
        configuration = other.configuration
        layout = other.layout
        parameters = other.parameters.map { Scalar($0) }
    }

    public var parameterCount: Int { layout.count }

    /// The elements of one named tensor (e.g. "layer0.W_c"), or nil.
    public func tensor(named name: String) -> ArraySlice<Scalar>? {
        guard let s = layout.spec(named: name) else { return nil }
        return parameters[s.offset..<(s.offset + s.count)]
    }

    /// Replaces one named tensor's elements.
    public mutating func setTensor(named name: String, to values: [Scalar]) throws(ConfigurationError) {
        guard let s = layout.spec(named: name) else { throw ConfigurationError("no tensor \(name)") }
        guard values.count == s.count else {
            throw ConfigurationError("tensor \(name) has \(s.count) elements, got \(values.count)")
        }
        parameters.replaceSubrange(s.offset..<(s.offset + s.count), with: values)
    }

    public var classCount: Int { configuration.classes.count }
    public var inputSize: Int { configuration.inputSize }
}

// MARK: - Dense head, shared by streaming and whole-sequence runs

extension DenseLayer {
    /// y = tanh(W x + b)
    @inline(__always)
    func tanhForward<S: CryScalar>(_ p: UnsafePointer<S>, _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>) {
        matvec(p + weight, rows: outputSize, cols: inputSize, x, bias: p + bias, into: y)
        S.tanhInPlace(y, outputSize)
    }

    /// y = softmax(W x + b), max-subtracted
    @inline(__always)
    func softmaxForward<S: CryScalar>(_ p: UnsafePointer<S>, _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>) {
        matvec(p + weight, rows: outputSize, cols: inputSize, x, bias: p + bias, into: y)
        var mx = y[0]
        for j in 1..<outputSize { mx = max(mx, y[j]) }
        var sum: S = 0
        for j in 0..<outputSize {
            let e = S.cryExp(y[j] - mx)
            y[j] = e
            sum += e
        }
        let inv = 1 / sum
        for j in 0..<outputSize { y[j] *= inv }
    }
}
