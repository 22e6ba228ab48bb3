import Testing
import Foundation
@testable import CryModel

/// Back-propagation through time against central finite differences, in Double, for every
/// parameter tensor of every cell type.
@Suite struct GradientTests {
    static func check(cell: CellKind, depth: Int?, frameWeights: [Double]?, l2: Double, seed: UInt64) throws {
        let c = smallConfiguration(cell, depth: depth, hidden: [4, 3], dense: [3], inputSize: 2, classes: 3)
        let net: CryNetwork<Double> = try randomNetwork(c, seed: seed)
        let frameCount = 6
        let frames = randomFrames(frameCount, c.inputSize, seed: seed + 1).flatMap { $0 }
        let target = 1
        let (loss, g) = net.lossAndGradients(frames: frames, frameCount: frameCount, target: target,
                                             frameWeights: frameWeights, l2: l2)
        #expect(loss.isFinite && loss > 0)
        func lossAt(_ i: Int, _ delta: Double) -> Double {
            var moved = net
            moved.parameters[i] += delta
            return moved.lossAndGradients(frames: frames, frameCount: frameCount, target: target,
                                          frameWeights: frameWeights, l2: l2).loss
        }
        let eps = 1e-6
        for spec in net.layout.tensors {
            var diff = 0.0, norm = 0.0
            for i in spec.offset..<(spec.offset + spec.count) {
                let numeric = (lossAt(i, eps) - lossAt(i, -eps)) / (2 * eps)
                diff += (numeric - g.values[i]) * (numeric - g.values[i])
                norm = max(norm, numeric * numeric, g.values[i] * g.values[i])
            }
            let relative = diff.squareRoot() / max(norm.squareRoot(), 1e-12)
            #expect(relative < 1e-5, "\(cell) L=\(c.depth) \(spec.name): relative error \(relative)")
            #expect(norm > 0, "\(cell) L=\(c.depth) \(spec.name): zero gradient, nothing checked")
        }
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func lastFrameLossMatchesFiniteDifferences(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        try Self.check(cell: cell, depth: depth, frameWeights: nil, l2: 0, seed: 100 + UInt64(which))
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func everyFrameLossWithL2MatchesFiniteDifferences(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        try Self.check(cell: cell, depth: depth, frameWeights: [0.2, 0, 0.5, 1, 0, 2], l2: 0.01, seed: 200 + UInt64(which))
    }

    @Test func lossIsCrossEntropyOfTheLastFrame() throws {
        let net: CryNetwork<Double> = try randomNetwork(smallConfiguration(.attgate, depth: 2), seed: 5)
        let frames = randomFrames(4, 3, seed: 6).flatMap { $0 }
        let trace = net.forward(frames: frames, frameCount: 4)
        let (loss, _) = net.lossAndGradients(frames: frames, frameCount: 4, target: 2)
        #expect(abs(loss + log(trace.lastPosteriors[trace.lastPosteriors.startIndex + 2])) < 1e-12)
    }

    @Test func accumulatedGradientsAddUp() throws {
        let net: CryNetwork<Float> = try randomNetwork(smallConfiguration(.gru), seed: 9)
        let a = randomFrames(5, 3, seed: 1).flatMap { $0 }.map(Float.init)
        let b = randomFrames(3, 3, seed: 2).flatMap { $0 }.map(Float.init)
        var g = CryNetworkGradients<Float>(layout: net.layout)
        let la = net.accumulateGradients(trace: net.forward(frames: a, frameCount: 5), target: 0, into: &g)
        let lb = net.accumulateGradients(trace: net.forward(frames: b, frameCount: 3), target: 2, into: &g)
        let ga = net.lossAndGradients(frames: a, frameCount: 5, target: 0)
        let gb = net.lossAndGradients(frames: b, frameCount: 3, target: 2)
        #expect(abs(la + lb - ga.loss - gb.loss) < 1e-5)
        for i in g.values.indices { #expect(abs(g.values[i] - ga.gradients.values[i] - gb.gradients.values[i]) < 1e-5) }
    }
}
