#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The scalar a network computes in: Float for running and training, Double for the
/// finite-difference gradient checks. The elementary functions are named apart from the
/// standard library's so that nothing else can shadow them.
public protocol CryScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable
where Self.RawSignificand: FixedWidthInteger {
    static func cryExp(_ x: Self) -> Self
    static func cryTanh(_ x: Self) -> Self
    static func cryLog(_ x: Self) -> Self
}

extension Float: CryScalar {
    @inlinable @inline(__always) public static func cryExp(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func cryTanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable @inline(__always) public static func cryLog(_ x: Float) -> Float { logf(x) }
}

extension Double: CryScalar {
    @inlinable @inline(__always) public static func cryExp(_ x: Double) -> Double { exp(x) }
    @inlinable @inline(__always) public static func cryTanh(_ x: Double) -> Double { tanh(x) }
    @inlinable @inline(__always) public static func cryLog(_ x: Double) -> Double { log(x) }
}

/// sigma(x) = 1 / (1 + e^-x)
@inline(__always)
func sigmoid<S: CryScalar>(_ x: S) -> S { 1 / (1 + S.cryExp(-x)) }
