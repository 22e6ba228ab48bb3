// Dense linear algebra for one frame: matrix-vector products over contiguous rows and the
// rank-1 updates of the backward pass. Written with SIMD16 accumulators because Swift does
// not reassociate floating-point sums, so a plain `sum += a[i] * b[i]` loop stays scalar.

/// sum_i a[i] * b[i]
@inline(__always)
func dot<S: CryScalar>(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ n: Int) -> S {
    var i = 0
    var sum: S = 0
    if n >= 32 {
        var acc0 = SIMD16<S>()
        var acc1 = SIMD16<S>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        let stride = MemoryLayout<S>.stride
        while i + 32 <= n {
            let a0 = ra.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            let a1 = ra.loadUnaligned(fromByteOffset: (i + 16) * stride, as: SIMD16<S>.self)
            let b1 = rb.loadUnaligned(fromByteOffset: (i + 16) * stride, as: SIMD16<S>.self)
            acc0.addProduct(a0, b0)
            acc1.addProduct(a1, b1)
            i += 32
        }
        if i + 16 <= n {
            let a0 = ra.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            acc0.addProduct(a0, b0)
            i += 16
        }
        sum = (acc0 + acc1).sum()
    } else if n >= 16 {
        let a0 = UnsafeRawPointer(a).loadUnaligned(as: SIMD16<S>.self)
        let b0 = UnsafeRawPointer(b).loadUnaligned(as: SIMD16<S>.self)
        sum = (a0 * b0).sum()
        i = 16
    }
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// y = W x + b, W rows x cols row-major (b may be nil: y = W x)
@inline(__always)
func matvec<S: CryScalar>(
    _ w: UnsafePointer<S>, rows: Int, cols: Int,
    _ x: UnsafePointer<S>, bias: UnsafePointer<S>?, into y: UnsafeMutablePointer<S>
) {
    if let bias {
        for r in 0..<rows { y[r] = bias[r] + dot(w + r * cols, x, cols) }
    } else {
        for r in 0..<rows { y[r] = dot(w + r * cols, x, cols) }
    }
}

/// y += a * x  (elementwise over n; vectorises without reassociation)
@inline(__always)
func axpy<S: CryScalar>(_ a: S, _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ n: Int) {
    for i in 0..<n { y[i] += a * x[i] }
}

/// dx += W^T dy   (W rows x cols row-major)
@inline(__always)
func matvecTransposedAdd<S: CryScalar>(
    _ w: UnsafePointer<S>, rows: Int, cols: Int,
    _ dy: UnsafePointer<S>, into dx: UnsafeMutablePointer<S>
) {
    for r in 0..<rows where dy[r] != 0 { axpy(dy[r], w + r * cols, dx, cols) }
}

/// dW += dy x^T   (dW rows x cols row-major)
@inline(__always)
func outerAdd<S: CryScalar>(
    _ dy: UnsafePointer<S>, rows: Int, _ x: UnsafePointer<S>, cols: Int,
    into dw: UnsafeMutablePointer<S>
) {
    for r in 0..<rows where dy[r] != 0 { axpy(dy[r], x, dw + r * cols, cols) }
}

/// Zero-initialised storage owned by a class, so a streaming step can reuse it without
/// allocating or triggering copy-on-write checks.
final class ScratchBuffer<S: CryScalar>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<S>
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
    func zero() { pointer.update(repeating: 0, count: count) }
}
