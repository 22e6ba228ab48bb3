/// The recurrent state of a network run one frame at a time, with every buffer a step
/// needs allocated up front: a step allocates nothing.
public final class CryNetworkState<Scalar: CryScalar>: @unchecked Sendable {
    // @unchecked: owned by one classifier, used by one thread at a time.
    final class Layer {
        let layer: RecurrentLayer
        let buffer: ScratchBuffer<Scalar>
        /// lstm/gru: [h_{t-1}, x_t]; attgate: [C_t, h_{t-1}, x_t]
        let cat: UnsafeMutablePointer<Scalar>
        let h: UnsafeMutablePointer<Scalar>
        /// lstm: C; gru: [r (.) h, x]; attgate: ring of C (L x H)
        let c: UnsafeMutablePointer<Scalar>
        /// lstm: gates (4H); gru: z, r (2H); attgate: ring of a (L x H)
        let gates: UnsafeMutablePointer<Scalar>
        /// tanh C (lstm, attgate), htilde (gru)
        let tanhC: UnsafeMutablePointer<Scalar>
        /// attgate only
        let alpha, cBar, f, cTilde, o, u: UnsafeMutablePointer<Scalar>
        var ring: AttentionRing

        init(_ layer: RecurrentLayer) {
            self.layer = layer
            let n = layer.hiddenSize, d = layer.inputSize
            var depth = 1
            if case .attgate(let cell) = layer { depth = cell.depth }
            let sizes = [2 * n + d, n, max(n + d, depth * n), max(4 * n, depth * n), n,
                         depth * n, n, n, n, n, n]
            buffer = ScratchBuffer(count: sizes.reduce(0, +))
            var offset = 0
            var pointers: [UnsafeMutablePointer<Scalar>] = []
            for s in sizes { pointers.append(buffer.pointer + offset); offset += s }
            cat = pointers[0]; h = pointers[1]; c = pointers[2]; gates = pointers[3]
            tanhC = pointers[4]; alpha = pointers[5]; cBar = pointers[6]; f = pointers[7]
            cTilde = pointers[8]; o = pointers[9]; u = pointers[10]
            ring = AttentionRing(depth: depth)
        }
    }

    let layers: [Layer]
    let dense: [ScratchBuffer<Scalar>]
    let output: ScratchBuffer<Scalar>

    /// The network's parameters copied to a 64-byte boundary, same layout. Where tensor
    /// offsets and row widths are multiples of 16 floats (the default and paper sizes) every
    /// matrix row then starts on a cache line; rows straddling lines made the weight loads
    /// split and cost ~25% of the step. The step reads its weights from here.
    let alignedParameters: UnsafeMutablePointer<Scalar>
    let parameterCount: Int
    /// The parameter storage the copy was made from, retained: any later change to the
    /// network's parameters then copies on write to new storage, so a differing base address
    /// is a reliable sign that the copy is stale.
    private var source: [Scalar]
    private var sourceBase: UnsafePointer<Scalar>?

    public init(network: CryNetwork<Scalar>) {
        layers = network.layout.layers.map(Layer.init)
        dense = network.layout.denseLayers.map { ScratchBuffer(count: $0.outputSize) }
        output = ScratchBuffer(count: network.classCount)
        parameterCount = network.parameters.count
        alignedParameters = UnsafeMutableRawPointer
            .allocate(byteCount: max(parameterCount, 1) * MemoryLayout<Scalar>.stride, alignment: 64)
            .bindMemory(to: Scalar.self, capacity: max(parameterCount, 1))
        source = []
        refresh(from: network)
        reset(network: network)
    }

    deinit { alignedParameters.deallocate() }

    private func refresh(from network: CryNetwork<Scalar>) {
        precondition(network.parameters.count == parameterCount,
                     "CryNetworkState: made for \(parameterCount) parameters, network has \(network.parameters.count)")
        source = network.parameters
        source.withUnsafeBufferPointer { b in
            alignedParameters.update(from: b.baseAddress!, count: parameterCount)
            sourceBase = b.baseAddress
        }
    }

    /// The aligned weights of `network`, re-copied if its parameters changed since.
    @inline(__always)
    func weights(of network: CryNetwork<Scalar>) -> UnsafePointer<Scalar> {
        let current = network.parameters.withUnsafeBufferPointer { $0.baseAddress }
        if current != sourceBase { refresh(from: network) }
        return UnsafePointer(alignedParameters)
    }

