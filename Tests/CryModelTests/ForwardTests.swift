import Testing
import Foundation
@testable import CryModel

@Suite struct ForwardTests {
    @Test(arguments: [0, 1, 2, 3, 4])
    func stepByStepEqualsWholeSequence(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        let c = smallConfiguration(cell, depth: depth)
        let net: CryNetwork<Float> = try randomNetwork(c, seed: 11 + UInt64(which))
        let frames = randomFrames(9, c.inputSize, seed: 5).map { $0.map(Float.init) }
        let trace = net.forward(sequence: frames)
        let state = net.makeState()
        for round in 0..<2 {   // the second round checks reset()
            for (t, frame) in frames.enumerated() {
                let p = frame.withUnsafeBufferPointer { net.step($0.baseAddress!, state: state) }
                let q = trace.posteriors(at: t)
                for k in 0..<c.classes.count {
                    #expect(abs(p[k] - q[q.startIndex + k]) < 1e-5, "\(cell) L=\(c.depth) round \(round) frame \(t) class \(k)")
                }
            }
            state.reset(network: net)
        }
    }

    /// The state steps from its own aligned copy of the weights; changing the network's
    /// weights after making the state must still be seen by the next step.
    @Test func stepSeesWeightsChangedAfterMakingTheState() throws {
        let c = smallConfiguration(.attgate, depth: 2, hidden: [16, 8], dense: [8], inputSize: 16)
        var net: CryNetwork<Float> = try randomNetwork(c, seed: 31)
        let frame = randomFrames(1, c.inputSize, seed: 8)[0].map(Float.init)
        let state = net.makeState()
        let before = frame.withUnsafeBufferPointer { Array(net.step($0.baseAddress!, state: state)) }
        let w = net.tensor(named: "layer1.W_o")!
        try net.setTensor(named: "layer1.W_o", to: w.map { -2 * $0 })
        state.reset(network: net)
        let after = frame.withUnsafeBufferPointer { Array(net.step($0.baseAddress!, state: state)) }
        let freshState = net.makeState()
        let fresh = frame.withUnsafeBufferPointer { Array(net.step($0.baseAddress!, state: freshState)) }
        #expect(after == fresh)
        #expect(after != before)
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func matchesNaiveTranscription(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        let c = smallConfiguration(cell, depth: depth)
        let net: CryNetwork<Double> = try randomNetwork(c, seed: 21 + UInt64(which))
        let frames = randomFrames(7, c.inputSize, seed: 6)
        let trace = net.forward(sequence: frames)
        let naive = Naive(net: net).posteriors(frames)
        for t in 0..<frames.count {
            for k in 0..<c.classes.count {
                #expect(abs(trace.posteriors(at: t)[t * c.classes.count + k] - naive[t][k]) < 1e-12)
            }
        }
    }

    @Test func depthOneIsXiesAttentionGate() throws {
        let c = smallConfiguration(.attgate, depth: 1)
        let net: CryNetwork<Double> = try randomNetwork(c, seed: 31)
        let frames = randomFrames(8, c.inputSize, seed: 7)
        let trace = net.forward(sequence: frames)
        let xie = Naive(net: net).posteriors(frames, xie: true)
        for t in 0..<frames.count {
            for k in 0..<c.classes.count {
                #expect(abs(trace.posteriors(at: t)[t * c.classes.count + k] - xie[t][k]) < 1e-12)
            }
        }
    }

    /// At t = 1 only lag 1 (C_0) exists, so every depth gives the same first frame; later
    /// frames differ once more lags exist.
    @Test func firstFrameMaskIsDepthIndependent() throws {
        let base: CryNetwork<Double> = try randomNetwork(smallConfiguration(.attgate, depth: 1), seed: 41)
        let frames = randomFrames(5, 3, seed: 8)
        let first = base.forward(sequence: frames)
        for depth in [2, 3] {
            let net = try CryNetwork<Double>(configuration: smallConfiguration(.attgate, depth: depth),
                                             parameters: base.parameters)
            let trace = net.forward(sequence: frames)
            #expect(trace.posteriors(at: 0) == first.posteriors(at: 0))
            let later = zip(trace.posteriors(at: 2), first.posteriors(at: 2)).map { abs($0 - $1) }.max()!
            #expect(later > 1e-9, "depth \(depth) looks like depth 1 at frame 3")
            // Whole-sequence equals the naive full history with the mask.
            let naive = Naive(net: net).posteriors(frames)
            for t in 0..<frames.count {
                let row = Array(trace.posteriors(at: t))
                for k in 0..<row.count { #expect(abs(row[k] - naive[t][k]) < 1e-12) }
            }
        }
    }

    @Test func parameterCountDoesNotDependOnDepth() throws {
        let counts = try [1, 2, 3].map {
            try CryNetwork<Float>.random(configuration: ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: .attgate, depth: $0), seed: 1).parameterCount
        }
        #expect(counts[0] == counts[1] && counts[1] == counts[2])
        // [128, 64] + [64] on 32 features, 5 classes, counted by hand:
        // layer0: W_c 128x160, b_c, W_o 128x288, b_o, W, b_W, V (128x128)
        let layer0 = 128 * 160 + 128 + 128 * 288 + 128 + 128 * 128 + 128 + 128 * 128
        let layer1 = 64 * 192 + 64 + 64 * 256 + 64 + 64 * 64 + 64 + 64 * 64
        #expect(counts[0] == layer0 + layer1 + 64 * 64 + 64 + 5 * 64 + 5)
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func posteriorsSumToOne(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        let c = smallConfiguration(cell, depth: depth, classes: 5)
        let net: CryNetwork<Float> = try randomNetwork(c, seed: 51)
        let trace = net.forward(sequence: randomFrames(6, c.inputSize, seed: 9, scale: 4).map { $0.map(Float.init) })
        for t in 0..<trace.frameCount {
            let p = trace.posteriors(at: t)
            #expect(abs(p.reduce(0, +) - 1) < 1e-5)
            #expect(p.allSatisfy { $0 > 0 && $0 < 1 })
        }
    }

    @Test func randomInitialisationIsDeterministic() throws {
        let c = smallConfiguration(.lstm)
        let a = try CryNetwork<Float>.random(configuration: c, seed: 7)
        let b = try CryNetwork<Float>.random(configuration: c, seed: 7)
        let d = try CryNetwork<Float>.random(configuration: c, seed: 8)
        #expect(a.parameters == b.parameters)
        #expect(a.parameters != d.parameters)
        #expect(a.tensor(named: "layer0.b_f")!.allSatisfy { $0 == 1 })
        #expect(a.tensor(named: "layer0.b_i")!.allSatisfy { $0 == 0 })
    }

    @Test func floatDoubleConversionKeepsWeights() throws {
        let f = try CryNetwork<Float>.random(configuration: smallConfiguration(.gru), seed: 3)
        let back = CryNetwork<Float>(converting: CryNetwork<Double>(converting: f))
        #expect(back.parameters == f.parameters)
    }

    @Test func invalidConfigurationsAreRefused() {
        #expect(throws: ConfigurationError.self) { try smallConfiguration(.attgate, depth: 0).validate() }
        #expect(throws: ConfigurationError.self) { try smallConfiguration(.lstm, depth: 2).validate() }
        #expect(throws: ConfigurationError.self) { try smallConfiguration(.gru, classes: 1).validate() }
        #expect(throws: ConfigurationError.self) { try smallConfiguration(.gru, hidden: []).validate() }
    }
}

@Suite struct ElementwiseTests {
    /// portable: the Swift loops; else the dispatched ones (AVX2+FMA on CPUs that have it).
    @Test(arguments: [true, false])
    func floatTanhAndSigmoidAreAccurate(portable: Bool) {
        var xs: [Float] = stride(from: -12, through: 12, by: 0.00731).map(Float.init)
        xs += [0, 1e-5, -1e-5, 3e-4, -3e-4, 5e-4, 7.9, -7.9, 8, 50, -50]
        var t = xs, s = xs
        t.withUnsafeMutableBufferPointer {
            portable ? Float.tanhInPlacePortable($0.baseAddress!, $0.count) : Float.tanhInPlace($0.baseAddress!, $0.count)
        }
        s.withUnsafeMutableBufferPointer {
            portable ? Float.sigmoidInPlacePortable($0.baseAddress!, $0.count) : Float.sigmoidInPlace($0.baseAddress!, $0.count)
        }
        var worstTanh: Float = 0, worstSigmoid: Float = 0
        for (i, x) in xs.enumerated() {
            worstTanh = max(worstTanh, abs(t[i] - Float(tanh(Double(x)))))
            worstSigmoid = max(worstSigmoid, abs(s[i] - Float(1 / (1 + exp(-Double(x))))))
        }
        #expect(worstTanh < 1e-6)
        #expect(worstSigmoid < 1e-6)
        #expect(t.allSatisfy { abs($0) <= 1 })
    }

    @Test(arguments: [true, false])
    func floatExpIsAccurate(portable: Bool) {
        var xs: [Float] = stride(from: -87, through: 88, by: 0.0917).map(Float.init)
        xs += [0, -1e-7, 1e-7, 0.5, -0.5, -100, -200]
        var e = xs
        e.withUnsafeMutableBufferPointer {
            portable ? Float.expInPlacePortable($0.baseAddress!, $0.count) : Float.expInPlace($0.baseAddress!, $0.count)
        }
        var worst = 0.0
        for (i, x) in xs.enumerated() where x > -87 {
            let exact = exp(Double(x))
            worst = max(worst, abs(Double(e[i]) - exact) / exact)
        }
        #expect(worst < 5e-7, "worst relative error \(worst)")
        #expect(e[xs.count - 1] >= 0 && e[xs.count - 1] < 1e-37)
    }
}
