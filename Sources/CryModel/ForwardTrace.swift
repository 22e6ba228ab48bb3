/// Everything a whole-sequence forward pass computed: per-frame posteriors for the caller,
/// and per-layer intermediates for the backward pass.
public struct ForwardTrace<Scalar: CryScalar>: Sendable {
    public let frameCount: Int
    public let classCount: Int
    /// frameCount x classCount, row-major.
    public internal(set) var posteriors: [Scalar]
    /// The input frames, frameCount x inputSize.
    let input: [Scalar]
    let layers: [LayerTrace<Scalar>]
    /// Activations of each tanh dense layer, frameCount x size.
    let dense: [[Scalar]]

    public func posteriors(at frame: Int) -> ArraySlice<Scalar> {
        posteriors[(frame * classCount)..<((frame + 1) * classCount)]
    }

    /// The decision output: posteriors at the last frame.
    public var lastPosteriors: ArraySlice<Scalar> { posteriors(at: frameCount - 1) }
}

/// One recurrent layer's intermediates, in one flat array. Rows are indexed by t = 0...T
/// for states (row 0 = h_0 = C_0 = 0 and its score) and by t - 1 for per-step values.
struct LayerTrace<S: CryScalar>: Sendable {
    let layer: RecurrentLayer
    let frameCount: Int
    var storage: [S]
    // Offsets into storage (0 and unused where a cell has no such value).
    var h = 0, c = 0                               // (T+1) x H
    var gates = 0, tanhC = 0                       // lstm: T x 4H (f, i, Ctilde, o), T x H
    var zr = 0, hTilde = 0                         // gru: T x 2H, T x H
    var u = 0, a = 0                               // attgate: (T+1) x H scores of C_t
    var alpha = 0                                  // attgate: T x (L x H)
    var cBar = 0, f = 0, cTilde = 0, o = 0         // attgate: T x H (tanhC shared)

    init(layer: RecurrentLayer, frameCount t: Int) {
        self.layer = layer
        frameCount = t
        let n = layer.hiddenSize
        var size = 0
        func take(_ k: Int) -> Int { defer { size += k }; return size }
        h = take((t + 1) * n)
        switch layer {
        case .lstm:
            c = take((t + 1) * n)
            gates = take(t * 4 * n)
            tanhC = take(t * n)
        case .gru:
            zr = take(t * 2 * n)
            hTilde = take(t * n)
        case .attgate(let cell):
            c = take((t + 1) * n)
            u = take((t + 1) * n)
            a = take((t + 1) * n)
            alpha = take(t * cell.depth * n)
            cBar = take(t * n)
            f = take(t * n)
            cTilde = take(t * n)
            o = take(t * n)
            tanhC = take(t * n)
        }
        storage = [S](repeating: 0, count: size)
    }

    /// h_1 ... h_T, the next layer's input.
    var outputs: ArraySlice<S> {
        let n = layer.hiddenSize
        return storage[(h + n)..<(h + (frameCount + 1) * n)]
    }
}

