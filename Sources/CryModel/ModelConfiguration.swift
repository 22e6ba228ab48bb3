import Features

/// The recurrent cell of both layers (model-spec section 2).
public enum CellKind: String, Codable, Sendable, CaseIterable {
    /// The paper's "traditional" LSTM, equations (1)-(6).
    case lstm
    /// The standard GRU (Cho et al. 2014).
    case gru
    /// LSTM whose forget and input gates are an attention gate over the last L cell states.
    case attgate
}

/// What the classes mean: the cause of a cry, or cry / not-cry.
public enum ModelTask: String, Codable, Sendable, CaseIterable {
    case cause, detect
}

/// Everything that fixes a network's shape, plus the front end its features come from.
public struct ModelConfiguration: Codable, Sendable, Equatable {
    public var task: ModelTask
    public var classes: [String]
    public var cell: CellKind
    /// Attention depth L (attgate: L >= 1; lstm and gru: 0).
    public var depth: Int
    /// Hidden sizes of the stacked recurrent layers, bottom first.
    public var hidden: [Int]
    /// Sizes of the tanh dense layers between the last recurrent layer and the softmax.
    public var dense: [Int]
    /// Features per frame.
    public var inputSize: Int
    public var frontEnd: FrontEndConfig

    public init(
        task: ModelTask = .cause,
        classes: [String],
        cell: CellKind = .attgate,
        depth: Int? = nil,
        hidden: [Int] = ModelConfiguration.defaultHidden,
        dense: [Int] = ModelConfiguration.defaultDense,
        inputSize: Int? = nil,
        frontEnd: FrontEndConfig = .standard
    ) {
        self.task = task
        self.classes = classes
        self.cell = cell
        self.depth = depth ?? (cell == .attgate ? 1 : 0)
        self.hidden = hidden
        self.dense = dense
        self.inputSize = inputSize ?? frontEnd.featureCount
        self.frontEnd = frontEnd
    }

    /// The daemon's default: small enough for an ARM board (chosen by `crymodel bench`).
    public static let defaultHidden = [128, 64]
    public static let defaultDense = [64]
    /// The paper's Table 1 sizes.
    public static let paperHidden = [512, 256]
    public static let paperDense = [256, 128]

    /// The cry-cause classes of the public corpus, in the order the models use.
    public static let causeClasses = ["hungry", "tired", "belly_pain", "discomfort", "burping"]

    /// Upper bounds that keep a corrupt file from asking for absurd allocations.
    static let maxLayerSize = 1 << 14
    static let maxDepth = 64

    /// Throws a description of the first field that cannot describe a network.
    public func validate() throws(ConfigurationError) {
        if classes.count < 2 { throw ConfigurationError("needs at least 2 classes, has \(classes.count)") }
        if Set(classes).count != classes.count { throw ConfigurationError("class names repeat: \(classes)") }
        if classes.contains(where: \.isEmpty) { throw ConfigurationError("a class name is empty") }
        switch cell {
        case .attgate:
            if depth < 1 || depth > Self.maxDepth {
                throw ConfigurationError("attgate depth must be 1...\(Self.maxDepth), is \(depth)")
            }
        case .lstm, .gru:
            if depth != 0 { throw ConfigurationError("\(cell.rawValue) has no attention depth, depth must be 0, is \(depth)") }
        }
        if hidden.isEmpty { throw ConfigurationError("needs at least one recurrent layer") }
        for (name, sizes) in [("hidden", hidden), ("dense", dense)] {
            for s in sizes where s < 1 || s > Self.maxLayerSize {
                throw ConfigurationError("\(name) size \(s) outside 1...\(Self.maxLayerSize)")
            }
        }
        if inputSize < 1 || inputSize > Self.maxLayerSize {
            throw ConfigurationError("input size \(inputSize) outside 1...\(Self.maxLayerSize)")
        }
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
