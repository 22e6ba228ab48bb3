import CCryKernels
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
    /// p[i] = tanh(p[i]) and p[i] = sigma(p[i]) for i in 0..<n: the cells' elementwise
    /// passes. Float uses a vectorised rational approximation; Double uses libm, so that
    /// gradient checks compare against exact functions.
    static func tanhInPlace(_ p: UnsafeMutablePointer<Self>, _ n: Int)
    static func sigmoidInPlace(_ p: UnsafeMutablePointer<Self>, _ n: Int)
    static func expInPlace(_ p: UnsafeMutablePointer<Self>, _ n: Int)
    /// y = W x + b (W rows x cols row-major, b may be nil): every matrix-vector product of
    /// a forward pass. Float has its own kernel (`Float.matvecFloat`); Double the generic one.
    static func matvec(_ w: UnsafePointer<Self>, rows: Int, cols: Int,
                       _ x: UnsafePointer<Self>, bias: UnsafePointer<Self>?, into y: UnsafeMutablePointer<Self>)
}

extension Float: CryScalar {
    @inlinable @inline(__always) public static func cryExp(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func cryTanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable @inline(__always) public static func cryLog(_ x: Float) -> Float { logf(x) }

    // The elementwise passes run in the AVX2+FMA kernels of CCryKernels when the CPU has
    // them (same approximations, 8 lanes, fused multiply-adds), else in portable Swift.
    @inline(__always)
    public static func tanhInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if cry_use_avx2_fma() != 0 { cry_tanh_avx2_fma(p, n) } else { tanhInPlacePortable(p, n) }
    }

    @inline(__always)
    public static func sigmoidInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if cry_use_avx2_fma() != 0 { cry_sigmoid_avx2_fma(p, n) } else { sigmoidInPlacePortable(p, n) }
    }

    @inline(__always)
    public static func expInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if cry_use_avx2_fma() != 0 { cry_exp_avx2_fma(p, n) } else { expInPlacePortable(p, n) }
    }

    /// A plain loop over a scalar function, which LLVM vectorises to the target's width
    /// with min/max clamps and no calls (a SIMD8 lane function was left out of line and
    /// clamped through mask conversions).
    @inline(__always)
    static func tanhInPlacePortable(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = tanhApproximation(p[i]) }
    }

    /// sigma(x) = (1 + tanh(x / 2)) / 2, in one pass
    @inline(__always)
    static func sigmoidInPlacePortable(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = 0.5 + 0.5 * tanhApproximation(0.5 * p[i]) }
    }

    @inline(__always)
    static func expInPlacePortable(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        apply(fastExp, p, n)
    }

    @inline(__always)
    public static func matvec(_ w: UnsafePointer<Float>, rows: Int, cols: Int,
                              _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        matvecFloat(w, rows: rows, cols: cols, x, bias: bias, into: y)
    }

    /// Applies a lane function over p[0..<n], 8 at a time, the tail through a padded vector.
    @inline(__always)
    static func apply(_ function: (SIMD8<Float>) -> SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let raw = UnsafeMutableRawPointer(p)
        while i + 8 <= n {
            let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            raw.storeBytes(of: function(x), toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        if i < n {
            var x = SIMD8<Float>()
            for k in 0..<(n - i) { x[k] = p[i + k] }
            let y = function(x)
            for k in 0..<(n - i) { p[i + k] = y[k] }
        }
    }
}

/// Lanes limited to [lo, hi] (SIMD.clamped calls out-of-line generic pointwiseMin/Max).
@inline(__always)
func clamp(_ a: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> {
    a.replacing(with: hi, where: a .> hi).replacing(with: lo, where: a .< lo)
}

/// e^x for Float lanes (Cephes expf): x = k ln 2 + r with k = round(x / ln 2) and
/// |r| <= ln 2 / 2, a degree-6 polynomial for e^r, 2^k built in the exponent bits.
/// Inputs are clamped to [-87.3, 88.3] (results stay normal). Max error ~2 ulp.
@inline(__always)
func fastExp(_ a: SIMD8<Float>) -> SIMD8<Float> {
    let x = clamp(a, -87.3, 88.3)
    // Round to nearest by adding and subtracting 1.5 * 2^23.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = x * 1.44269504088896341 + magic
    let k = shifted - magic
    let r = x - k * 0.693359375 + k * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * (r * r) + r + 1
    // 2^k: the low mantissa bits of `shifted` hold k (offset by 2^22).
    let kBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((kBits &+ 127) &<< 23, to: SIMD8<Float>.self)
    return y * scale
}

/// tanh for one Float: Eigen's 13/6 rational approximation on [-7.9053, 7.9053] (beyond
/// which tanh rounds to +-1 in Float), x itself near 0. Max error a few ulp. Scalar so that
/// loops over it vectorise (see `Float.tanhInPlace`).
@inline(__always)
func tanhApproximation(_ a: Float) -> Float {
    let x = Swift.min(Swift.max(a, -7.90531110763549805), 7.90531110763549805)
    let x2 = x * x
    var p: Float = -2.76076847742355e-16
    p = p * x2 + 2.00018790482477e-13
    p = p * x2 - 8.60467152213735e-11
    p = p * x2 + 5.12229709037114e-08
    p = p * x2 + 1.48572235717979e-05
    p = p * x2 + 6.37261928875436e-04
    p = p * x2 + 4.89352455891786e-03
    p = p * x
    var q: Float = 1.19825839466702e-06
    q = q * x2 + 1.18534705686654e-04
    q = q * x2 + 2.26843463243900e-03
    q = q * x2 + 4.89352518554385e-03
    return abs(a) < 0.0004 ? a : p / q
}

extension Double: CryScalar {
    @inlinable @inline(__always) public static func cryExp(_ x: Double) -> Double { exp(x) }
    @inlinable @inline(__always) public static func cryTanh(_ x: Double) -> Double { tanh(x) }
    @inlinable @inline(__always) public static func cryLog(_ x: Double) -> Double { log(x) }
    @inline(__always)
    public static func tanhInPlace(_ p: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { p[i] = tanh(p[i]) }
    }
    @inline(__always)
    public static func sigmoidInPlace(_ p: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { p[i] = 1 / (1 + exp(-p[i])) }
    }
    @inline(__always)
    public static func expInPlace(_ p: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { p[i] = exp(p[i]) }
    }
    @inline(__always)
    public static func matvec(_ w: UnsafePointer<Double>, rows: Int, cols: Int,
                              _ x: UnsafePointer<Double>, bias: UnsafePointer<Double>?, into y: UnsafeMutablePointer<Double>) {
        genericMatvec(w, rows: rows, cols: cols, x, bias: bias, into: y)
    }
}

/// sigma(x) = 1 / (1 + e^-x)
@inline(__always)
func sigmoid<S: CryScalar>(_ x: S) -> S { 1 / (1 + S.cryExp(-x)) }
