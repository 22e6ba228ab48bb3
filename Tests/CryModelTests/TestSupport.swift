import Foundation
import Features
@testable import CryModel

/// Small shapes so the debug build stays fast.
func smallConfiguration(_ cell: CellKind, depth: Int? = nil, hidden: [Int] = [6, 5], dense: [Int] = [4],
                        inputSize: Int = 3, classes: Int = 3) -> ModelConfiguration {
    ModelConfiguration(task: .cause, classes: (0..<classes).map { "c\($0)" }, cell: cell, depth: depth,
                       hidden: hidden, dense: dense, inputSize: inputSize)
}

/// Random frames, uniform in [-scale, scale).
func randomFrames(_ count: Int, _ size: Int, seed: UInt64, scale: Double = 1.5) -> [[Double]] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in (0..<size).map { _ in rng.nextSymmetric(scale) } }
}

/// Random parameters with biases too, so that no term of the equations hides behind a zero.
func randomNetwork<S: CryScalar>(_ c: ModelConfiguration, seed: UInt64, as: S.Type = S.self) throws -> CryNetwork<S> {
    var net = try CryNetwork<Double>.random(configuration: c, seed: seed)
    var rng = SplitMix64(seed: seed ^ 0xABCD)
    for t in net.layout.tensors where !t.isMatrix {
        for i in t.offset..<(t.offset + t.count) { net.parameters[i] = rng.nextSymmetric(0.5) }
    }
    return CryNetwork<S>(converting: net)
}

// MARK: - Naive transcriptions of the equations, straight from model-spec section 2.

func sigma(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

struct Naive {
    let net: CryNetwork<Double>
    func t(_ name: String) -> [Double] { Array(net.tensor(named: name)!) }
    func shape(_ name: String) -> [Int] { net.layout.spec(named: name)!.shape }
    /// W x + b
    func mv(_ name: String, _ x: [Double], bias: String? = nil) -> [Double] {
        let w = t(name), s = shape(name)
        precondition(s[1] == x.count)
        var y = bias.map { t($0) } ?? [Double](repeating: 0, count: s[0])
        for r in 0..<s[0] { for c in 0..<s[1] { y[r] += w[r * s[1] + c] * x[c] } }
        return y
    }

    func lstmLayer(_ p: String, _ xs: [[Double]], h n: Int) -> [[Double]] {
        var h = [Double](repeating: 0, count: n), c = h
        var out: [[Double]] = []
        for x in xs {
            let hx = h + x
            let f = mv(p + "W_f", hx, bias: p + "b_f").map(sigma)
            let i = mv(p + "W_i", hx, bias: p + "b_i").map(sigma)
            let ct = mv(p + "W_c", hx, bias: p + "b_c").map(tanh)
            let o = mv(p + "W_o", hx, bias: p + "b_o").map(sigma)
            c = (0..<n).map { f[$0] * c[$0] + i[$0] * ct[$0] }
            h = (0..<n).map { o[$0] * tanh(c[$0]) }
            out.append(h)
        }
        return out
    }

    func gruLayer(_ p: String, _ xs: [[Double]], h n: Int) -> [[Double]] {
        var h = [Double](repeating: 0, count: n)
        var out: [[Double]] = []
        for x in xs {
            let z = mv(p + "W_z", h + x, bias: p + "b_z").map(sigma)
            let r = mv(p + "W_r", h + x, bias: p + "b_r").map(sigma)
            let rh = (0..<n).map { r[$0] * h[$0] }
            let ht = mv(p + "W_h", rh + x, bias: p + "b_h").map(tanh)
            h = (0..<n).map { z[$0] * h[$0] + (1 - z[$0]) * ht[$0] }
            out.append(h)
        }
        return out
    }

    /// Xie et al.'s attention-gate LSTM (depth 1): f = sigma(V tanh(W C_{t-1} + b_W)), i = 1 - f.
    func xieLayer(_ p: String, _ xs: [[Double]], h n: Int) -> [[Double]] {
        var h = [Double](repeating: 0, count: n), c = h
        var out: [[Double]] = []
        for x in xs {
            let f = mv(p + "V", mv(p + "W", c, bias: p + "b_W").map(tanh)).map(sigma)
            let ct = mv(p + "W_c", h + x, bias: p + "b_c").map(tanh)
            c = (0..<n).map { f[$0] * c[$0] + (1 - f[$0]) * ct[$0] }
            let o = mv(p + "W_o", c + h + x, bias: p + "b_o").map(sigma)
            h = (0..<n).map { o[$0] * tanh(c[$0]) }
            out.append(h)
        }
        return out
    }

    /// The depth-L attention gate over the full history C_0 ... C_{t-1}, recomputing every
    /// score from scratch and masking lags before t = 1 explicitly.
    func attentionLayer(_ p: String, _ xs: [[Double]], h n: Int, depth: Int) -> [[Double]] {
        var history: [[Double]] = [[Double](repeating: 0, count: n)]   // C_0
        var h = [Double](repeating: 0, count: n)
        var out: [[Double]] = []
        for (index, x) in xs.enumerated() {
            let t = index + 1
            let lags = (1...depth).filter { t - $0 >= 0 }              // the mask
            let cs = lags.map { history[t - $0] }
            let scores = cs.map { mv(p + "V", mv(p + "W", $0, bias: p + "b_W").map(tanh)) }
            var cbar = [Double](repeating: 0, count: n), g = cbar
            for j in 0..<n {
                let e = scores.map { exp($0[j]) }
                let total = e.reduce(0, +)
                for k in 0..<lags.count {
                    cbar[j] += e[k] / total * cs[k][j]
                    g[j] += e[k] / total * scores[k][j]
                }
            }
            let f = g.map(sigma)
            let ct = mv(p + "W_c", h + x, bias: p + "b_c").map(tanh)
            let c = (0..<n).map { f[$0] * cbar[$0] + (1 - f[$0]) * ct[$0] }
            let o = mv(p + "W_o", c + h + x, bias: p + "b_o").map(sigma)
            h = (0..<n).map { o[$0] * tanh(c[$0]) }
            history.append(c)
            out.append(h)
        }
        return out
    }

    /// Whole network; `xie` selects the depth-1 transcription for attgate.
    func posteriors(_ xs: [[Double]], xie: Bool = false) -> [[Double]] {
        let c = net.configuration
        var seq = xs
        for (l, n) in c.hidden.enumerated() {
            let p = "layer\(l)."
            switch c.cell {
            case .lstm: seq = lstmLayer(p, seq, h: n)
            case .gru: seq = gruLayer(p, seq, h: n)
            case .attgate: seq = xie ? xieLayer(p, seq, h: n) : attentionLayer(p, seq, h: n, depth: c.depth)
            }
        }
        return seq.map { h in
            var a = h
            for j in 0..<c.dense.count { a = mv("dense\(j).weight", a, bias: "dense\(j).bias").map(tanh) }
            let z = mv("softmax.weight", a, bias: "softmax.bias")
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }
}

/// (cell, depth) pairs every test covers.
let allCells: [(CellKind, Int?)] = [(.lstm, nil), (.gru, nil), (.attgate, 1), (.attgate, 2), (.attgate, 3)]
