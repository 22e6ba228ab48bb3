#if canImport(Glibc)
import Glibc
#endif

enum FileHandleStderr {
    /// One write(2) on fd 2 per message, so lines from concurrent work do not interleave.
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}
