import CryModel
import Testing
@testable import CryDetector

/// Generated hops of white noise at a given RMS level (dBFS), 80 samples = 10 ms at 8 kHz.
struct NoiseSource {
    var rng: SplitMix64
    var hop = [Float](repeating: 0, count: 80)
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    mutating func next(levelDB: Double) -> [Float] {
        let a = pow10(levelDB / 20)
        for i in hop.indices { hop[i] = Float(a * rng.gaussian()) }
        return hop
    }
}

func pow10(_ x: Double) -> Double { exp(x * 2.302585092994046) }
#if canImport(Glibc)
import Glibc
#endif

/// Runs the gate over `frames` hops whose level is `level(frame)`; returns the decisions.
func runGate(_ gate: inout EnergyGate, frames: Int, seed: UInt64 = 1, level: (Int) -> Double?) -> [Bool] {
    var noise = NoiseSource(seed: seed)
    var out: [Bool] = []
    out.reserveCapacity(frames)
    let silence = [Float](repeating: 0, count: 80)
    for f in 0..<frames {
        let hop = level(f).map { noise.next(levelDB: $0) } ?? silence
        out.append(hop.withUnsafeBufferPointer { gate.process(hop: $0) })
    }
    return out
}

@Suite struct EnergyGateTests {
    let config = DetectorConfiguration()

    @Test func staysClosedOnDigitalSilence() {
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 500) { _ in nil }
        #expect(!open.contains(true))
        #expect(gate.noiseFloorDB == config.gateMinimumLevelDB)
    }

    @Test func staysClosedOnStationaryNoise() {
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 3000) { _ in -55 }
        #expect(open.filter { $0 }.count == 0)
    }

    @Test func followsASlowRampOfTheBackground() {
        // A fan spinning up: -60 dBFS to -48 dBFS over 60 s (0.2 dB/s), then steady.
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 8000) { f in -60 + 12 * min(1, Double(f) / 6000) }
        #expect(open.filter { $0 }.count == 0)
        let floor = try! #require(gate.noiseFloorDB)
        #expect(floor > -52 && floor < -47, "floor \(floor) follows the fan")
    }

    @Test func opensWithinAFewFramesOnANewLoudSound() {
        var gate = EnergyGate(configuration: config)
        let onset = 500
        let open = runGate(&gate, frames: 700) { f in f < onset ? -60 : -30 }
        #expect(!open[..<onset].contains(true))
        let first = try! #require(open.firstIndex(of: true))
        #expect(first >= onset && first <= onset + 2)
        #expect(!open[onset...].contains(false), "stays open while the sound lasts")
    }

    @Test func closesAfterTheHoldWhenTheSoundStops() {
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 800) { f in (300..<400).contains(f) ? -30 : -60 }
        let lastOpen = try! #require(open.lastIndex(of: true))
        #expect(lastOpen >= 399 + config.gateHoldFrames - 2 && lastOpen <= 399 + config.gateHoldFrames + 2)
    }

    @Test func reopensFastAfterABurst() {
        // A 2 s burst, 0.6 s of background, then a quieter new sound 18 dB over the background.
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 1200) { f in
            switch f {
            case 500..<700: return -25
            case 760...: return -42
            default: return -60
            }
        }
        #expect(!open[735..<760].contains(true), "closed again before the second sound")
        let reopen = try! #require(open[760...].firstIndex(of: true))
        #expect(reopen <= 762)
    }

    @Test func aSteppedUpBackgroundIsAbsorbedWithinTensOfSeconds() {
        // A heater switched on: +15 dB for good. The gate opens, then the floor catches up.
        var gate = EnergyGate(configuration: config)
        let open = runGate(&gate, frames: 6000) { f in f < 500 ? -60 : -45 }
        #expect(open[500])
        #expect(!open[4500...].contains(true), "closed within 40 s of the step")
    }
}
