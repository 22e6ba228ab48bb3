/// One named parameter tensor inside a network's flat parameter vector.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    /// Row-major shape: [rows, cols] for a matrix, [n] for a vector.
    public let shape: [Int]
    /// First element in the flat vector.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Matrices get L2 regularisation; biases do not.
    public var isMatrix: Bool { shape.count == 2 }
}

/// Where each tensor of a network lives in its single flat parameter vector. One flat
/// vector keeps the hot path to one base pointer and lets an optimiser treat all
/// parameters (and gradients, which share the layout) as one array.
public struct ParameterLayout: Sendable, Equatable {
    public private(set) var tensors: [TensorSpec] = []
    public private(set) var count = 0
    let layers: [RecurrentLayer]
    let denseLayers: [DenseLayer]
    let softmax: DenseLayer

    public init(configuration c: ModelConfiguration) {
        var tensors: [TensorSpec] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let spec = TensorSpec(name: name, shape: shape, offset: offset)
            tensors.append(spec)
            offset += spec.count
            return spec.offset
        }
        var layers: [RecurrentLayer] = []
        var inputSize = c.inputSize
        for (l, h) in c.hidden.enumerated() {
            let d = inputSize
            let p = "layer\(l)."
            switch c.cell {
            case .lstm:
                // Gate matrices adjacent in the order f, i, c, o: one fused 4H x (H+D) product.
                let w = add(p + "W_f", [h, h + d])
                _ = add(p + "W_i", [h, h + d])
                _ = add(p + "W_c", [h, h + d])
                _ = add(p + "W_o", [h, h + d])
                let b = add(p + "b_f", [h])
                _ = add(p + "b_i", [h])
                _ = add(p + "b_c", [h])
                _ = add(p + "b_o", [h])
                layers.append(.lstm(LSTMCell(inputSize: d, hiddenSize: h, weights: w, biases: b)))
            case .gru:
                let wzr = add(p + "W_z", [h, h + d])
                _ = add(p + "W_r", [h, h + d])
                let wh = add(p + "W_h", [h, h + d])
                let bzr = add(p + "b_z", [h])
                _ = add(p + "b_r", [h])
                let bh = add(p + "b_h", [h])
                layers.append(.gru(GRUCell(inputSize: d, hiddenSize: h, wZR: wzr, wH: wh, bZR: bzr, bH: bh)))
            case .attgate:
                let wc = add(p + "W_c", [h, h + d])
                let bc = add(p + "b_c", [h])
                let wo = add(p + "W_o", [h, 2 * h + d])
                let bo = add(p + "b_o", [h])
                let w = add(p + "W", [h, h])
                let bw = add(p + "b_W", [h])
                let v = add(p + "V", [h, h])
                layers.append(.attgate(AttentionGateCell(
                    inputSize: d, hiddenSize: h, depth: c.depth,
                    wC: wc, bC: bc, wO: wo, bO: bo, w: w, bW: bw, v: v)))
            }
            inputSize = h
        }
        var dense: [DenseLayer] = []
        for (j, n) in c.dense.enumerated() {
            let w = add("dense\(j).weight", [n, inputSize])
            let b = add("dense\(j).bias", [n])
            dense.append(DenseLayer(inputSize: inputSize, outputSize: n, weight: w, bias: b))
            inputSize = n
        }
        let sw = add("softmax.weight", [c.classes.count, inputSize])
        let sb = add("softmax.bias", [c.classes.count])
        self.tensors = tensors
        self.count = offset
        self.layers = layers
        self.denseLayers = dense
        self.softmax = DenseLayer(inputSize: inputSize, outputSize: c.classes.count, weight: sw, bias: sb)
    }

    public func spec(named name: String) -> TensorSpec? { tensors.first { $0.name == name } }

    /// Parameters per group: "layer0", "layer1", "dense0", "softmax".
    public var countsByGroup: [(group: String, count: Int)] {
        var out: [(String, Int)] = []
        for t in tensors {
            let g = String(t.name.prefix { $0 != "." })
            if let last = out.last, last.0 == g { out[out.count - 1].1 += t.count } else { out.append((g, t.count)) }
        }
        return out
    }
}

/// A recurrent layer: which cell, with its tensors' offsets.
enum RecurrentLayer: Sendable, Equatable {
    case lstm(LSTMCell)
    case gru(GRUCell)
    case attgate(AttentionGateCell)

    var hiddenSize: Int {
        switch self {
        case .lstm(let c): c.hiddenSize
        case .gru(let c): c.hiddenSize
        case .attgate(let c): c.hiddenSize
        }
    }
    var inputSize: Int {
        switch self {
        case .lstm(let c): c.inputSize
        case .gru(let c): c.inputSize
        case .attgate(let c): c.inputSize
        }
    }
}

/// z = W x + b, then tanh (hidden dense layers) or softmax (the output layer).
struct DenseLayer: Sendable, Equatable {
    let inputSize: Int
    let outputSize: Int
    let weight: Int
    let bias: Int
}