    /// Back to the zero state (h_0 = C_0 = 0; the attention ring holds C_0 and its score).
    public func reset(network: CryNetwork<Scalar>) {
        for l in layers {
            l.buffer.zero()
            l.ring.reset()
        }
        network.parameters.withUnsafeBufferPointer { pb in
            for l in layers {
                if case .attgate(let cell) = l.layer { cell.score(pb.baseAddress!, c: l.c, u: l.u, a: l.gates) }
            }
        }
        for b in dense { b.zero() }
        output.zero()
    }
}

extension CryNetwork {
    public func makeState() -> CryNetworkState<Scalar> { CryNetworkState(network: self) }

    /// One frame in (inputSize values, already normalised), posteriors out. The result
    /// points into `state` and is valid until its next step or reset.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func step(_ x: UnsafePointer<Scalar>, state: CryNetworkState<Scalar>) -> UnsafeBufferPointer<Scalar> {
        do {
            let p = state.weights(of: self)
            var input = x
            for l in state.layers {
                let n = l.layer.hiddenSize, d = l.layer.inputSize
                switch l.layer {
                case .lstm(let cell):
                    (l.cat + n).update(from: input, count: d)
                    cell.step(p, hx: l.cat, cPrev: l.c, gates: l.gates, c: l.c, tanhC: l.tanhC, h: l.h)
                    l.cat.update(from: l.h, count: n)
                case .gru(let cell):
                    (l.cat + n).update(from: input, count: d)
                    cell.step(p, hx: l.cat, zr: l.gates, rhx: l.c, hTilde: l.tanhC, h: l.h)
                    l.cat.update(from: l.h, count: n)
                case .attgate(let cell):
                    (l.cat + 2 * n).update(from: input, count: d)
                    cell.step(p, cat: l.cat, ringC: l.c, ringA: l.gates,
                              newest: l.ring.newest, capacity: cell.depth,
                              available: l.ring.available, slot: l.ring.nextSlot,
                              alpha: l.alpha, cBar: l.cBar, f: l.f, cTilde: l.cTilde,
                              o: l.o, tanhC: l.tanhC, h: l.h, u: l.u)
                    l.ring.advance()
                    (l.cat + n).update(from: l.h, count: n)
                }
                input = UnsafePointer(l.h)
            }
            for (j, d) in layout.denseLayers.enumerated() {
                d.tanhForward(p, input, state.dense[j].pointer)
                input = UnsafePointer(state.dense[j].pointer)
            }
            layout.softmax.softmaxForward(p, input, state.output.pointer)
        }
        return UnsafeBufferPointer(start: state.output.pointer, count: classCount)
    }
}

/// Classifies a stream of feature frames: applies the model's feature normalisation
/// (x - mean) / std, then steps the network. Allocation-free per frame.
public final class StreamingClassifier: @unchecked Sendable {
    // @unchecked: one thread steps a classifier at a time (the daemon's pipeline thread).
    public let model: CryModelFile
    let state: CryNetworkState<Float>
    let normalised: ScratchBuffer<Float>
    let inverseStd: [Float]
    public private(set) var framesSinceReset = 0

    public init(model: CryModelFile) {
        self.model = model
        state = CryNetworkState(network: model.network)
        normalised = ScratchBuffer(count: model.network.inputSize)
        inverseStd = model.featureStd.map { 1 / $0 }
    }

    public var classes: [String] { model.configuration.classes }

    /// One frame of raw (unnormalised) features in, posteriors out; the result is valid
    /// until the next step or reset.
    public func step(_ features: UnsafeBufferPointer<Float>) -> UnsafeBufferPointer<Float> {
        let n = model.network.inputSize
        precondition(features.count == n, "step: \(features.count) features, model expects \(n)")
        let z = normalised.pointer
        model.featureMean.withUnsafeBufferPointer { mean in
            inverseStd.withUnsafeBufferPointer { inv in
                for i in 0..<n { z[i] = (features[i] - mean[i]) * inv[i] }
            }
        }
        framesSinceReset += 1
        return model.network.step(z, state: state)
    }

    /// Forget the past: the next frame is the first of a new episode.
    public func reset() {
        state.reset(network: model.network)
        framesSinceReset = 0
    }
}
