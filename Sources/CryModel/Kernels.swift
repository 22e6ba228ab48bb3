import CCryKernels

// Dense linear algebra for one frame: matrix-vector products over contiguous rows and the
// rank-1 updates of the backward pass. Written with explicit SIMD accumulators because Swift
// does not reassociate floating-point sums, so a plain `sum += a[i] * b[i]` loop stays scalar.
// Not `addProduct`: without FMA in the baseline x86-64 target it becomes a libm fmaf call per
// lane. Float products go to the AVX2+FMA kernel of CCryKernels when the CPU has it (checked
// at run time, so the build stays baseline), else to `Float.matvecPortable`.

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
    S.matvec(w, rows: rows, cols: cols, x, bias: bias, into: y)
}

/// The scalar-type-independent kernel (Double uses it; see `Float.matvecFloat` for Float).
@inline(__always)
func genericMatvec<S: CryScalar>(
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

extension Float {
    /// y = W x + b for Float, in SIMD4 (the SSE / NEON register width of the portable
    /// baseline): a block of 4 rows shares every load of x, 8 columns per iteration
    /// (8 accumulators + 2 x vectors fit the 16 registers of SSE and NEON), and the block's
    /// 4 sums leave as one vector through a transposed reduction. When every row starts on
    /// a 16-byte boundary the weights are loaded aligned, so x86 can fold them into the
    /// multiplies (an SSE multiply takes only an aligned memory operand).
    @inline(__always)
    static func matvecFloat(
        _ w: UnsafePointer<Float>, rows: Int, cols: Int,
        _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>
    ) {
        if cry_use_avx2_fma() != 0 {
            cry_matvec_avx2_fma(w, rows, cols, x, bias, y)
        } else {
            matvecPortable(w, rows: rows, cols: cols, x, bias: bias, into: y)
        }
    }

    @inline(__always)
    static func matvecPortable(
        _ w: UnsafePointer<Float>, rows: Int, cols: Int,
        _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>
    ) {
        if (Int(bitPattern: w) | cols * 4) & 15 == 0 {
            matvecRowBlocks(w, rows: rows, cols: cols, x, bias: bias, into: y, aligned: true)
        } else {
            matvecRowBlocks(w, rows: rows, cols: cols, x, bias: bias, into: y, aligned: false)
        }
    }

    @inline(__always)
    static func matvecRowBlocks(
        _ w: UnsafePointer<Float>, rows: Int, cols: Int,
        _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
        aligned: Bool
    ) {
        typealias V = SIMD4<Float>
        @inline(__always) func load(_ p: UnsafeRawPointer, _ o: Int) -> V {
            aligned ? p.load(fromByteOffset: o, as: V.self) : p.loadUnaligned(fromByteOffset: o, as: V.self)
        }
        let rx = UnsafeRawPointer(x)
        let end8 = (cols & ~7) * 4, end4 = (cols & ~3) * 4
        let rowBytes = cols * 4
        var r = 0
        while r + 4 <= rows {
            let w0 = UnsafeRawPointer(w + r * cols), w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            var b0 = V(), b1 = V(), b2 = V(), b3 = V()
            var o = 0
            while o < end8 {
                let x0 = rx.loadUnaligned(fromByteOffset: o, as: V.self)
                let x1 = rx.loadUnaligned(fromByteOffset: o + 16, as: V.self)
                a0 += load(w0, o) * x0; b0 += load(w0, o + 16) * x1
                a1 += load(w1, o) * x0; b1 += load(w1, o + 16) * x1
                a2 += load(w2, o) * x0; b2 += load(w2, o + 16) * x1
                a3 += load(w3, o) * x0; b3 += load(w3, o + 16) * x1
                o += 32
            }
            if o < end4 {
                let x0 = rx.loadUnaligned(fromByteOffset: o, as: V.self)
                a0 += load(w0, o) * x0; a1 += load(w1, o) * x0
                a2 += load(w2, o) * x0; a3 += load(w3, o) * x0
            }
            var s = transposedSum(a0 + b0, a1 + b1, a2 + b2, a3 + b3)
            for c in (cols & ~3)..<cols {
                s += V(w[r * cols + c], w[(r + 1) * cols + c], w[(r + 2) * cols + c], w[(r + 3) * cols + c]) * x[c]
            }
            if let bias { s += UnsafeRawPointer(bias + r).loadUnaligned(as: V.self) }
            UnsafeMutableRawPointer(y + r).storeBytes(of: s, as: V.self)
            r += 4
        }
        while r < rows {
            y[r] = (bias?[r] ?? 0) + dot(w + r * cols, x, cols)
            r += 1
        }
    }
}

/// [sum(a0), sum(a1), sum(a2), sum(a3)] by pairwise adds of shuffled halves.
@inline(__always)
func transposedSum(_ a0: SIMD4<Float>, _ a1: SIMD4<Float>, _ a2: SIMD4<Float>, _ a3: SIMD4<Float>) -> SIMD4<Float> {
    let q01 = SIMD4(lowHalf: a0.evenHalf + a0.oddHalf, highHalf: a1.evenHalf + a1.oddHalf)
    let q23 = SIMD4(lowHalf: a2.evenHalf + a2.oddHalf, highHalf: a3.evenHalf + a3.oddHalf)
    return SIMD4(lowHalf: q01.evenHalf, highHalf: q23.evenHalf) + SIMD4(lowHalf: q01.oddHalf, highHalf: q23.oddHalf)
}
