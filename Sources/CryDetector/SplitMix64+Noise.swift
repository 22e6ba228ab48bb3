import CryModel
#if canImport(Glibc)
import Glibc
#endif

/// Generated nights and augmented clips draw from the model's SplitMix64, so that they are
/// the same for a seed on every platform.
extension SplitMix64 {
    /// Uniform in [0, 1).
    public mutating func unit() -> Double { nextUnit() }
    /// Uniform in `range`.
    public mutating func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }
    /// Standard normal (Box-Muller).
    public mutating func gaussian() -> Double {
        let u = Swift.max(nextUnit(), 1e-300), v = nextUnit()
        return (-2 * Glibc.log(u)).squareRoot() * Glibc.cos(2 * Double.pi * v)
    }
}

/// Scales generated noise in place to an RMS of `levelDB` dBFS, given the sum of its squares
/// as computed while generating it (silence is left as it is).
func scale(_ samples: inout [Float], sumOfSquares sum: Double, toRMSdB levelDB: Double) {
    guard !samples.isEmpty, sum > 0 else { return }
    let g = Float(pow(10, levelDB / 20) / (sum / Double(samples.count)).squareRoot())
    for i in samples.indices { samples[i] *= g }
}
