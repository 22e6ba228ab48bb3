// Back-propagation through time (model-spec section 3): softmax cross-entropy at the
// frames that carry loss, back through the dense head, then each recurrent layer from
// the last frame to the first, the attention over cached cell states included.

/// Gradients of the loss with respect to every parameter, in the network's flat layout.
public struct CryNetworkGradients<Scalar: CryScalar>: Sendable {
    public let layout: ParameterLayout
    public var values: [Scalar]

    public init(layout: ParameterLayout) {
        self.layout = layout
        values = [Scalar](repeating: 0, count: layout.count)
    }

    public mutating func zero() {
        for i in values.indices { values[i] = 0 }
    }

    public func tensor(named name: String) -> ArraySlice<Scalar>? {
        guard let s = layout.spec(named: name) else { return nil }
        return values[s.offset..<(s.offset + s.count)]
    }
}

extension CryNetwork {
    /// Loss and gradients for one sequence: loss = sum_t w_t (-log p_t[target])
    /// + (l2 / 2) sum of squared matrix weights (biases are not regularised).
    /// `frameWeights` (frameCount values) says which frames carry loss; nil means the last
    /// frame only, weight 1 (a recording's decision is its last frame's output).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func lossAndGradients(
        frames: [Scalar], frameCount: Int, target: Int, frameWeights: [Scalar]? = nil, l2: Scalar = 0
    ) -> (loss: Scalar, gradients: CryNetworkGradients<Scalar>) {
        let trace = forward(frames: frames, frameCount: frameCount)
        var g = CryNetworkGradients<Scalar>(layout: layout)
        var loss = accumulateGradients(trace: trace, target: target, frameWeights: frameWeights, into: &g)
        loss += addL2(l2, into: &g)
        return (loss, g)
    }

    /// Adds (l2 / 2) sum W^2 over matrices to nothing and l2 W to `g`; returns the penalty.
    /// Apply once per batch.
    public func addL2(_ l2: Scalar, into g: inout CryNetworkGradients<Scalar>) -> Scalar {
        guard l2 != 0 else { return 0 }
        var penalty: Scalar = 0
        for t in layout.tensors where t.isMatrix {
            for i in t.offset..<(t.offset + t.count) {
                let w = parameters[i]
                penalty += w * w
                g.values[i] += l2 * w
            }
        }
        return l2 / 2 * penalty
    }

    /// Back-propagates the cross-entropy of a forward pass into `g` (added to what is
    /// there, so a batch accumulates); returns sum_t w_t (-log p_t[target]).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func accumulateGradients(
        trace: ForwardTrace<Scalar>, target: Int, frameWeights: [Scalar]? = nil,
        into g: inout CryNetworkGradients<Scalar>
    ) -> Scalar {
        let t = trace.frameCount
        precondition(target >= 0 && target < classCount, "target \(target) outside 0..<\(classCount)")
        precondition(frameWeights == nil || frameWeights!.count == t, "frameWeights: \(frameWeights!.count) for \(t) frames")
        precondition(g.values.count == layout.count)
        let weights = frameWeights ?? (0..<t).map { $0 == t - 1 ? 1 : 0 }
        var loss: Scalar = 0
        let lastHidden = layout.layers.last!.hiddenSize
        // dL/dh_t of the last recurrent layer, frame by frame.
        var dOut = [Scalar](repeating: 0, count: t * lastHidden)

        parameters.withUnsafeBufferPointer { pb in
            g.values.withUnsafeMutableBufferPointer { gb in
                let p = pb.baseAddress!, dp = gb.baseAddress!
                let widest = max(layout.softmax.inputSize, layout.denseLayers.map(\.inputSize).max() ?? 0, classCount)
                let da = UnsafeMutablePointer<Scalar>.allocate(capacity: widest)
                let dz = UnsafeMutablePointer<Scalar>.allocate(capacity: widest)
                defer { da.deallocate(); dz.deallocate() }
                let lastOutputs = trace.layers.last!.outputs

                for i in 0..<t where weights[i] != 0 {
                    let w = weights[i]
                    // Softmax + cross-entropy: dL/dlogits = w (p - onehot(target)).
                    let post = trace.posteriors(at: i)
                    loss -= w * Scalar.cryLog(max(post[post.startIndex + target], Scalar.leastNormalMagnitude))
                    let sm = layout.softmax
                    for k in 0..<classCount { dz[k] = w * (post[post.startIndex + k] - (k == target ? 1 : 0)) }
                    // The softmax layer's input: the last dense activation, or h_t.
                    func input(_ level: Int, _ body: (UnsafePointer<Scalar>) -> Void) {
                        if level < 0 {
                            lastOutputs.withUnsafeBufferPointer { body($0.baseAddress! + i * lastHidden) }
                        } else {
                            let d = layout.denseLayers[level]
                            trace.dense[level].withUnsafeBufferPointer { body($0.baseAddress! + i * d.outputSize) }
                        }
                    }
                    var level = layout.denseLayers.count - 1
                    input(level) { x in outerAdd(dz, rows: sm.outputSize, x, cols: sm.inputSize, into: dp + sm.weight) }
                    for k in 0..<sm.outputSize { dp[sm.bias + k] += dz[k] }
                    da.update(repeating: 0, count: sm.inputSize)
                    matvecTransposedAdd(p + sm.weight, rows: sm.outputSize, cols: sm.inputSize, dz, into: da)
                    // tanh dense layers, last first: dz = da (.) (1 - a^2).
                    while level >= 0 {
                        let d = layout.denseLayers[level]
                        input(level) { a in for k in 0..<d.outputSize { dz[k] = da[k] * (1 - a[k] * a[k]) } }
                        input(level - 1) { x in outerAdd(dz, rows: d.outputSize, x, cols: d.inputSize, into: dp + d.weight) }
                        for k in 0..<d.outputSize { dp[d.bias + k] += dz[k] }
                        da.update(repeating: 0, count: d.inputSize)
                        matvecTransposedAdd(p + d.weight, rows: d.outputSize, cols: d.inputSize, dz, into: da)
                        level -= 1
                    }
                    for k in 0..<lastHidden { dOut[i * lastHidden + k] = da[k] }
                }

                // Recurrent layers, top first; each turns dL/dh into dL/dx for the one below.
                for l in stride(from: layout.layers.count - 1, through: 0, by: -1) {
                    let lt = trace.layers[l]
                    let layer = layout.layers[l]
                    var dX = [Scalar](repeating: 0, count: l > 0 ? t * layer.inputSize : 0)
                    let inputs: ArraySlice<Scalar> = l > 0 ? trace.layers[l - 1].outputs : trace.input[...]
                    inputs.withUnsafeBufferPointer { xb in
                        lt.storage.withUnsafeBufferPointer { sb in
                            dOut.withUnsafeBufferPointer { ob in
                                dX.withUnsafeMutableBufferPointer { xg in
                                    Self.backward(layer, p, dp, x: xb.baseAddress!, trace: lt, s: sb.baseAddress!,
                                                  dOut: ob.baseAddress!, dX: l > 0 ? xg.baseAddress : nil, frameCount: t)
                                }
                            }
                        }
                    }
                    dOut = dX
                }
            }
        }
        return loss
    }

    /// One recurrent layer backwards through all frames. dX may be nil (bottom layer).
    static func backward(
        _ layer: RecurrentLayer, _ p: UnsafePointer<Scalar>, _ dp: UnsafeMutablePointer<Scalar>,
        x: UnsafePointer<Scalar>, trace tr: LayerTrace<Scalar>, s: UnsafePointer<Scalar>,
        dOut: UnsafePointer<Scalar>, dX: UnsafeMutablePointer<Scalar>?, frameCount t: Int
    ) {
        let n = layer.hiddenSize, d = layer.inputSize
        // Scratch: concatenated inputs, their gradient, pre-activation gradients, carries.
        let scratchSize = 2 * (2 * n + d) + 4 * n + 3 * n
        let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: scratchSize)
        scratch.initialize(repeating: 0, count: scratchSize)
        defer { scratch.deallocate() }
        let cat = scratch, dcat = scratch + (2 * n + d), dz = dcat + (2 * n + d)
        let dh = dz + 4 * n, dhNext = dh + n, dc = dhNext + n

        @inline(__always) func addDX(_ i: Int, _ src: UnsafePointer<Scalar>) {
            if let dX { for k in 0..<d { dX[(i - 1) * d + k] += src[k] } }
        }

        switch layer {
        case .lstm(let cell):
            let dcNext = dc
            for i in stride(from: t, through: 1, by: -1) {
                let gates = s + tr.gates + (i - 1) * 4 * n, tc = s + tr.tanhC + (i - 1) * n
                let cPrev = s + tr.c + (i - 1) * n
                for j in 0..<n {
                    let f = gates[j], ig = gates[n + j], ct = gates[2 * n + j], o = gates[3 * n + j]
                    let dhj = dOut[(i - 1) * n + j] + dhNext[j]
                    let dcj = dcNext[j] + dhj * o * (1 - tc[j] * tc[j])
                    dz[j] = dcj * cPrev[j] * f * (1 - f)                  // f
                    dz[n + j] = dcj * ct * ig * (1 - ig)                  // i
                    dz[2 * n + j] = dcj * ig * (1 - ct * ct)              // Ctilde
                    dz[3 * n + j] = dhj * tc[j] * o * (1 - o)             // o
                    dcNext[j] = dcj * f
                }
                cat.update(from: s + tr.h + (i - 1) * n, count: n)
                (cat + n).update(from: x + (i - 1) * d, count: d)
                outerAdd(dz, rows: 4 * n, cat, cols: n + d, into: dp + cell.weights)
                for j in 0..<(4 * n) { dp[cell.biases + j] += dz[j] }
                dcat.update(repeating: 0, count: n + d)
                matvecTransposedAdd(p + cell.weights, rows: 4 * n, cols: n + d, dz, into: dcat)
                dhNext.update(from: dcat, count: n)
                addDX(i, dcat + n)
            }

        case .gru(let cell):
            for i in stride(from: t, through: 1, by: -1) {
                let zr = s + tr.zr + (i - 1) * 2 * n, ht = s + tr.hTilde + (i - 1) * n
                let hPrev = s + tr.h + (i - 1) * n
                // h = z hPrev + (1 - z) htilde
                for j in 0..<n {
                    let dhj = dOut[(i - 1) * n + j] + dhNext[j]
                    let z = zr[j]
                    dh[j] = dhj
                    dz[j] = dhj * (hPrev[j] - ht[j]) * z * (1 - z)        // z pre-activation
                    dz[2 * n + j] = dhj * (1 - z) * (1 - ht[j] * ht[j])   // htilde pre-activation
                    dhNext[j] = dhj * z
                }
                // htilde = tanh(W_h [r (.) hPrev, x] + b_h)
                for j in 0..<n { cat[j] = zr[n + j] * hPrev[j] }
                (cat + n).update(from: x + (i - 1) * d, count: d)
                outerAdd(dz + 2 * n, rows: n, cat, cols: n + d, into: dp + cell.wH)
                for j in 0..<n { dp[cell.bH + j] += dz[2 * n + j] }
                dcat.update(repeating: 0, count: n + d)
                matvecTransposedAdd(p + cell.wH, rows: n, cols: n + d, dz + 2 * n, into: dcat)
                addDX(i, dcat + n)
                for j in 0..<n {
                    let r = zr[n + j]
                    dz[n + j] = dcat[j] * hPrev[j] * r * (1 - r)          // r pre-activation
                    dhNext[j] += dcat[j] * r
                }
                // z, r = sigma(W_zr [hPrev, x] + b_zr)
                cat.update(from: hPrev, count: n)
                outerAdd(dz, rows: 2 * n, cat, cols: n + d, into: dp + cell.wZR)
                for j in 0..<(2 * n) { dp[cell.bZR + j] += dz[j] }
                dcat.update(repeating: 0, count: n + d)
                matvecTransposedAdd(p + cell.wZR, rows: 2 * n, cols: n + d, dz, into: dcat)
                for j in 0..<n { dhNext[j] += dcat[j] }
                addDX(i, dcat + n)
            }

        case .attgate(let cell):
            let depth = cell.depth
            // dC_s and da_s for every state s = 0...T: later frames add to earlier states.
            let dC = UnsafeMutablePointer<Scalar>.allocate(capacity: 2 * (t + 1) * n)
            dC.initialize(repeating: 0, count: 2 * (t + 1) * n)
            defer { dC.deallocate() }
            let dA = dC + (t + 1) * n

            /// a_s = V u_s, u_s = tanh(W C_s + b_W): dV, dW, db_W, and dC_s += W^T dz.
            func scoreBackward(_ state: Int) {
                let da = dA + state * n, u = s + tr.u + state * n, c = s + tr.c + state * n
                outerAdd(da, rows: n, u, cols: n, into: dp + cell.v)
                let du = dcat
                du.update(repeating: 0, count: n)
                matvecTransposedAdd(p + cell.v, rows: n, cols: n, da, into: du)
                for j in 0..<n { dz[j] = du[j] * (1 - u[j] * u[j]) }
                outerAdd(dz, rows: n, c, cols: n, into: dp + cell.w)
                for j in 0..<n { dp[cell.bW + j] += dz[j] }
                matvecTransposedAdd(p + cell.w, rows: n, cols: n, dz, into: dC + state * n)
            }

            for i in stride(from: t, through: 1, by: -1) {
                // Every later frame that looked at C_i has been processed: its score is final.
                scoreBackward(i)
                let dCi = dC + i * n
                let o = s + tr.o + (i - 1) * n, tc = s + tr.tanhC + (i - 1) * n
                // h = o tanh C; o = sigma(W_o [C, hPrev, x] + b_o)
                for j in 0..<n {
                    let dhj = dOut[(i - 1) * n + j] + dhNext[j]
                    dCi[j] += dhj * o[j] * (1 - tc[j] * tc[j])
                    dz[j] = dhj * tc[j] * o[j] * (1 - o[j])
                }
                cat.update(from: s + tr.c + i * n, count: n)
                (cat + n).update(from: s + tr.h + (i - 1) * n, count: n)
                (cat + 2 * n).update(from: x + (i - 1) * d, count: d)
                outerAdd(dz, rows: n, cat, cols: 2 * n + d, into: dp + cell.wO)
                for j in 0..<n { dp[cell.bO + j] += dz[j] }
                dcat.update(repeating: 0, count: 2 * n + d)
                matvecTransposedAdd(p + cell.wO, rows: n, cols: 2 * n + d, dz, into: dcat)
                for j in 0..<n { dCi[j] += dcat[j] }
                dhNext.update(from: dcat + n, count: n)
                addDX(i, dcat + 2 * n)

                // C = f Cbar + (1 - f) Ctilde; Ctilde = tanh(W_c [hPrev, x] + b_c)
                let f = s + tr.f + (i - 1) * n, cBar = s + tr.cBar + (i - 1) * n
                let ct = s + tr.cTilde + (i - 1) * n
                let dg = dh, dCbar = dc
                for j in 0..<n {
                    let dCj = dCi[j]
                    dg[j] = dCj * (cBar[j] - ct[j]) * f[j] * (1 - f[j])
                    dCbar[j] = dCj * f[j]
                    dz[j] = dCj * (1 - f[j]) * (1 - ct[j] * ct[j])
                }
                outerAdd(dz, rows: n, cat + n, cols: n + d, into: dp + cell.wC)
                for j in 0..<n { dp[cell.bC + j] += dz[j] }
                dcat.update(repeating: 0, count: n + d)
                matvecTransposedAdd(p + cell.wC, rows: n, cols: n + d, dz, into: dcat)
                for j in 0..<n { dhNext[j] += dcat[j] }
                addDX(i, dcat + n)

                // Cbar = sum_k alpha_k C_{i-k}, g = sum_k alpha_k a_{i-k}, alpha = softmax_k a.
                let available = min(i, depth)
                let alpha = s + tr.alpha + (i - 1) * depth * n
                let dAlphaDotAlpha = dz       // sum_k alpha_k dalpha_k, per unit
                dAlphaDotAlpha.update(repeating: 0, count: n)
                for k in 1...available {
                    let al = alpha + (k - 1) * n, c = s + tr.c + (i - k) * n, a = s + tr.a + (i - k) * n
                    for j in 0..<n { dAlphaDotAlpha[j] += al[j] * (dCbar[j] * c[j] + dg[j] * a[j]) }
                }
                for k in 1...available {
                    let al = alpha + (k - 1) * n, c = s + tr.c + (i - k) * n, a = s + tr.a + (i - k) * n
                    let dCk = dC + (i - k) * n, dAk = dA + (i - k) * n
                    for j in 0..<n {
                        let dAlpha = dCbar[j] * c[j] + dg[j] * a[j]
                        dCk[j] += dCbar[j] * al[j]
                        dAk[j] += dg[j] * al[j] + al[j] * (dAlpha - dAlphaDotAlpha[j])
                    }
                }
            }
            // C_0 = 0 is constant, but its score a_0 = V tanh(b_W) depends on V and b_W.
            scoreBackward(0)
        }
    }
}