extension CryNetwork {
    /// Runs the network over a whole sequence of frames (frameCount x inputSize,
    /// row-major, already normalised) from the zero state.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(frames: [Scalar], frameCount: Int) -> ForwardTrace<Scalar> {
        precondition(frameCount >= 1 && frames.count == frameCount * inputSize,
                     "forward: \(frames.count) values for \(frameCount) frames of \(inputSize)")
        let t = frameCount
        var layerTraces: [LayerTrace<Scalar>] = []
        var denseOut: [[Scalar]] = []
        var posteriors = [Scalar](repeating: 0, count: t * classCount)
        parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            var input = ArraySlice(frames)
            for layer in layout.layers {
                var lt = LayerTrace<Scalar>(layer: layer, frameCount: t)
                // Move the storage out so the offsets can be read while it is written.
                var storage = lt.storage
                lt.storage = []
                input.withUnsafeBufferPointer { xb in
                    storage.withUnsafeMutableBufferPointer { sb in
                        Self.run(layer, p, x: xb.baseAddress!, frameCount: t, trace: lt, s: sb.baseAddress!)
                    }
                }
                lt.storage = storage
                input = lt.outputs
                layerTraces.append(lt)
            }
            for d in layout.denseLayers {
                var out = [Scalar](repeating: 0, count: t * d.outputSize)
                input.withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { ob in
                        for i in 0..<t {
                            d.tanhForward(p, xb.baseAddress! + i * d.inputSize, ob.baseAddress! + i * d.outputSize)
                        }
                    }
                }
                denseOut.append(out)
                input = out[...]
            }
            let sm = layout.softmax
            input.withUnsafeBufferPointer { xb in
                posteriors.withUnsafeMutableBufferPointer { ob in
                    for i in 0..<t {
                        sm.softmaxForward(p, xb.baseAddress! + i * sm.inputSize, ob.baseAddress! + i * sm.outputSize)
                    }
                }
            }
        }
        return ForwardTrace(frameCount: t, classCount: classCount, posteriors: posteriors,
                            input: frames, layers: layerTraces, dense: denseOut)
    }

    /// Convenience: one array per frame.
    public func forward(sequence: [[Scalar]]) -> ForwardTrace<Scalar> {
        forward(frames: sequence.flatMap { $0 }, frameCount: sequence.count)
    }

    /// One recurrent layer over all frames, writing its trace (offsets from `trace`).
    @inline(__always)
    static func run(
        _ layer: RecurrentLayer, _ p: UnsafePointer<Scalar>, x: UnsafePointer<Scalar>,
        frameCount t: Int, trace tr: LayerTrace<Scalar>, s: UnsafeMutablePointer<Scalar>
    ) {
        let n = layer.hiddenSize, d = layer.inputSize
        switch layer {
        case .lstm(let cell):
            let hx = UnsafeMutablePointer<Scalar>.allocate(capacity: n + d)
            defer { hx.deallocate() }
            for i in 1...t {
                hx.update(from: s + tr.h + (i - 1) * n, count: n)
                (hx + n).update(from: x + (i - 1) * d, count: d)
                cell.step(p, hx: hx, cPrev: s + tr.c + (i - 1) * n,
                          gates: s + tr.gates + (i - 1) * 4 * n, c: s + tr.c + i * n,
                          tanhC: s + tr.tanhC + (i - 1) * n, h: s + tr.h + i * n)
            }
        case .gru(let cell):
            let hx = UnsafeMutablePointer<Scalar>.allocate(capacity: 2 * (n + d))
            defer { hx.deallocate() }
            for i in 1...t {
                hx.update(from: s + tr.h + (i - 1) * n, count: n)
                (hx + n).update(from: x + (i - 1) * d, count: d)
                cell.step(p, hx: hx, zr: s + tr.zr + (i - 1) * 2 * n, rhx: hx + n + d,
                          hTilde: s + tr.hTilde + (i - 1) * n, h: s + tr.h + i * n)
            }
        case .attgate(let cell):
            let cat = UnsafeMutablePointer<Scalar>.allocate(capacity: 2 * n + d)
            defer { cat.deallocate() }
            // C_0 = 0 is a real state: score it like any other.
            cell.score(p, c: s + tr.c, u: s + tr.u, a: s + tr.a)
            let l = cell.depth
            for i in 1...t {
                (cat + n).update(from: s + tr.h + (i - 1) * n, count: n)
                (cat + 2 * n).update(from: x + (i - 1) * d, count: d)
                cell.step(p, cat: cat, ringC: s + tr.c, ringA: s + tr.a,
                          newest: i - 1, capacity: t + 1, available: min(i, l), slot: i,
                          alpha: s + tr.alpha + (i - 1) * l * n, cBar: s + tr.cBar + (i - 1) * n,
                          f: s + tr.f + (i - 1) * n, cTilde: s + tr.cTilde + (i - 1) * n,
                          o: s + tr.o + (i - 1) * n, tanhC: s + tr.tanhC + (i - 1) * n,
                          h: s + tr.h + i * n, u: s + tr.u + i * n)
            }
        }
    }
}
