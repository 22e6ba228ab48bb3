// The three recurrent cells' forward steps (model-spec section 2). Each step reads the
// parameters from one base pointer and writes every intermediate the backward pass needs
// into caller-provided storage: trace rows for a whole sequence, or the streaming state's
// preallocated buffers. The same code therefore serves both ways of running.

/// The paper's LSTM, equations (1)-(6):
///     f_t = sigma(W_f [h_{t-1}, x_t] + b_f)
///     i_t = sigma(W_i [h_{t-1}, x_t] + b_i)
///     Ctilde_t = tanh(W_c [h_{t-1}, x_t] + b_c)
///     C_t = f_t (.) C_{t-1} + i_t (.) Ctilde_t
///     o_t = sigma(W_o [h_{t-1}, x_t] + b_o)
///     h_t = o_t (.) tanh(C_t)
public struct LSTMCell: Sendable, Equatable {
    public let inputSize: Int
    public let hiddenSize: Int
    /// Offset of W_f; W_i, W_c, W_o follow, forming one 4H x (H+D) matrix.
    let weights: Int
    /// Offset of b_f; b_i, b_c, b_o follow.
    let biases: Int

    /// hx = [h_{t-1}, x_t]; gates receives (f, i, Ctilde, o), each H.
    @inline(__always)
    func step<S: CryScalar>(
        _ p: UnsafePointer<S>, hx: UnsafePointer<S>, cPrev: UnsafePointer<S>,
        gates: UnsafeMutablePointer<S>, c: UnsafeMutablePointer<S>,
        tanhC: UnsafeMutablePointer<S>, h: UnsafeMutablePointer<S>
    ) {
        let n = hiddenSize
        matvec(p + weights, rows: 4 * n, cols: n + inputSize, hx, bias: p + biases, into: gates)
        S.sigmoidInPlace(gates, 2 * n)          // f, i
        S.tanhInPlace(gates + 2 * n, n)         // Ctilde
        S.sigmoidInPlace(gates + 3 * n, n)      // o
        for j in 0..<n {
            let cj = gates[j] * cPrev[j] + gates[n + j] * gates[2 * n + j]
            c[j] = cj
            tanhC[j] = cj
        }
        S.tanhInPlace(tanhC, n)
        for j in 0..<n { h[j] = gates[3 * n + j] * tanhC[j] }
    }
}

/// The GRU of Cho et al. (2014):
///     z_t = sigma(W_z [h_{t-1}, x_t] + b_z)
///     r_t = sigma(W_r [h_{t-1}, x_t] + b_r)
///     htilde_t = tanh(W_h [r_t (.) h_{t-1}, x_t] + b_h)
///     h_t = z_t (.) h_{t-1} + (1 - z_t) (.) htilde_t
public struct GRUCell: Sendable, Equatable {
    public let inputSize: Int
    public let hiddenSize: Int
    /// W_z then W_r: one 2H x (H+D) matrix.
    let wZR: Int
    let wH: Int
    let bZR: Int
    let bH: Int

    /// hx = [h_{t-1}, x_t]; zr receives (z, r); rhx is scratch of H + D for [r (.) h, x].
    @inline(__always)
    func step<S: CryScalar>(
        _ p: UnsafePointer<S>, hx: UnsafePointer<S>,
        zr: UnsafeMutablePointer<S>, rhx: UnsafeMutablePointer<S>,
        hTilde: UnsafeMutablePointer<S>, h: UnsafeMutablePointer<S>
    ) {
        let n = hiddenSize, d = inputSize
        matvec(p + wZR, rows: 2 * n, cols: n + d, hx, bias: p + bZR, into: zr)
        S.sigmoidInPlace(zr, 2 * n)
        for j in 0..<n { rhx[j] = zr[n + j] * hx[j] }
        (rhx + n).update(from: hx + n, count: d)
        matvec(p + wH, rows: n, cols: n + d, rhx, bias: p + bH, into: hTilde)
        S.tanhInPlace(hTilde, n)
        for j in 0..<n {
            let z = zr[j]
            h[j] = z * hx[j] + (1 - z) * hTilde[j]
        }
    }
}

/// The attention-gate LSTM of depth L ("LSTM + deepf_L"):
///     a_{t,k}  = V tanh(W C_{t-k} + b_W)              k = 1..L, lags before t = 1 masked
///     alpha_t  = softmax over k of a_{t,k}, per hidden unit
///     Cbar     = sum_k alpha_{t,k} (.) C_{t-k}
///     f_t      = sigma(sum_k alpha_{t,k} (.) a_{t,k}),   i_t = 1 - f_t
///     Ctilde_t = tanh(W_c [h_{t-1}, x_t] + b_c)
///     C_t      = f_t (.) Cbar + i_t (.) Ctilde_t
///     o_t      = sigma(W_o [C_t, h_{t-1}, x_t] + b_o)
///     h_t      = o_t (.) tanh(C_t)
/// a depends only on the state it looks at, so it is computed once per new cell state
/// (u = tanh(W C + b_W), a = V u) and kept with C in a ring of the last L states.
public struct AttentionGateCell: Sendable, Equatable {
    public let inputSize: Int
    public let hiddenSize: Int
    public let depth: Int
    let wC: Int, bC: Int, wO: Int, bO: Int, w: Int, bW: Int, v: Int

