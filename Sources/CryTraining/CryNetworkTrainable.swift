import CryModel

/// `CryNetwork<Float>` as the trainer sees it: the model's whole-sequence forward pass and
/// its BPTT (`accumulateGradients`, the attention over cached states included), with the
/// loss = cross-entropy of the softmax at the last frame (the decision frame), or, with
/// `ClipPooling.meanLogProbability`, the mean of every frame's cross-entropy.
/// L2 is not applied here: the optimiser adds it, on the weight matrices only
/// (`decayMask`), as the model's own `addL2` does.
public struct CryNetworkTrainable: TrainableModel {
    public var network: CryNetwork<Float>
    private var frames: [Float] = []
    private var scratch: CryNetworkGradients<Float>
    private var weights: [Float] = []
    public var pooling: ClipPooling

    public init(network: CryNetwork<Float>, pooling: ClipPooling = .lastFrame) {
        self.network = network
        self.pooling = pooling
        scratch = CryNetworkGradients(layout: network.layout)
    }

    public var parameterCount: Int { network.parameterCount }

    public var parameters: [Float] {
        get { network.parameters }
        set { network.parameters = newValue }
    }

    /// 1 for matrix weights (decayed by L2), 0 for biases (not), in parameter order.
    public var decayMask: [Float] {
        var mask = [Float](repeating: 0, count: network.parameterCount)
        for t in network.layout.tensors where t.isMatrix {
            for i in t.offset..<(t.offset + t.count) { mask[i] = 1 }
        }
        return mask
    }

    public mutating func accumulateGradient(
        sequence: UnsafeBufferPointer<Float>, frameCount: Int, label: Int,
        into gradient: UnsafeMutableBufferPointer<Float>
    ) -> Float {
        frames.removeAll(keepingCapacity: true)
        frames.append(contentsOf: sequence)
        let trace = network.forward(frames: frames, frameCount: frameCount)
        scratch.zero()
        let loss: Float
        switch pooling {
        case .lastFrame:
            loss = network.accumulateGradients(trace: trace, target: label, into: &scratch)
        case .meanLogProbability:
            // Every frame carries 1/T of the loss (ClipPooling).
            weights.removeAll(keepingCapacity: true)
            weights.append(contentsOf: repeatElement(1 / Float(frameCount), count: frameCount))
            loss = network.accumulateGradients(trace: trace, target: label, frameWeights: weights, into: &scratch)
        }
        scratch.values.withUnsafeBufferPointer { g in
            for i in 0..<g.count { gradient[i] += g[i] }
        }
        return loss
    }

    public mutating func posteriors(sequence: UnsafeBufferPointer<Float>, frameCount: Int) -> [Float] {
        frames.removeAll(keepingCapacity: true)
        frames.append(contentsOf: sequence)
        let trace = network.forward(frames: frames, frameCount: frameCount)
        switch pooling {
        case .lastFrame: return Array(trace.lastPosteriors)
        case .meanLogProbability:
            return ClipPooling.meanLogPosteriors(trace.posteriors, frameCount: frameCount, classCount: trace.classCount)
        }
    }
}
