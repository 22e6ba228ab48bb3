import CryModel
#if canImport(Glibc)
import Glibc
#endif

/// Generated nights and augmented clips draw from the model's SplitMix64, so that they are
/// the same for a seed on every platform.
extension SplitMix64 {
    /// Uniform in [0, 1).
    public mutating func unit() -> Double { nextUnit() }
    /// Standard normal (Box-Muller).
    public mutating func gaussian() -> Double {
        let u = Swift.max(nextUnit(), 1e-300), v = nextUnit()
        return (-2 * Glibc.log(u)).squareRoot() * Glibc.cos(2 * Double.pi * v)
    }
}
