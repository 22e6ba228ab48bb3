/// Adam (Kingma & Ba 2015) on one flat parameter array, with L2 weight decay added to the
/// gradient (the paper's "L2 1e-4"; classic L2, not AdamW's decoupled decay):
///
///     g   = grad + l2 * theta
///     m   = beta1 m + (1 - beta1) g
///     v   = beta2 v + (1 - beta2) g^2
///     mhat = m / (1 - beta1^t),  vhat = v / (1 - beta2^t)
///     theta -= lr * mhat / (sqrt(vhat) + eps)
///
/// The paper's beta2 = 0.7 (not the usual 0.999) is the default here. `decayMask` (1 where
/// L2 applies, 0 where not, e.g. biases) limits the decay; nil decays every parameter.
public struct AdamOptimizer: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public private(set) var step: Int = 0
    private var m: [Float]
    private var v: [Float]
    private var decay: [Float]

    public init(parameterCount: Int, learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.7,
                epsilon: Float = 1e-8, weightDecay: Float = 1e-4, decayMask: [Float]? = nil) {
        precondition(decayMask == nil || decayMask!.count == parameterCount,
                     "Adam: decay mask of \(decayMask!.count) for \(parameterCount) parameters")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
        decay = decayMask ?? [Float](repeating: 1, count: parameterCount)
    }

    public mutating func update(parameters: inout [Float], gradients: [Float]) {
        precondition(parameters.count == m.count && gradients.count == m.count,
                     "Adam: \(m.count) parameters expected, got \(parameters.count) / \(gradients.count) gradients")
        step += 1
        // Bias corrections in Double: beta2^t underflows nothing here, but 1 - 0.9^t needs precision early.
        let c1 = Float(1 - pow(Double(beta1), Double(step)))
        let c2 = Float(1 - pow(Double(beta2), Double(step)))
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, l2 = weightDecay
        decay.withUnsafeBufferPointer { mask in
            gradients.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        parameters.withUnsafeMutableBufferPointer { p in
                            for i in 0..<p.count {
                                let gi = g[i] + l2 * mask[i] * p[i]
                                m[i] = b1 * m[i] + (1 - b1) * gi
                                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                                let mhat = m[i] / c1
                                let vhat = v[i] / c2
                                p[i] -= lr * mhat / (vhat.squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
