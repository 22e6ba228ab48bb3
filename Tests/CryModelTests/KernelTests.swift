import Testing
@testable import CryModel

/// The Float matrix-vector kernels against a Double reference, over shapes that exercise
/// every path: row blocks and leftover rows, 8- and 4-column steps and column tails, rows
/// that start on a 16-byte boundary (aligned loads) and rows that do not.
@Suite struct KernelTests {
    static let shapes: [(rows: Int, cols: Int)] = [
        (1, 1), (3, 5), (4, 4), (4, 8), (5, 12), (7, 3), (8, 16), (9, 37), (12, 29), (16, 64), (13, 160), (4, 33),
    ]

    static func reference(_ w: [Float], _ rows: Int, _ cols: Int, _ x: [Float], _ b: [Float]?) -> [Double] {
        (0..<rows).map { r in
            (0..<cols).reduce(Double(b?[r] ?? 0)) { $0 + Double(w[r * cols + $1]) * Double(x[$1]) }
        }
    }

    /// Runs `kernel` on W stored at `shift` floats past a 16-byte boundary.
    static func check(
        _ name: String,
        _ kernel: (UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, UnsafePointer<Float>?, UnsafeMutablePointer<Float>) -> Void
    ) {
        var rng = SplitMix64(seed: 99)
        for (rows, cols) in shapes {
            for shift in [0, 1, 2] {
                for withBias in [false, true] {
                    let w = (0..<(rows * cols)).map { _ in Float(rng.nextSymmetric(1)) }
                    let x = (0..<cols).map { _ in Float(rng.nextSymmetric(1)) }
                    let b: [Float]? = withBias ? (0..<rows).map { _ in Float(rng.nextSymmetric(1)) } : nil
                    let expected = reference(w, rows, cols, x, b)
                    let storage = UnsafeMutableRawPointer.allocate(byteCount: (rows * cols + 4) * 4, alignment: 64)
                    defer { storage.deallocate() }
                    let wp = (storage + shift * 4).bindMemory(to: Float.self, capacity: rows * cols)
                    wp.update(from: w, count: w.count)
                    var y = [Float](repeating: .nan, count: rows)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            if let b {
                                b.withUnsafeBufferPointer { kernel(wp, rows, cols, xp.baseAddress!, $0.baseAddress!, yp.baseAddress!) }
                            } else {
                                kernel(wp, rows, cols, xp.baseAddress!, nil, yp.baseAddress!)
                            }
                        }
                    }
                    for r in 0..<rows {
                        #expect(abs(Double(y[r]) - expected[r]) < 1e-5 * Double(cols),
                                "\(name) \(rows)x\(cols) shift \(shift) bias \(withBias) row \(r): \(y[r]) vs \(expected[r])")
                    }
                }
            }
        }
    }

    @Test func portableFloatKernelMatchesReference() {
        Self.check("portable") { w, rows, cols, x, b, y in
            Float.matvecPortable(w, rows: rows, cols: cols, x, bias: b, into: y)
        }
    }

    @Test func dispatchedFloatKernelMatchesReference() {
        Self.check("dispatched") { w, rows, cols, x, b, y in
            Float.matvec(w, rows: rows, cols: cols, x, bias: b, into: y)
        }
    }
}
