/// What the trainer needs from a network: flat parameters, a backward pass for one
/// sequence labelled at its last frame, and a forward pass. Value semantics: the trainer
/// keeps one copy per thread, and a copy may keep its own scratch buffers (hence `mutating`).
public protocol TrainableModel: Sendable {
    var parameterCount: Int { get }
    /// All weights in one flat array; the order is the model's, and stable.
    var parameters: [Float] { get set }

    /// Runs the sequence (`frameCount` rows of the model's input size, normalised features),
    /// takes the cross-entropy of the softmax output at the LAST frame against `label`,
    /// back-propagates through time, ADDS d(loss)/d(parameters) into `gradient`, and
    /// returns the loss (natural log).
    mutating func accumulateGradient(
        sequence: UnsafeBufferPointer<Float>, frameCount: Int, label: Int,
        into gradient: UnsafeMutableBufferPointer<Float>
    ) -> Float

    /// Class posteriors after the last frame of the sequence.
    mutating func posteriors(sequence: UnsafeBufferPointer<Float>, frameCount: Int) -> [Float]

    /// 1 where L2 weight decay applies, 0 where it does not (e.g. biases); parameter order.
    var decayMask: [Float] { get }
}

extension TrainableModel {
    /// Default: every parameter is decayed.
    public var decayMask: [Float] { [Float](repeating: 1, count: parameterCount) }
}