    /// u = tanh(W c + b_W), a = V u: the attention score of one cell state, for every lag.
    @inline(__always)
    func score<S: CryScalar>(
        _ p: UnsafePointer<S>, c: UnsafePointer<S>,
        u: UnsafeMutablePointer<S>, a: UnsafeMutablePointer<S>
    ) {
        let n = hiddenSize
        matvec(p + w, rows: n, cols: n, c, bias: p + bW, into: u)
        S.tanhInPlace(u, n)
        matvec(p + v, rows: n, cols: n, u, bias: nil, into: a)
    }

    /// One step. `cat` holds [_, h_{t-1}, x_t] on entry (C_t is written into its first H).
    /// Past states: row r of ringC/ringA (H each) holds C and a; lag k is row
    /// (newest - k + 1) mod capacity, for k = 1...available. The new state goes to row
    /// `slot` of ringC/ringA after every lag has been read, so slot may be the oldest row.
    /// Outputs: alpha (available x H, row k-1 for lag k), cBar, f, cTilde, o, tanhC, h, u.
    @inline(__always)
    func step<S: CryScalar>(
        _ p: UnsafePointer<S>, cat: UnsafeMutablePointer<S>,
        ringC: UnsafeMutablePointer<S>, ringA: UnsafeMutablePointer<S>,
        newest: Int, capacity: Int, available: Int, slot: Int,
        alpha: UnsafeMutablePointer<S>, cBar: UnsafeMutablePointer<S>,
        f: UnsafeMutablePointer<S>, cTilde: UnsafeMutablePointer<S>,
        o: UnsafeMutablePointer<S>, tanhC: UnsafeMutablePointer<S>,
        h: UnsafeMutablePointer<S>, u: UnsafeMutablePointer<S>
    ) {
        let n = hiddenSize
        @inline(__always) func row(_ k: Int) -> Int { (newest - k + 1 + capacity) % capacity * n }

        // Attention over the available lags; f temporarily holds g = sum_k alpha (.) a.
        if available == 1 {
            let c1 = ringC + row(1), a1 = ringA + row(1)
            for j in 0..<n {
                alpha[j] = 1
                cBar[j] = c1[j]
                f[j] = a1[j]
            }
        } else {
            // Softmax per hidden unit, max-subtracted; o and tanhC serve as scratch here.
            let mx = o, sum = tanhC
            (mx).update(from: ringA + row(1), count: n)
            for k in 2...available {
                let ak = ringA + row(k)
                for j in 0..<n { mx[j] = max(mx[j], ak[j]) }
            }
            sum.update(repeating: 0, count: n)
            for k in 1...available {
                let ak = ringA + row(k), al = alpha + (k - 1) * n
                for j in 0..<n { al[j] = ak[j] - mx[j] }
                S.expInPlace(al, n)
                for j in 0..<n { sum[j] += al[j] }
            }
            cBar.update(repeating: 0, count: n)
            f.update(repeating: 0, count: n)
            for j in 0..<n { sum[j] = 1 / sum[j] }
            for k in 1...available {
                let ck = ringC + row(k), ak = ringA + row(k), al = alpha + (k - 1) * n
                for j in 0..<n {
                    let w = al[j] * sum[j]
                    al[j] = w
                    cBar[j] += w * ck[j]
                    f[j] += w * ak[j]
                }
            }
        }
        S.sigmoidInPlace(f, n)

        // Candidate from [h_{t-1}, x_t], then the new cell state into cat's first H.
        matvec(p + wC, rows: n, cols: n + inputSize, cat + n, bias: p + bC, into: cTilde)
        S.tanhInPlace(cTilde, n)
        for j in 0..<n {
            let cj = f[j] * cBar[j] + (1 - f[j]) * cTilde[j]
            cat[j] = cj
            tanhC[j] = cj
        }
        matvec(p + wO, rows: n, cols: 2 * n + inputSize, cat, bias: p + bO, into: o)
        S.sigmoidInPlace(o, n)
        S.tanhInPlace(tanhC, n)
        for j in 0..<n { h[j] = o[j] * tanhC[j] }
        // Score the new state once, for the next L steps.
        let cNew = ringC + slot * n
        cNew.update(from: cat, count: n)
        score(p, c: cNew, u: u, a: ringA + slot * n)
    }
}

/// Streaming memory of an attention-gate layer: the last L cell states and their scores,
/// newest at `newest`, `available` of them valid (1 after reset: C_0 = 0 is a real state).
public struct AttentionRing: Sendable {
    public let depth: Int
    public internal(set) var newest = 0
    public internal(set) var available = 1
    public init(depth: Int) { self.depth = depth }
    /// Row for the state after this one.
    var nextSlot: Int { (newest + 1) % depth }
    mutating func advance() {
        newest = nextSlot
        available = min(available + 1, depth)
    }
    mutating func reset() { newest = 0; available = 1 }
}
