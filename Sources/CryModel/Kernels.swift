// Dense linear algebra for one frame: matrix-vector products over contiguous rows and the
// rank-1 updates of the backward pass. Written with SIMD16 accumulators because Swift does
// not reassociate floating-point sums, so a plain `sum += a[i] * b[i]` loop stays scalar.
// Not `addProduct`: without FMA in the baseline x86-64 target it becomes a libm fmaf call per lane.

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
            acc0 += a0 * b0
            acc1 += a1 * b1
            i += 32
        }
        if i + 16 <= n {
            let a0 = ra.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<S>.self)
            acc0 += a0 * b0
            i += 16
        }
        sum = horizontalSum(acc0 + acc1)
    } else if n >= 16 {
        let a0 = UnsafeRawPointer(a).loadUnaligned(as: SIMD16<S>.self)
        let b0 = UnsafeRawPointer(b).loadUnaligned(as: SIMD16<S>.self)
        sum = horizontalSum(a0 * b0)
        i = 16
    }
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// Sum of the 16 lanes, as a tree of half-width adds (SIMD.sum() is an out-of-line call).
@inline(__always)
func horizontalSum<S: CryScalar>(_ v: SIMD16<S>) -> S { horizontalSum(v.lowHalf + v.highHalf) }

@inline(__always)
func horizontalSum<S: CryScalar>(_ v: SIMD8<S>) -> S {
    let b = v.lowHalf + v.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// y = W x + b, W rows x cols row-major (b may be nil: y = W x).
/// Four rows at a time share each load of x; 8 columns per SIMD step (4 + 4 accumulators
/// and x fit the 16 registers of baseline x86-64 SSE without spilling).
@inline(__always)
func matvec<S: CryScalar>(
    _ w: UnsafePointer<S>, rows: Int, cols: Int,
    _ x: UnsafePointer<S>, bias: UnsafePointer<S>?, into y: UnsafeMutablePointer<S>
) {
    let stride = MemoryLayout<S>.stride
    let rx = UnsafeRawPointer(x)
    let vectorCols = cols & ~7
    var r = 0
    while r + 4 <= rows {
        let w0 = UnsafeRawPointer(w + r * cols), w1 = UnsafeRawPointer(w + (r + 1) * cols)
        let w2 = UnsafeRawPointer(w + (r + 2) * cols), w3 = UnsafeRawPointer(w + (r + 3) * cols)
        var a0 = SIMD8<S>(), a1 = SIMD8<S>(), a2 = SIMD8<S>(), a3 = SIMD8<S>()
        var c = 0
        while c < vectorCols {
            let o = c * stride
            let xv = rx.loadUnaligned(fromByteOffset: o, as: SIMD8<S>.self)
            a0 += w0.loadUnaligned(fromByteOffset: o, as: SIMD8<S>.self) * xv
            a1 += w1.loadUnaligned(fromByteOffset: o, as: SIMD8<S>.self) * xv
            a2 += w2.loadUnaligned(fromByteOffset: o, as: SIMD8<S>.self) * xv
            a3 += w3.loadUnaligned(fromByteOffset: o, as: SIMD8<S>.self) * xv
            c += 8
        }
        var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
        while c < cols {
            let xc = x[c]
            s0 += w[r * cols + c] * xc
            s1 += w[(r + 1) * cols + c] * xc
            s2 += w[(r + 2) * cols + c] * xc
            s3 += w[(r + 3) * cols + c] * xc
            c += 1
        }
        if let bias {
            s0 += bias[r]; s1 += bias[r + 1]; s2 += bias[r + 2]; s3 += bias[r + 3]
        }
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3
        r += 4
    }
    while r < rows {
        y[r] = (bias?[r] ?? 0) + dot(w + r * cols, x, cols)
        r += 1
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
